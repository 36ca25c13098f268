/**
 * `GET /metrics` in the Prometheus text format (prom-client).
 *
 * Nothing here runs per message: the chat, the WebSocket server and the engine keep plain
 * integer totals, and every metric reads them when Prometheus scrapes. Counters mirror those
 * totals (they only grow, so the difference since the last scrape is added); histograms read
 * the chat's fixed buckets (src/chat/histogram.ts).
 *
 * With `--workers N` one scrape answers for the whole process group (src/cli/cluster-metrics.ts):
 * each metric's `aggregator` says how the workers' values combine (prom-client's
 * AggregatorRegistry: `sum` unless said otherwise), and the metrics of {@link perWorkerMetrics}
 * keep one series per worker, labelled `worker`.
 */
import { totalmem } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { ChatService, DurationHistogram } from '../chat/index.js';
import type { Engine } from '../engine/engine.js';
import type { SessionGate } from '../session/index.js';
import type { WebSocketServer } from '@strangers/websocket';
import { logStats } from './log.js';

/** TLS certificate reloads (SIGHUP), counted by the server. */
export interface TlsStats {
  reloaded: number;
  failed: number;
  /** End of validity of the certificate being served, ms since the epoch. */
  notAfter: number;
}

/** What the metrics read, owned by the server. */
export interface MetricsSources {
  readonly chat: ChatService;
  readonly wss: WebSocketServer<unknown>;
  readonly engine: Engine;
  /** WebSocket protocol errors by stable code (bad frames, too big, slow consumer...). */
  readonly protocolErrors: ReadonlyMap<string, number>;
  /** The session gate, when it is on. */
  readonly gate?: SessionGate | undefined;
  /** Whether `/readyz` answers 200 (engine ready, not draining). */
  readonly ready: () => boolean;
  /** Certificate reloads and validity, when serving TLS. */
  readonly tls?: TlsStats | undefined;
  /**
   * Worker processes in the group (`--workers`): what a scrape that only this process can answer
   * reports (the cluster's primary reports the real figures). @default 1
   */
  readonly workers?: number | undefined;
}

/**
 * Metrics that keep one series per worker under `--workers` (label `worker`: the worker's index,
 * or `primary`), instead of one sum for the group: a process's memory against its heap limit,
 * its open files against its limit, its event-loop lag, its readiness and its connections
 * (`--max-connections` is per process) only mean something per process. Without `--workers` they carry no `worker` label.
 * Dashboards and rules aggregate them `by (instance)`, which works either way.
 */
export const perWorkerMetrics: ReadonlySet<string> = new Set([
  'strangers_connections',
  'strangers_ready',
  'strangers_engine_ready',
  'strangers_heap_limit_bytes',
  'strangers_process_cpu_seconds_total',
  'strangers_process_resident_memory_bytes',
  'strangers_process_heap_bytes',
  'strangers_process_open_fds',
  'strangers_process_max_fds',
  'strangers_nodejs_heap_size_used_bytes',
  'strangers_nodejs_heap_size_total_bytes',
  'strangers_nodejs_eventloop_lag_seconds',
  'strangers_nodejs_eventloop_lag_min_seconds',
  'strangers_nodejs_eventloop_lag_max_seconds',
  'strangers_nodejs_eventloop_lag_mean_seconds',
  'strangers_nodejs_eventloop_lag_stddev_seconds',
  'strangers_nodejs_eventloop_lag_p50_seconds',
  'strangers_nodejs_eventloop_lag_p90_seconds',
  'strangers_nodejs_eventloop_lag_p99_seconds',
]);

/** A label set and its histogram. */
type Series = readonly [Readonly<Record<string, string>>, DurationHistogram];

/**
 * A Prometheus histogram (in seconds) read from {@link DurationHistogram}s kept elsewhere, in the
 * shape prom-client's registries expect of a metric (`get()`); summed across workers.
 */
class DurationHistogramMetric {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    readonly series: readonly Series[],
  ) {}

  get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> }> {
    const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
    const bucket = `${this.name}_bucket`;
    for (const [labels, h] of this.series) {
      let acc = 0;
      for (let i = 0; i < h.boundsMs.length; i++) {
        acc += h.counts[i]!;
        values.push({ metricName: bucket, labels: { ...labels, le: h.boundsMs[i]! / 1000 }, value: acc });
      }
      values.push({ metricName: bucket, labels: { ...labels, le: '+Inf' }, value: h.count });
      values.push({ metricName: `${this.name}_sum`, labels: { ...labels }, value: h.sumMs / 1000 });
      values.push({ metricName: `${this.name}_count`, labels: { ...labels }, value: h.count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  reset(): void {
    // The totals belong to the chat; a registry reset does not clear them.
  }
}

/** The most memory this process group may use: its cgroup's limit, else the machine's memory. */
function memoryLimit(): number {
  const machine = totalmem();
  const limit = process.constrainedMemory(); // 0, or 2^64, when the cgroup sets no limit
  return limit > 0 && limit < machine ? limit : machine;
}


/** A counter that follows a running total kept elsewhere. */
function mirror(counter: Counter<string>, labels: Record<string, string>, seen: Map<string, number>, total: number): void {
  // Keyed by metric and labels: several counters have no labels at all.
  const key = `${(counter as unknown as { name: string }).name}${JSON.stringify(labels)}`;
  const delta = total - (seen.get(key) ?? 0);
  counter.inc(labels, Math.max(0, delta)); // 0 too: every known label is exported from the start
  seen.set(key, total);
}

export function createMetrics(sources: MetricsSources): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'strangers_' });
  const { chat, wss, engine } = sources;
  const seen = new Map<string, number>();

  new Gauge({
    name: 'strangers_connections',
    help: 'Open WebSocket connections on this node (per worker with --workers).',
    registers: [registry],
    collect() {
      this.set(wss.size);
    },
  });
  new Gauge({
    name: 'strangers_users',
    help: 'Users on this node by state.',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const c = chat.counts();
      this.set({ state: 'searching' }, c.searching);
      this.set({ state: 'chatting' }, c.chatting);
    },
  });
  new Gauge({
    name: 'strangers_searching_language',
    help: 'Users searching on this node by language (the 10 largest by name, the rest as "other"; users without a language are not counted).',
    labelNames: ['lang'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [lang, n] of Object.entries(chat.counts().langs ?? {})) this.set({ lang }, n);
    },
  });
  new Gauge({
    name: 'strangers_cluster_users',
    help: 'Users in the whole cluster: online, searching (the queue), chatting.',
    labelNames: ['state'],
    registers: [registry],
    aggregator: 'max', // every worker sees the whole cluster: not a sum
    collect() {
      const c = chat.clusterCounts();
      this.set({ state: 'online' }, c.online);
      this.set({ state: 'searching' }, c.searching);
      this.set({ state: 'chatting' }, c.chatting);
    },
  });
  new Gauge({
    name: 'strangers_engine_ready',
    help: '1 while the engine can match and relay (Redis reachable), else 0.',
    registers: [registry],
    collect() {
      this.set(engine.ready() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'strangers_ready',
    help: '1 while /readyz answers 200 (engine ready and not draining), else 0.',
    registers: [registry],
    collect() {
      this.set(sources.ready() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'strangers_heap_limit_bytes',
    help: "V8's heap size limit of this process (--max-old-space-size or its default).",
    registers: [registry],
    collect() {
      this.set(getHeapStatistics().heap_size_limit);
    },
  });
  new Gauge({
    name: 'strangers_memory_limit_bytes',
    help: "Memory the process group may use: its cgroup's limit (a container's), else the machine's memory.",
    registers: [registry],
    aggregator: 'max', // one limit for the group
    collect() {
      this.set(memoryLimit());
    },
  });
  const workers = sources.workers ?? 1;
  new Gauge({
    name: 'strangers_workers',
    help: 'Worker processes the group runs (--workers; 1 without).',
    registers: [registry],
    aggregator: 'omit', // with --workers the primary reports it
    collect() {
      this.set(workers);
    },
  });
  new Gauge({
    name: 'strangers_workers_scraped',
    help: 'Workers whose figures this scrape holds: below strangers_workers while one restarts or does not answer in time.',
    registers: [registry],
    aggregator: 'omit', // with --workers the primary reports it
    collect() {
      this.set(1);
    },
  });
  new Counter({
    name: 'strangers_log_errors_total',
    help: 'Lines logged at error or fatal level by this process: our own failures, never a client mistake.',
    registers: [registry],
    collect() {
      mirror(this, {}, seen, logStats.errors);
    },
  });
  new Counter({
    name: 'strangers_upgrades_total',
    help: 'WebSocket upgrade requests: accepted, or refused with an HTTP status.',
    labelNames: ['result'],
    registers: [registry],
    collect() {
      mirror(this, { result: 'accepted' }, seen, wss.stats.accepted);
      for (const [status, n] of wss.stats.refused) mirror(this, { result: String(status) }, seen, n);
    },
  });
  new Counter({
    name: 'strangers_ws_protocol_errors_total',
    help: 'Connections failed by a WebSocket protocol error, by code.',
    labelNames: ['code'],
    registers: [registry],
    collect() {
      for (const [code, n] of sources.protocolErrors) mirror(this, { code }, seen, n);
    },
  });
  new Counter({
    name: 'strangers_messages_total',
    help: 'Chat lines relayed, to a partner on this node (local) or on another node (remote).',
    labelNames: ['path'],
    registers: [registry],
    collect() {
      mirror(this, { path: 'local' }, seen, chat.stats.messagesLocal);
      mirror(this, { path: 'remote' }, seen, chat.stats.messagesRemote);
    },
  });
  new Counter({
    name: 'strangers_matched_total',
    help: 'Users told they have a partner, on this node.',
    registers: [registry],
    collect() {
      mirror(this, {}, seen, chat.stats.matched);
    },
  });
  const st = chat.stats;
  const histograms = [
    new DurationHistogramMetric('strangers_match_wait_seconds', 'Time from find (or next) to matched of users on this node, by whether they share an interest with the partner.', [
      [{ shared_interests: 'yes' }, st.matchWait.shared],
      [{ shared_interests: 'no' }, st.matchWait.unshared],
    ]),
    new DurationHistogramMetric('strangers_conversation_seconds', 'How long users on this node stayed in a conversation (each side counts once).', [[{}, st.conversation]]),
  ];
  for (const h of histograms) registry.registerMetric(h as unknown as Metric);
  new Counter({
    name: 'strangers_skips_total',
    help: 'Conversations a user on this node skipped (next while chatting).',
    registers: [registry],
    collect() {
      mirror(this, {}, seen, st.skips);
    },
  });
  new Counter({
    name: 'strangers_resumes_total',
    help: 'Resumes on this node: a connection took a place over (resumed, on this node or handed over from another), was refused (failed), or a held place\'s window closed (expired).',
    labelNames: ['result'],
    registers: [registry],
    collect() {
      for (const [result, n] of Object.entries(st.resumes)) mirror(this, { result }, seen, n);
    },
  });
  new Gauge({
    name: 'strangers_places_held',
    help: 'Places held on this node for a resume (users whose connection dropped, within the resume window).',
    registers: [registry],
    collect() {
      this.set(chat.held());
    },
  });
  new Counter({
    name: 'strangers_searches_abandoned_total',
    help: 'Searches stopped before a match by leave or by disconnecting, on this node.',
    registers: [registry],
    collect() {
      mirror(this, {}, seen, st.searchesAbandoned);
    },
  });
  new Counter({
    name: 'strangers_ended_total',
    help: 'Conversations ended, as told to users on this node, by reason.',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      for (const [reason, n] of Object.entries(chat.stats.ended)) mirror(this, { reason }, seen, n);
    },
  });
  new Counter({
    name: 'strangers_chat_errors_total',
    help: 'Error messages sent to clients, by code.',
    labelNames: ['code'],
    registers: [registry],
    collect() {
      for (const [code, n] of Object.entries(chat.stats.errors)) if (n > 0) mirror(this, { code }, seen, n);
    },
  });
  const moderation = chat.moderation;
  new Counter({
    name: 'strangers_reports_total',
    help: 'Reports users made on this node, by reason.',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      for (const [reason, n] of Object.entries(moderation.stats.reports)) mirror(this, { reason }, seen, n);
    },
  });
  new Counter({
    name: 'strangers_bans_total',
    help: 'Bans that reports made on this node caused.',
    registers: [registry],
    collect() {
      mirror(this, {}, seen, moderation.stats.bans);
    },
  });
  new Gauge({
    name: 'strangers_bans_in_force',
    help: 'Persons banned right now, cluster-wide (from the engine; -1 when it cannot be read).',
    registers: [registry],
    aggregator: 'max', // cluster-wide already
    async collect() {
      try {
        this.set(await engine.moderation.bansInForce(Date.now()));
      } catch {
        this.set(-1);
      }
    },
  });
  new Counter({
    name: 'strangers_spam_dropped_total',
    help: 'Copies of a spam wave dropped on this node (the sender is not told).',
    registers: [registry],
    collect() {
      mirror(this, {}, seen, moderation.stats.spamDropped);
    },
  });
  const tls = sources.tls;
  if (tls !== undefined) {
    new Counter({
      name: 'strangers_tls_reloads_total',
      help: 'Certificate reloads on SIGHUP: ok (now served), or failed (refused; the previous certificate is kept).',
      labelNames: ['result'],
      registers: [registry],
      collect() {
        mirror(this, { result: 'ok' }, seen, tls.reloaded);
        mirror(this, { result: 'failed' }, seen, tls.failed);
      },
    });
    new Gauge({
      name: 'strangers_tls_certificate_expiry_seconds',
      help: 'End of validity (notAfter) of the certificate served, Unix seconds; the earliest among workers.',
      registers: [registry],
      aggregator: 'min', // a worker still serving an older certificate shows
      collect() {
        this.set(Math.floor(tls.notAfter / 1000));
      },
    });
  }
  const gate = sources.gate;
  if (gate !== undefined) {
    new Counter({
      name: 'strangers_sessions_issued_total',
      help: 'Sessions issued by POST /session on this node.',
      registers: [registry],
      collect() {
        mirror(this, {}, seen, gate.stats.issued);
      },
    });
    new Counter({
      name: 'strangers_session_challenges_total',
      help: 'Proof-of-work challenges handed out by GET /session/challenge on this node.',
      registers: [registry],
      collect() {
        mirror(this, {}, seen, gate.stats.challenges);
      },
    });
    new Counter({
      name: 'strangers_session_challenges_failed_total',
      help: 'Requests to /session and /session/challenge refused, by error code (invalid_solution, replayed, rate_limited...).',
      labelNames: ['reason'],
      registers: [registry],
      collect() {
        for (const [reason, n] of Object.entries(gate.stats.failed)) if (n > 0) mirror(this, { reason }, seen, n);
      },
    });
    new Counter({
      name: 'strangers_upgrades_unauthorized_total',
      help: 'WebSocket upgrades refused with 401: no session, or a forged, altered or expired one.',
      registers: [registry],
      collect() {
        mirror(this, {}, seen, gate.stats.unauthorized);
      },
    });
  }
  return registry;
}
