/**
 * `/metrics` for a `--workers` process group: one scrape, whichever worker the primary hands it
 * to, answers for every process of the group.
 *
 * The worker that gets the request asks its primary over the cluster's IPC channel; the primary
 * asks every listening worker for its registry (`getMetricsAsJSON()`), waits at most
 * {@link collectTimeoutMs}, and merges what came with prom-client's
 * `AggregatorRegistry.aggregate` (sums by default, each metric's `aggregator` otherwise,
 * histograms bucket by bucket). We do not use `AggregatorRegistry.clusterMetrics()`: it asks
 * every connected worker and, if one does not answer within its fixed 5 s, rejects the whole
 * scrape; a scrape while a worker restarts must answer with the workers that are up.
 *
 * Counters stay monotonic for Prometheus's `rate()` even when a worker is missing: a worker that
 * does not answer in time contributes the counters of its last answer, and the counters of a
 * worker that died are kept (as of its last answer) and added to every later scrape. Without
 * that, a restarted worker would make the group's sum drop, which `rate()` reads as a reset and
 * turns into a spike. Gauges come only from the workers that answered.
 *
 * Metrics in `perWorkerMetrics` (src/http/metrics.ts) keep a `worker` label (the worker's index,
 * or `primary` for the primary's own process metrics) instead of being summed.
 */
import type { Worker } from 'node:cluster';
import { AggregatorRegistry, Counter, Registry, collectDefaultMetrics } from 'prom-client';
import { logStats, type Logger } from '../http/log.js';
import { perWorkerMetrics } from '../http/metrics.js';

/** The primary waits this long for the workers' figures; a worker that is later is left out. */
export const collectTimeoutMs = 2000;
/** A worker waits this long for its primary's answer, then answers with its own figures only. */
export const scrapeTimeoutMs = 5000;

/** One metric as `Registry#getMetricsAsJSON()` gives it (and as it crosses IPC). */
export interface MetricJSON {
  name: string;
  help: string;
  type: string;
  aggregator?: string;
  values: Array<{ value: number | null; labels: Record<string, string | number>; metricName?: string }>;
}

/** A registry's metrics as JSON (prom-client's types call `type` an enum; it is the string). */
export async function registryJSON(registry: Registry): Promise<MetricJSON[]> {
  return (await registry.getMetricsAsJSON()) as unknown as MetricJSON[];
}

/** The IPC messages of this module, one union (`type` tells them from any other message). */
export type MetricsMessage =
  /** worker → primary: a scrape came to me, answer for the group. */
  | { type: 'strangers:metrics'; op: 'scrape'; id: number }
  /** primary → worker: the group's metrics in the Prometheus text format. */
  | { type: 'strangers:metrics'; op: 'scraped'; id: number; text: string }
  /** primary → worker: send your registry. */
  | { type: 'strangers:metrics'; op: 'collect'; id: number }
  /** worker → primary: my registry, per-worker metrics labelled. */
  | { type: 'strangers:metrics'; op: 'collected'; id: number; metrics: MetricJSON[] };

export function isMetricsMessage(m: unknown): m is MetricsMessage {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'strangers:metrics';
}

/** Names the group's own figures, which only the primary knows. */
const groupGauges = new Set(['strangers_workers', 'strangers_workers_scraped']);

/** The metrics with a `worker` label added to those that are kept per worker. */
export function labelWorker(metrics: readonly MetricJSON[], worker: string): MetricJSON[] {
  return metrics.map((m) => (perWorkerMetrics.has(m.name) ? { ...m, values: m.values.map((v) => ({ ...v, labels: { ...v.labels, worker } })) } : m));
}

/** What never goes down: the summed counters and histograms. */
export function monotonic(metrics: readonly MetricJSON[]): MetricJSON[] {
  return metrics.filter((m) => (m.type === 'counter' || m.type === 'histogram') && (m.aggregator ?? 'sum') === 'sum');
}

/** `strangers_workers` and `strangers_workers_scraped`, as the group reports them. */
export function groupFigures(workers: number, scraped: number): MetricJSON[] {
  return [
    { name: 'strangers_workers', help: 'Worker processes the group runs (--workers; 1 without).', type: 'gauge', aggregator: 'first', values: [{ value: workers, labels: {} }] },
    {
      name: 'strangers_workers_scraped',
      help: 'Workers whose figures this scrape holds: below strangers_workers while one restarts or does not answer in time.',
      type: 'gauge',
      aggregator: 'first',
      values: [{ value: scraped, labels: {} }],
    },
  ];
}

/**
 * Merges registries of the group's processes into one (prom-client's aggregation). `parts` are
 * each process's metrics (already labelled); workers' copies of the group figures are dropped.
 * JSON turned NaN into null on the way: it is NaN again.
 */
export function mergeGroup(parts: ReadonlyArray<readonly MetricJSON[]>, group: readonly MetricJSON[]): Registry {
  const clean = parts.map((metrics) =>
    metrics
      .filter((m) => !groupGauges.has(m.name))
      .map((m) => (m.values.some((v) => v.value === null) ? { ...m, values: m.values.map((v) => ({ ...v, value: v.value ?? Number.NaN })) } : m)),
  );
  return AggregatorRegistry.aggregate([[...group], ...clean]);
}

interface Gather {
  /** Workers asked and not answered yet, by cluster worker id. */
  pending: Set<number>;
  answered: MetricJSON[][];
  /** Workers that answered, by cluster worker id. */
  answeredBy: Set<number>;
  done: () => void;
}

/** The primary's side: answers workers' scrapes for the whole group. */
export class PrimaryMetrics {
  readonly #targets: () => Iterable<{ worker: Worker; label: string }>;
  readonly #workers: number;
  readonly #log: Logger;
  readonly #timeoutMs: number;
  /** The primary's own process metrics. */
  readonly #own = new Registry();
  /** Each live worker's last answer, by cluster worker id. */
  readonly #latest = new Map<number, MetricJSON[]>();
  /** Counters of workers that died, as of their last answer, summed. */
  #retired: Promise<MetricJSON[]> = Promise.resolve([]);
  readonly #gathers = new Map<number, Gather>();
  #ids = 0;

  /**
   * `targets` lists the workers to ask (those listening) with their label (their index);
   * `workers` is the configured count.
   */
  constructor(options: { targets: () => Iterable<{ worker: Worker; label: string }>; workers: number; log: Logger; timeoutMs?: number }) {
    this.#targets = options.targets;
    this.#workers = options.workers;
    this.#log = options.log;
    this.#timeoutMs = options.timeoutMs ?? collectTimeoutMs;
    collectDefaultMetrics({ register: this.#own, prefix: 'strangers_' });
    const seen = { errors: 0 };
    new Counter({
      name: 'strangers_log_errors_total',
      help: 'Lines logged at error or fatal level by this process: our own failures, never a client mistake.',
      registers: [this.#own],
      collect() {
        this.inc(logStats.errors - seen.errors);
        seen.errors = logStats.errors;
      },
    });
  }

  /** Every message a worker sends (cluster `message` event); others than ours are ignored. */
  onMessage(worker: Worker, m: unknown): void {
    if (!isMetricsMessage(m)) return;
    if (m.op === 'scrape') {
      void this.scrape().then(
        (text) => send(worker, { type: 'strangers:metrics', op: 'scraped', id: m.id, text }),
        (err: unknown) => this.#log.error({ event: 'error', err: String(err) }, 'metrics aggregation failed'),
      );
    } else if (m.op === 'collected') {
      this.#latest.set(worker.id, m.metrics);
      const g = this.#gathers.get(m.id);
      if (g !== undefined && g.pending.delete(worker.id)) {
        g.answered.push(m.metrics);
        g.answeredBy.add(worker.id);
        if (g.pending.size === 0) g.done();
      }
    }
  }

  /** A worker exited: its counters are kept (as of its last answer) and it is waited for no more. */
  onExit(worker: Worker): void {
    const last = this.#latest.get(worker.id);
    this.#latest.delete(worker.id);
    if (last !== undefined) {
      const counters = monotonic(last);
      this.#retired = this.#retired.then((retired) => registryJSON(mergeGroup([retired, counters], [])));
    }
    for (const g of this.#gathers.values()) if (g.pending.delete(worker.id) && g.pending.size === 0) g.done();
  }

  /** The whole group's metrics, Prometheus text; answers within about `timeoutMs`. */
  async scrape(): Promise<string> {
    const id = this.#ids++;
    const g: Gather = { pending: new Set(), answered: [], answeredBy: new Set(), done: () => {} };
    const finished = new Promise<void>((resolve) => (g.done = resolve));
    this.#gathers.set(id, g);
    for (const { worker } of this.#targets()) {
      if (!worker.isConnected()) continue;
      g.pending.add(worker.id);
      send(worker, { type: 'strangers:metrics', op: 'collect', id }, () => {
        if (g.pending.delete(worker.id) && g.pending.size === 0) g.done();
      });
    }
    if (g.pending.size === 0) g.done();
    const timer = setTimeout(() => g.done(), this.#timeoutMs);
    await finished;
    clearTimeout(timer);
    this.#gathers.delete(id);
    if (g.pending.size > 0) this.#log.warn({ event: 'metrics', missing: g.pending.size }, 'workers did not answer the metrics request in time');
    // Live workers that did not answer: their last counters, so that the sums never drop.
    const stale: MetricJSON[][] = [];
    for (const [workerId, last] of this.#latest) if (!g.answeredBy.has(workerId)) stale.push(monotonic(last));
    const own = labelWorker(await registryJSON(this.#own), 'primary');
    const merged = mergeGroup([own, ...g.answered, ...stale, await this.#retired], groupFigures(this.#workers, g.answered.length));
    return merged.metrics();
  }
}

function send(worker: Worker, m: MetricsMessage, onError?: () => void): void {
  try {
    worker.send(m, (err: Error | null) => {
      if (err !== null) onError?.();
    });
  } catch {
    onError?.(); // the channel closed under us: the worker is going away
  }
}

/**
 * A worker's side: answers the primary's collect requests from the server's registry, and makes
 * the server's `/metrics` ask the primary for the group (src/http/server.ts `clusterMetrics`).
 */
export class WorkerMetrics {
  readonly #label: string;
  readonly #workers: number;
  readonly #log: Logger;
  readonly #timeoutMs: number;
  readonly #waiting = new Map<number, (text: string) => void>();
  #ids = 0;
  #registry: Registry | undefined;

  constructor(options: { label: string; workers: number; log: Logger; timeoutMs?: number }) {
    this.#label = options.label;
    this.#workers = options.workers;
    this.#log = options.log;
    this.#timeoutMs = options.timeoutMs ?? scrapeTimeoutMs;
    process.on('message', (m: unknown) => this.#onMessage(m));
  }

  get workers(): number {
    return this.#workers;
  }

  /** From now on, answer the primary's collect requests from `registry`. */
  answerWith(registry: Registry): void {
    this.#registry = registry;
  }

  #onMessage(m: unknown): void {
    if (!isMetricsMessage(m)) return;
    if (m.op === 'scraped') {
      this.#waiting.get(m.id)?.(m.text);
    } else if (m.op === 'collect') {
      const registry = this.#registry;
      if (registry === undefined) return; // not listening yet: the primary does not wait for us
      registryJSON(registry).then(
        (metrics) => process.send?.({ type: 'strangers:metrics', op: 'collected', id: m.id, metrics: labelWorker(metrics, this.#label) } satisfies MetricsMessage),
        (err: unknown) => this.#log.error({ event: 'error', err: String(err) }, 'metrics collection failed'),
      );
    }
  }

  /**
   * The group's metrics, from the primary; if it does not answer within the timeout (or the IPC
   * channel is gone), this worker's own, labelled, with `strangers_workers_scraped` 1.
   */
  async scrape(local: Registry): Promise<string> {
    if (process.send !== undefined && process.connected) {
      const id = this.#ids++;
      let timer: NodeJS.Timeout | undefined;
      const text = await new Promise<string | undefined>((resolve) => {
        this.#waiting.set(id, resolve);
        timer = setTimeout(resolve, this.#timeoutMs, undefined);
        process.send!({ type: 'strangers:metrics', op: 'scrape', id } satisfies MetricsMessage, undefined, undefined, (err: Error | null) => {
          if (err !== null) resolve(undefined);
        });
      });
      clearTimeout(timer);
      this.#waiting.delete(id);
      if (text !== undefined) return text;
      this.#log.warn({ event: 'metrics' }, 'the primary did not answer the metrics request in time: answering for this worker only');
    }
    const own = labelWorker(await registryJSON(local), this.#label);
    return mergeGroup([own], groupFigures(this.#workers, 1)).metrics();
  }
}
