/**
 * One short end-to-end run of the load generator against a real Strangers server started in
 * this process on port 0: the counts it reports must be the right ones.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runBench } from '../../src/bench/coordinator.js';
import { createServer, type StrangersServer } from '../../src/http/server.js';

describe('strangers bench against a real server', { timeout: 60_000 }, () => {
  let server: StrangersServer;
  let url: string;

  before(async () => {
    server = await createServer({ host: '127.0.0.1', port: 0, maxPerIp: 0, maxConnections: 0, chat: { rateLimit: 0 }, logLevel: 'silent', gate: false });
    const address = await server.listen();
    url = `ws://127.0.0.1:${address.port}/ws`;
  });
  after(async () => {
    await server.stop();
  });

  test('chat: 20 pairs at 5 msg/s for 2 s, every message counted once, split over 2 workers', async () => {
    const r = await runBench({ scenario: 'chat', url, connections: 40, duration: 2, rate: 5, workers: 2, serverPids: [process.pid] });
    assert.deepEqual(r.problems, [], r.problems.join('; '));
    assert.equal(r.workers.length, 2);
    assert.deepEqual(r.workers.map((w) => w.localAddresses), [['127.0.0.2'], ['127.0.0.3']]);
    assert.equal(r.connect.connected, 40);
    assert.equal(r.connect.attempted, 40);
    assert.deepEqual(r.connect.failures, {});
    assert.equal(r.matches, 20, 'every client matched once');
    assert.equal(r.messages.sent, r.messages.delivered);
    assert.equal(r.messages.lost, 0);
    assert.equal(r.messages.misdelivered, 0);
    assert.equal(r.messages.asymmetricPairs, 0);
    // 40 clients x 5/s x ~2 s, started at a random phase within the first 200 ms.
    assert.ok(r.messages.sent >= 40 * 5 * 1.5 && r.messages.sent <= 40 * 5 * 2.6, `sent ${r.messages.sent}`);
    assert.equal(r.latencyMs.count, r.messages.delivered, 'one latency sample per delivered message');
    assert.ok(r.latencyMs.p50 > 0 && r.latencyMs.p50 <= r.latencyMs.p99 && r.latencyMs.p99 <= r.latencyMs.max);
    assert.ok(r.server !== null && r.server.rssEndBytes > 0);
    assert.equal(r.ok, true);
  });

  test('churn: pairs keep matching and moving on, with no loss', async () => {
    const r = await runBench({ scenario: 'churn', url, connections: 30, duration: 1.5, perMatch: 2 });
    assert.deepEqual(r.problems, [], r.problems.join('; '));
    assert.ok(r.matches >= 30, `matches ${r.matches}`);
    // Each conversation: both sides send perMatch messages before the pair moves on.
    assert.ok(r.messages.delivered >= r.matches * 2, `delivered ${r.messages.delivered} for ${r.matches} matches`);
    assert.equal(r.messages.lost, 0);
  });

  test('a warm-up is left out of the measurement but not out of the conversation', async () => {
    const r = await runBench({ scenario: 'chat', url, connections: 20, duration: 2, warmup: 1, rate: 10 });
    assert.deepEqual(r.problems, [], r.problems.join('; '));
    assert.ok(r.warmupSeconds >= 1 && r.warmupSeconds < 1.5, `warm-up ${r.warmupSeconds}`);
    // Loss is checked over the whole run; latencies and rates over the measured part only.
    assert.equal(r.messages.sent, r.messages.delivered);
    assert.ok(r.latencyMs.count < r.messages.delivered * 0.75, `${r.latencyMs.count} latencies of ${r.messages.delivered}`);
    assert.ok(r.latencyMs.count > r.messages.delivered * 0.25, `${r.latencyMs.count} latencies of ${r.messages.delivered}`);
    assert.equal(r.matches, 0, 'the pairs matched during the warm-up');
  });

  test('idle: connections are held and then closed by us only', async () => {
    const r = await runBench({ scenario: 'idle', url, connections: 24, duration: 0.5, serverPids: [process.pid] });
    assert.equal(r.ok, true, r.problems.join('; '));
    assert.equal(r.openAtEnd, 24);
    assert.equal(r.messages.sent, 0);
    assert.ok(r.server?.rssPerConnectionBytes !== null);
  });

  test('a dead server is reported as connection failures by cause, not as a crash', async () => {
    const r = await runBench({ scenario: 'idle', url: 'ws://127.0.0.1:1/ws', connections: 4, duration: 0.2 });
    assert.equal(r.ok, false);
    assert.deepEqual(r.connect.failures, { ECONNREFUSED: 4 });
  });
});
