/**
 * The primary's side of `/metrics` under `--workers` (src/cli/cluster-metrics.ts), with workers
 * simulated in process (real prom-client registries; only the IPC channel is a function call):
 * sums, merged histograms, per-worker labels, a worker that does not answer, one that dies.
 */
import { strict as assert } from 'node:assert';
import type { Worker } from 'node:cluster';
import { test } from 'node:test';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { PrimaryMetrics, isMetricsMessage, labelWorker, registryJSON } from '../../src/cli/cluster-metrics.js';
import { createLogger } from '../../src/http/log.js';
import { parseExposition, total } from '../support/prometheus.js';

/** A worker's registry, with a few metrics of each kind the server has. */
class FakeWorker {
  readonly registry = new Registry();
  readonly matched = new Counter({ name: 'strangers_matched_total', help: 'h', registers: [this.registry] });
  readonly connections = new Gauge({ name: 'strangers_connections', help: 'h', registers: [this.registry] });
  readonly cluster = new Gauge({ name: 'strangers_cluster_users', help: 'h', labelNames: ['state'], aggregator: 'max', registers: [this.registry] });
  readonly wait = new Histogram({ name: 'strangers_match_wait_seconds', help: 'h', buckets: [1, 5], registers: [this.registry] });
  /** What the simulated channel does with the primary's requests. */
  mode: 'answer' | 'silent' | 'broken' = 'answer';
  connected = true;
  primary!: PrimaryMetrics;

  constructor(
    readonly id: number,
    readonly label: string,
  ) {}

  get worker(): Worker {
    return this as unknown as Worker;
  }

  isConnected(): boolean {
    return this.connected;
  }

  send(m: unknown, cb: (err: Error | null) => void): boolean {
    if (this.mode === 'broken') {
      setImmediate(cb, new Error('channel closed'));
      return false;
    }
    setImmediate(cb, null);
    if (this.mode === 'answer' && isMetricsMessage(m) && m.op === 'collect') {
      void registryJSON(this.registry).then((json) => this.primary.onMessage(this.worker, { type: 'strangers:metrics', op: 'collected', id: m.id, metrics: JSON.parse(JSON.stringify(labelWorker(json, this.label))) })); // as IPC carries it
    }
    return true;
  }
}

function setup(workers: FakeWorker[]): { primary: PrimaryMetrics; targets: FakeWorker[] } {
  const targets = [...workers];
  const primary = new PrimaryMetrics({ workers: 2, log: createLogger('silent'), timeoutMs: 100, targets: () => targets.map((w) => ({ worker: w.worker, label: w.label })) });
  for (const w of workers) w.primary = primary;
  return { primary, targets };
}

test('one scrape sums counters, merges histograms, keeps per-worker gauges apart, takes the max of cluster-wide gauges', async () => {
  const a = new FakeWorker(1, '0');
  const b = new FakeWorker(2, '1');
  const { primary } = setup([a, b]);
  a.matched.inc(3);
  b.matched.inc(5);
  a.connections.set(2);
  b.connections.set(4);
  a.cluster.set({ state: 'online' }, 10);
  b.cluster.set({ state: 'online' }, 11);
  a.wait.observe(0.5);
  b.wait.observe(3);
  b.wait.observe(30);
  const m = parseExposition(await primary.scrape());
  assert.equal(total(m, 'strangers_matched_total'), 8);
  assert.equal(total(m, 'strangers_connections', { worker: '0' }), 2);
  assert.equal(total(m, 'strangers_connections', { worker: '1' }), 4);
  assert.equal(total(m, 'strangers_cluster_users', { state: 'online' }), 11);
  assert.equal(total(m, 'strangers_match_wait_seconds_bucket', { le: '1' }), 1);
  assert.equal(total(m, 'strangers_match_wait_seconds_bucket', { le: '5' }), 2);
  assert.equal(total(m, 'strangers_match_wait_seconds_bucket', { le: '+Inf' }), 3);
  assert.equal(total(m, 'strangers_match_wait_seconds_count'), 3);
  assert.equal(total(m, 'strangers_workers'), 2);
  assert.equal(total(m, 'strangers_workers_scraped'), 2);
  // The primary's own process is in the scrape, apart.
  assert.ok(total(m, 'strangers_process_resident_memory_bytes', { worker: 'primary' }) > 0);
});

test('a worker that does not answer: the scrape ends at the bound with the others, its counters kept', async () => {
  const a = new FakeWorker(1, '0');
  const b = new FakeWorker(2, '1');
  const { primary } = setup([a, b]);
  a.matched.inc(3);
  b.matched.inc(5);
  b.connections.set(4);
  await primary.scrape(); // both answer once
  b.mode = 'silent'; // stopped, or busy: connected but mute
  a.matched.inc(1);
  const m = parseExposition(await primary.scrape()); // bounded by timeoutMs (100 ms here)
  assert.equal(total(m, 'strangers_workers_scraped'), 1);
  assert.equal(total(m, 'strangers_matched_total'), 9, 'the silent worker still counts its last 5');
  assert.ok(!m.some((s) => s.name === 'strangers_connections' && s.labels.worker === '1'), 'no stale gauge');
  b.mode = 'broken'; // the channel fails at once: no waiting at all
  assert.equal(total(parseExposition(await primary.scrape()), 'strangers_matched_total'), 9);
});

test('a worker that dies: its counters stay in the sum; its replacement adds to them (never a drop for rate())', async () => {
  const a = new FakeWorker(1, '0');
  const b = new FakeWorker(2, '1');
  const { primary, targets } = setup([a, b]);
  a.matched.inc(3);
  b.matched.inc(5);
  b.wait.observe(2);
  await primary.scrape();
  b.connected = false;
  primary.onExit(b.worker);
  targets.splice(targets.indexOf(b), 1);
  let m = parseExposition(await primary.scrape());
  assert.equal(total(m, 'strangers_workers_scraped'), 1);
  assert.equal(total(m, 'strangers_matched_total'), 8);
  assert.equal(total(m, 'strangers_match_wait_seconds_count'), 1);
  const c = new FakeWorker(3, '1'); // the restarted worker 1, from zero
  c.primary = primary;
  c.matched.inc(1);
  targets.push(c);
  m = parseExposition(await primary.scrape());
  assert.equal(total(m, 'strangers_workers_scraped'), 2);
  assert.equal(total(m, 'strangers_matched_total'), 9);
  // A second death of the same slot adds up too.
  primary.onExit(c.worker);
  targets.pop();
  assert.equal(total(parseExposition(await primary.scrape()), 'strangers_matched_total'), 9);
});

test('JSON over IPC turns NaN into null: it is NaN again, not +Inf', async () => {
  const a = new FakeWorker(1, '0');
  const { primary } = setup([a]);
  a.connections.set(Number.NaN);
  const text = await primary.scrape();
  // prom-client writes NaN as "Nan"; JSON's null would have become "+Inf".
  assert.match(text, /^strangers_connections\{worker="0"\} Nan$/m);
});
