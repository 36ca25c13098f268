/**
 * `strangers bench chat --resume`: the restart windows (unit), then the load generator's clients
 * through a rolling restart of two in-process nodes sharing a MemoryHub and the secret (each
 * drained with 1012, its users resuming on the other node), and through connections cut without
 * a close frame: every message counted once, every client resumed, no conversation ended.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runBench } from '../../src/bench/coordinator.js';
import { RestartWindows, mergeRestarts } from '../../src/bench/restart.js';
import type { BenchResult } from '../../src/bench/report.js';
import { MemoryEngine, MemoryHub } from '../../src/engine/memory.js';
import type { StrangersServer } from '../../src/http/server.js';
import { startServer, stopServersAfterEachTest } from '../integration/helpers.js';

stopServersAfterEachTest();

describe('restart windows', () => {
  test('a window spans the first disruption to the last; delays go where they were sent or delivered', () => {
    const w = new RestartWindows(1000);
    w.record(0, 100, true); // steady
    w.begin(1000);
    w.dropped();
    w.begin(1001); // a second client cut off
    w.record(900, 1200, true); // sent before, delivered during: the window's
    w.end(1500);
    assert.equal(w.open, true);
    w.resumed(700);
    w.end(2000);
    assert.equal(w.open, false);
    w.record(1800, 2100, true); // sent during, delivered after: the window's
    w.record(2100, 2150, true); // after: steady
    w.record(2100, 2150, false); // after, in the warm-up: nowhere
    w.begin(2500); // within mergeUs of the end: the same window again
    w.end(2600);
    w.begin(5000); // later: a second window
    w.failed();
    w.end(5100);
    w.record(5050, 6000, true);
    const j = w.toJSON();
    assert.equal(j.steady.n, 2);
    assert.deepEqual(
      j.windows.map((x) => [x.index, x.startUs, x.endUs, x.latency.n, x.resume.n, x.drops, x.failed]),
      [
        [1, 1000, 2600, 2, 1, 1, 0],
        [2, 5000, 5100, 1, 0, 0, 1],
      ],
    );
  });

  test('windows merge across workers by number', () => {
    const a = new RestartWindows();
    const b = new RestartWindows();
    a.begin(10);
    a.dropped();
    a.record(5, 20, true);
    a.end(50);
    b.begin(12);
    b.dropped();
    b.end(80);
    b.begin(5_000_000); // still open
    // Lost messages are matched with the senders' last lines before a close, across workers.
    a.hole('x', 4, 5);
    b.lastLine('x', 5, 1500);
    b.lastLine('y', 9, 800);
    const m = mergeRestarts([a.toJSON(), b.toJSON()]);
    assert.deepEqual(m.lostLastLines, { missing: 2, lastBeforeClose: 1, minUsBeforeClose: 1500, maxUsBeforeClose: 1500 });
    assert.equal(m.windows.length, 2);
    assert.deepEqual([m.windows[0]!.startUs, m.windows[0]!.endUs, m.windows[0]!.drops, m.windows[0]!.latency.count], [10, 80, 2, 1]);
    assert.equal(m.windows[1]!.endUs, null);
  });
});

const SECRET = 'a-test-secret-of-at-least-32-characters';
const PAIRS = 20;

function node(hub: MemoryHub, port = 0): Promise<StrangersServer> {
  return startServer({ port, engine: new MemoryEngine({ hub }), secret: SECRET, drainTimeoutMs: 8000, chat: { rateLimit: 0, resumeWindowMs: 5000 } });
}

const ws = (s: StrangersServer): string => `${s.url.replace(/^http/, 'ws')}/ws`;

/** Resolves once every connection of the run is open (from the progress callback). */
function allOpen(): { onTick: (p: { open: number }) => void; ready: Promise<void> } {
  let resolve!: () => void;
  const ready = new Promise<void>((r) => (resolve = r));
  return { onTick: (p) => p.open === 2 * PAIRS && resolve(), ready };
}

/**
 * Nothing lost, repeated, misdelivered or ended, except (at most `inFlight`) lines a client wrote
 * just before its connection went and that the server never read: the server drops what a
 * client sends after the server's close frame left (src/ws/connection.ts `onMessage`, state
 * closing) or what is unread in a socket it destroys, and the protocol gives the client no way to
 * learn which of its lines the server took (`resumed` does not say), so no client can resend
 * them. At 10 lines/s per client and a window of a millisecond or so, that is rare, and at most
 * one line per cut-off client. Every other message must arrive exactly once.
 */
function assertNoLoss(r: BenchResult, inFlight: number): void {
  const race = r.messages.lost;
  assert.ok(race <= inFlight, `lost ${race}, more than the ${inFlight} lines that can be in flight at a cut`);
  const problems = r.problems.filter((p) => !(race > 0 && (p === `${race} messages lost (sent ${r.messages.sent}, delivered ${r.messages.delivered})` || p === `${race} messages missing inside conversations`)));
  assert.deepEqual(problems, [], r.problems.join('; '));
  assert.ok(r.messages.sent > 0);
  assert.equal(r.messages.delivered, r.messages.sent - race, 'every message delivered');
  assert.equal(r.messages.gaps, race, 'a line lost at a cut is a hole in the sequence, nothing else');
  assert.equal(r.messages.reordered, 0, 'nothing twice (a replay with its old seq is set aside, not counted)');
  assert.equal(r.messages.misdelivered, 0);
  assert.deepEqual(r.unexpectedEnded, {}, 'no conversation ended');
  assert.deepEqual(r.unexpectedCloses, {});
}

describe('bench --resume through restarts', { timeout: 60_000 }, () => {
  test('a rolling restart: A drains (1012), its users resume on B; A comes back; B drains, its users resume on A', async () => {
    const hub = new MemoryHub();
    const a = await node(hub);
    const b = await node(hub);
    const port = Number(new URL(a.url).port);
    const urlA = ws(a);
    const { onTick, ready } = allOpen();
    const run = runBench({ scenario: 'chat', url: urlA, moreUrls: [ws(b)], crossPairs: true, resume: true, connections: 2 * PAIRS, rate: 10, duration: 6, onTick });
    let a2: StrangersServer | undefined;
    const restarts = (async () => {
      await ready;
      await new Promise((r) => setTimeout(r, 700));
      await a.stop('restart A'); // resolves once every place was handed over to B
      a2 = await node(hub, port);
      await new Promise((r) => setTimeout(r, 1000));
      await b.stop('restart B');
    })();
    const r = await run;
    await restarts;
    assert.ok(a2 !== undefined && ws(a2) === urlA);
    assertNoLoss(r, 3 * PAIRS);
    assert.ok(r.resume !== null);
    const z = r.resume;
    // Every pair spans both nodes: each restart cuts off one side of every pair, the second one
    // (everyone is on B by then) both sides.
    assert.deepEqual(z.closes, { '1012': 3 * PAIRS });
    assert.equal(z.resumes, 3 * PAIRS);
    assert.equal(z.resumeFailed, 0);
    assert.equal(z.awayAtEnd, 0);
    assert.equal(z.windows.length, 2, JSON.stringify(z.windows));
    assert.deepEqual(z.windows.map((w) => w.drops), [PAIRS, 2 * PAIRS]);
    for (const w of z.windows) {
      assert.ok(w.endS !== null && w.endS > w.startS);
      assert.equal(w.resumeMs.count, w.drops);
      // (How many messages fall inside a window depends on how long it lasted: not asserted.)
    }
    assert.ok(z.steadyMs.count > 0);
    assert.equal(z.steadyMs.count + z.windows.reduce((n, w) => n + w.latencyMs.count, 0), r.messages.delivered, 'every delay sorted once');
    assert.ok(z.replayed > 0, 'what was not acknowledged yet came again, and was set aside');
    assert.ok(z.acks > 0);
  });

  test('connections cut without a close frame: the clients reconnect to the other node and resume there', async () => {
    const hub = new MemoryHub();
    const a = await node(hub);
    const b = await node(hub);
    const { onTick, ready } = allOpen();
    const run = runBench({ scenario: 'chat', url: ws(a), moreUrls: [ws(b)], crossPairs: true, resume: true, connections: 2 * PAIRS, rate: 10, duration: 3, onTick });
    await ready;
    await new Promise((r) => setTimeout(r, 700));
    for (const conn of a.wss.connections()) conn.terminate(); // A keeps the places; the clients go to B
    const r = await run;
    assertNoLoss(r, PAIRS);
    const z = r.resume!;
    assert.deepEqual(z.closes, { '1006': PAIRS });
    assert.equal(z.resumes, PAIRS);
    assert.equal(z.windows.length, 1);
    assert.equal(z.windows[0]!.drops, PAIRS);
  });
});
