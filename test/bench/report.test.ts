import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Histogram } from '../../src/bench/histogram.js';
import { type Counters, addCounters, decodeText, encodeText, failureCause, newCounters } from '../../src/bench/ipc.js';
import { parseStat, parseStatus } from '../../src/bench/procstat.js';
import { type ResultInput, buildResult, formatBytes, formatSummary, renderHtml } from '../../src/bench/report.js';
import { RestartWindows, mergeRestarts } from '../../src/bench/restart.js';
import { main, parseArgs } from '../../src/cli/bench.js';

function counters(over: Partial<Counters>): Counters {
  return { ...newCounters(), ...over };
}

function input(over: Partial<ResultInput> = {}): ResultInput {
  const latency = new Histogram();
  for (let i = 1; i <= 1000; i++) latency.record(i * 10);
  const end = counters({ attempted: 200, connected: 200, open: 200, sent: 5000, received: 5000, matchedEvents: 200 });
  return {
    options: { scenario: 'chat', url: 'ws://127.0.0.1:1/ws', connections: 200, duration: 10 },
    startedAt: new Date(0),
    workers: [{ connections: 200, localAddresses: ['127.0.0.2'] }],
    connectSeconds: 2,
    connectPhaseTimedOut: false,
    windowSeconds: 10,
    scenarioSeconds: 9.5,
    warmupSeconds: 0,
    atGo: counters({ attempted: 200, connected: 200, open: 200 }),
    atEnd: end,
    final: end,
    latency,
    connectLatency: new Histogram(),
    asymmetric: 0,
    serverPids: [42],
    serverBaseline: [{ cpuSeconds: 1, rssBytes: 50_000_000, peakRssBytes: 50_000_000 }],
    serverAtGo: [{ cpuSeconds: 2, rssBytes: 51_000_000, peakRssBytes: 51_000_000 }],
    serverAtEnd: [{ cpuSeconds: 4.5, rssBytes: 51_000_000, peakRssBytes: 52_000_000 }],
    generator: { workerCpuSecondsInWindow: [3], coordinatorCpuSeconds: 0.1, cores: 2 },
    machine: { nproc: 2, cpu: 'test cpu', node: 'v20', loadavg: [0.1, 0.1, 0.1] },
    timeline: [
      { t: 1, open: 200, msgsPerSec: 400, matchesPerSec: 100, connectsPerSec: 0, p99Us: 900, serverCpuPercent: 20, serverRssBytes: 51e6, generatorCpuPercent: 30 },
      { t: 2, open: 200, msgsPerSec: 500, matchesPerSec: 0, connectsPerSec: 0, p99Us: 1000, serverCpuPercent: 25, serverRssBytes: 51e6, generatorCpuPercent: 30 },
    ],
    interrupted: false,
    elapsedSeconds: 13,
    ...over,
  };
}

describe('buildResult', () => {
  test('derives rates, percentiles and per-CPU-second figures', () => {
    const r = buildResult(input());
    assert.equal(r.ok, true);
    assert.deepEqual(r.problems, []);
    assert.equal(r.connect.perSec, 100);
    assert.equal(r.matches, 100);
    assert.equal(r.matchesPerSec, 10);
    assert.equal(r.messages.perSec, 500);
    assert.equal(r.messages.lost, 0);
    assert.equal(r.server?.cpuSeconds, 2.5);
    assert.equal(r.server?.cpuPercent, 25);
    assert.equal(r.server?.messagesPerCpuSecond, 2000);
    assert.equal(r.server?.rssPerConnectionBytes, 5000);
    assert.equal(r.latencyMs.count, 1000);
    assert.ok(Math.abs(r.latencyMs.p50 - 5) <= 5 / 32, `p50 ${r.latencyMs.p50}`);
    assert.equal(r.latencyMs.max, 10);
    assert.equal(r.generator.bottleneck, false);
    assert.deepEqual(r.generator.workerCpuPercent, [30]);
  });

  test('lost, misdelivered, unexpected closes and failures make it fail, each named', () => {
    const bad = counters({ attempted: 200, connected: 198, open: 190, sent: 5000, received: 4990, misdelivered: 3, gaps: 2, unexpectedCloses: { '1006': 8 }, connectFailures: { http_503: 2 }, serverErrors: { rate_limited: 4 } });
    const r = buildResult(input({ atEnd: bad, final: bad, asymmetric: 2 }));
    assert.equal(r.ok, false);
    assert.equal(r.messages.lost, 10);
    const text = r.problems.join('\n');
    for (const expected of ['10 messages lost', '3 messages misdelivered', '2 messages missing', 'clients whose partner', '1006 8', 'http_503 2', 'rate_limited 4']) {
      assert.ok(text.includes(expected), `problems mention ${expected}: ${text}`);
    }
    assert.match(formatSummary(r), /FAIL/);
  });

  test('--resume: resumes, failures and restart windows; cut-off clients and failed resumes make it fail', () => {
    const w = new RestartWindows();
    w.record(0, 1000, true);
    w.begin(11_000_000);
    w.dropped();
    w.record(10_900_000, 11_200_000, true);
    w.resumed(150_000);
    w.end(11_500_000);
    const restart = mergeRestarts([w.toJSON()]);
    const ok = counters({ attempted: 200, connected: 200, open: 200, sent: 5000, received: 5000, matchedEvents: 200, resumeCloses: { '1012': 100 }, resumes: 100, replayed: 40, acks: 900 });
    const r = buildResult(input({ atEnd: ok, final: ok, restart, t0Us: 1_000_000 }));
    assert.equal(r.ok, true, r.problems.join('; '));
    assert.deepEqual(r.resume?.closes, { '1012': 100 });
    assert.equal(r.resume?.resumes, 100);
    assert.equal(r.resume?.replayed, 40);
    assert.equal(r.resume?.steadyMs.count, 1);
    assert.deepEqual(r.resume?.windows.map((x) => [x.index, x.startS, x.endS, x.drops, x.latencyMs.count, x.latencyMs.max, x.resumeMs.max]), [[1, 10, 10.5, 1, 1, 300, 150]]);
    const s = formatSummary(r);
    for (const part of ['closed under us: 1012 100', 'resumed 100, failed 0', 'repeats set aside 40', 'restart 1  10.0-10.5 s', 'steady     1 messages']) assert.ok(s.includes(part), `summary has ${part}:\n${s}`);
    assert.equal(buildResult(input()).resume, null, 'no resume section without --resume');

    const bad = counters({ ...ok, resumeFailed: 2, away: 3, unexpectedEnded: { resume_failed: 2 } });
    const f = buildResult(input({ atEnd: bad, final: bad, restart, t0Us: 0 }));
    assert.equal(f.ok, false);
    for (const expected of ['2 resumes failed', '3 clients still cut off', 'resume_failed 2']) assert.ok(f.problems.join('\n').includes(expected), `problems mention ${expected}: ${f.problems.join('; ')}`);
  });

  test('says plainly when the generator was the bottleneck', () => {
    const r = buildResult(input({ generator: { workerCpuSecondsInWindow: [9.7], coordinatorCpuSeconds: 0.1, cores: 2 } }));
    assert.equal(r.generator.bottleneck, true);
    assert.match(r.warnings.join(' '), /load generator was the bottleneck/);
    assert.match(formatSummary(r), /WARNING .*bottleneck/);
  });

  test('an unfinished connect phase counts the missing connections', () => {
    const c = counters({ attempted: 150, connected: 100, open: 100, connectFailures: { ECONNREFUSED: 10 } });
    const r = buildResult(input({ atGo: c, atEnd: c, final: c, connectPhaseTimedOut: true }));
    assert.equal(r.connect.failures.connect_phase_timeout, 90);
    assert.equal(r.ok, false);
  });
});

describe('renderings', () => {
  test('the summary names every headline figure', () => {
    const s = formatSummary(buildResult(input()));
    for (const part of ['chat', '200/200', 'p99', 'p99.9', 'delivered 5000', 'lost 0', 'msgs per server cpu-second', 'generator', 'OK']) {
      assert.ok(s.includes(part), `summary has ${part}:\n${s}`);
    }
  });

  test('the HTML report is self-contained with inline SVG charts', () => {
    const html = renderHtml(buildResult(input({ options: { scenario: 'chat', url: 'ws://x/<script>', connections: 200, duration: 10 } })));
    assert.match(html, /^<!doctype html>/);
    assert.equal((html.match(/<svg /g) ?? []).length >= 3, true);
    assert.doesNotMatch(html, /<script|<link|src=|href=/i, 'no external assets or scripts');
    assert.match(html, /ws:\/\/x\/&#60;script&#62;/, 'escaped');
  });

  test('formatBytes', () => {
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(5 * 1024 * 1024), '5.0 MiB');
  });
});

describe('pieces', () => {
  test('message text round trip, with padding', () => {
    const t = encodeText('abc_D-1', 42, 123456789, 64);
    assert.equal(t.length, 64);
    assert.deepEqual(decodeText(t), { sender: 'abc_D-1', seq: 42, sentAtMicros: 123456789 });
    assert.deepEqual(decodeText(encodeText('id', 0, 5, 0)), { sender: 'id', seq: 0, sentAtMicros: 5 });
    assert.equal(decodeText('hello there'), undefined);
    assert.equal(decodeText('a b c'), undefined);
  });

  test('counters add, maps by key', () => {
    const a = counters({ sent: 1, connectFailures: { timeout: 1 } });
    addCounters(a, counters({ sent: 2, connectFailures: { timeout: 2, ECONNRESET: 1 } }));
    assert.equal(a.sent, 3);
    assert.deepEqual(a.connectFailures, { timeout: 3, ECONNRESET: 1 });
  });

  test('failure causes are short and stable', () => {
    assert.equal(failureCause({ code: 'handshake_failed', status: 503, message: 'server answered 503' }), 'http_503');
    assert.equal(failureCause({ code: 'handshake_failed', message: 'connection failed: connect ECONNREFUSED 127.0.0.1:1' }), 'ECONNREFUSED');
    assert.equal(failureCause({ code: 'handshake_failed', message: 'handshake timed out' }), 'timeout');
    assert.equal(failureCause({ code: 'handshake_failed', message: 'connection closed during the handshake' }), 'closed_during_handshake');
  });

  test('/proc parsing, including a command name with spaces and parentheses', () => {
    const stat = '1234 (node (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 11 0 100 1000000 2000';
    assert.equal(parseStat(stat).cpuSeconds, 3);
    assert.deepEqual(parseStatus('Name:\tnode\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n'), { rssBytes: 1024 * 1024, peakRssBytes: 2048 * 1024 });
  });
});

describe('command line', () => {
  test('parses flags', () => {
    const a = parseArgs(['chat', '--url', 'ws://127.0.0.1:9/ws', '--pairs', '10', '--rate=5', '--server-pid', '1,2', '--server-pid', '3', '--json', 'x.json']);
    assert.notEqual(a, 'help');
    if (a === 'help') return;
    assert.equal(a.options.connections, 20);
    assert.equal(a.options.rate, 5);
    assert.deepEqual(a.options.serverPids, [1, 2, 3]);
    assert.equal(a.json, 'x.json');
    assert.equal(parseArgs(['--help']), 'help');
    const b = parseArgs(['chat', '--url', 'ws://127.0.0.1:9/ws', '--url', 'ws://127.0.0.1:10/ws', '--cross-pairs', '--resume']);
    assert.ok(b !== 'help' && b.options.resume === true && b.options.moreUrls?.length === 1);
    const c = parseArgs(['idle', '--url', 'ws://127.0.0.1:9/ws', '--connect-phase', '300']);
    assert.ok(c !== 'help' && c.options.connectPhaseMs === 300_000);
    assert.throws(() => parseArgs(['idle', '--url', 'ws://127.0.0.1:9/ws', '--connect-phase', '0']), /--connect-phase/);
  });

  test('bad flags exit 2 with one line', async () => {
    const errors: string[] = [];
    const orig = console.error;
    console.error = (...args: unknown[]) => void errors.push(args.join(' '));
    try {
      assert.equal(await main(['chat', '--url', 'ws://x/ws', '--pairs', 'many']), 2);
      assert.equal(await main(['dance', '--url', 'ws://x/ws']), 2);
      assert.equal(await main(['idle', '--url', 'http://x/ws']), 2);
      assert.equal(await main(['idle']), 2);
      assert.equal(await main(['idle', '--url', 'ws://x/ws', '--bogus']), 2);
      assert.equal(await main(['flood', '--url', 'ws://x/ws', '--resume']), 2);
    } finally {
      console.error = orig;
    }
    assert.equal(errors.length, 6);
    for (const e of errors) assert.ok(!e.includes('\n') && e.startsWith('strangers bench: '), e);
  });
});
