/**
 * The coordinator of a benchmark run: forks the workers (split.ts), steps them through the
 * phases (connect, go, quiesce, drain, close), samples the server processes and itself every
 * second, and builds the {@link BenchResult} (report.ts prints it).
 *
 * Phases: connect (every worker opens its share at the ramp, each connection waits for
 * `welcome`) -> go (the scenario runs for `duration` seconds) -> quiesce (no new sends) ->
 * drain (until every sent message was received, at most `graceMs`) -> close (1000 from us;
 * any other close counts as unexpected) -> final counters.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Histogram } from './histogram.js';
import { type Counters, type FromWorker, type Scenario, type ToWorker, type WorkerConfig, addCounters, newCounters, nowMicros } from './ipc.js';
import { sampleProcess, type ProcSample } from './procstat.js';
import { type RestartJSON, mergeRestarts } from './restart.js';
import { planWorkers } from './split.js';
import { type BenchResult, type TimelinePoint, buildResult } from './report.js';

/** Options of one run (the CLI's flags). */
export interface BenchOptions {
  readonly scenario: Scenario;
  readonly url: string;
  /**
   * More servers of one cluster (e.g. two nodes on one Redis): connections go round-robin over
   * `url` and these, so pairs form within and across nodes.
   */
  readonly moreUrls?: readonly string[];
  /**
   * chat/flood: connections 2k and 2k+1 share an interest no one else has, so each pairs with
   * the other; with two URLs (round-robin) every pair then spans two nodes.
   */
  readonly crossPairs?: boolean;
  /**
   * chat: clients survive their connection: they acknowledge what they receive, and when the
   * server closes (1012, a node restarting) or the connection drops they reconnect to the next
   * URL and resume. The result then has restart windows and the delays in and out of them.
   * @default false
   */
  readonly resume?: boolean;
  /** Total connections (pairs x 2 for chat/flood). */
  readonly connections: number;
  /** Seconds the scenario runs after everyone is connected (the warm-up included). */
  readonly duration: number;
  /**
   * Seconds at the start of the scenario not measured (matching, JIT warm-up): rates,
   * latencies and server CPU count from then on; the timeline still shows them. @default 0
   */
  readonly warmup?: number;
  /** chat: messages per second per client. @default 1 */
  readonly rate?: number;
  /** flood: in-flight window per client. @default 16 */
  readonly window?: number;
  /** churn: messages per side per conversation. @default 2 */
  readonly perMatch?: number;
  readonly interests?: readonly string[];
  readonly size?: number;
  /** Worker processes (default: as few as the 15000-per-process split allows). */
  readonly workers?: number;
  /** Connections per second over all workers; 0 = unbounded. */
  readonly ramp?: number;
  readonly serverPids?: readonly number[];
  readonly connectTimeoutMs?: number;
  /** Concurrent handshakes per worker. @default 64 */
  readonly concurrency?: number;
  /** Longest wait for in-flight messages after the scenario stops. @default 5000 */
  readonly graceMs?: number;
  /** Longest connect phase; what is not connected by then counts as failed `connect_phase_timeout`. @default 120000 */
  readonly connectPhaseMs?: number;
  /** Aborting stops the run early with a partial result (`interrupted: true`). */
  readonly signal?: AbortSignal;
  /** Called every second with the newest timeline point (for a progress line). */
  readonly onTick?: (p: TimelinePoint, connectionsWanted: number) => void;
}

interface WorkerState {
  readonly child: ChildProcess;
  counters: Counters;
  connected: boolean;
  /** Counters at the end of the warm-up. */
  baseline: Counters | undefined;
  /** Has reported counters taken after it stopped sending. */
  quiesced: boolean;
  final: boolean;
  pairs: ReadonlyArray<readonly [string, string]>;
  restart: RestartJSON | undefined;
  exited: boolean;
}

const workerPath = fileURLToPath(new URL('./worker.js', import.meta.url));

/** Runs one benchmark and returns its result; never throws for server misbehaviour (that is in the result). */
export async function runBench(opts: BenchOptions): Promise<BenchResult> {
  const host = new URL(opts.url).hostname;
  const plans = planWorkers({ connections: opts.connections, workers: opts.workers, host, ramp: opts.ramp ?? 0 });
  const latency = new Histogram();
  const warmup = Math.min(opts.warmup ?? 0, opts.duration);
  const connectLatency = new Histogram();
  let interval = new Histogram();
  const serverPids = opts.serverPids ?? [];
  const timeline: TimelinePoint[] = [];
  const startedAt = new Date();
  const t0 = performance.now();
  const t0Us = nowMicros();
  const sampleServers = (): Array<ProcSample | undefined> => serverPids.map((pid) => sampleProcess(pid));
  const serverBaseline = sampleServers();
  const selfCpu0 = process.cpuUsage();

  const workers: WorkerState[] = plans.map((plan) => {
    const child = fork(workerPath, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
    const w: WorkerState = { child, counters: newCounters(), connected: false, baseline: undefined, quiesced: false, final: false, pairs: [], restart: undefined, exited: false };
    const config: WorkerConfig = {
      scenario: opts.scenario,
      urls: [opts.url, ...(opts.moreUrls ?? [])],
      connections: plan.connections,
      localAddresses: plan.localAddresses,
      ramp: plan.ramp,
      rate: opts.rate ?? 1,
      window: opts.window ?? 16,
      perMatch: opts.perMatch ?? 2,
      interests: opts.interests ?? [],
      crossPairs: opts.crossPairs ?? false,
      size: opts.size ?? 0,
      connectTimeoutMs: opts.connectTimeoutMs ?? 10000,
      concurrency: opts.concurrency ?? 64,
      reportPairs: opts.scenario === 'chat' || opts.scenario === 'flood',
      warmup: warmup > 0,
      resume: opts.resume ?? false,
    };
    child.on('message', (msg: FromWorker) => {
      if (msg.t === 'stats' || msg.t === 'final') {
        w.counters = msg.counters;
        if (msg.t === 'final' || msg.measuring) latency.merge(msg.latency);
        if (msg.t === 'stats' && msg.marked) w.baseline = msg.counters;
        interval.merge(msg.latency);
        connectLatency.merge(msg.connectLatency);
        if (msg.t === 'stats' && msg.quiesced) w.quiesced = true;
        if (msg.t === 'final') {
          w.final = true;
          w.pairs = msg.pairs;
          w.restart = msg.restart;
        }
      } else if (msg.t === 'connected') w.connected = true;
      wake();
    });
    child.on('exit', () => {
      w.exited = true;
      wake();
    });
    child.send({ t: 'start', config } satisfies ToWorker);
    return w;
  });

  // One promise to wait on "something changed" (a worker message, a tick, an abort).
  let wakeUp: (() => void) | undefined;
  function wake(): void {
    const f = wakeUp;
    wakeUp = undefined;
    f?.();
  }
  const aborted = (): boolean => opts.signal?.aborted === true;
  opts.signal?.addEventListener('abort', wake, { once: true });
  async function until(cond: () => boolean, deadline: number): Promise<boolean> {
    while (!cond()) {
      if (aborted() || performance.now() >= deadline) return false;
      await new Promise<void>((resolve) => {
        wakeUp = resolve;
        setTimeout(resolve, Math.min(250, Math.max(1, deadline - performance.now()))).unref();
      });
    }
    return true;
  }
  const broadcast = (msg: ToWorker): void => {
    for (const w of workers) if (!w.exited && w.child.connected) w.child.send(msg);
  };
  const total = (): Counters => workers.reduce((acc, w) => addCounters(acc, w.counters), newCounters());

  // The per-second sampler: timeline, progress.
  let lastTick = performance.now();
  let last = newCounters();
  let lastServer = serverBaseline;
  const sampler = setInterval(() => {
    const now = performance.now();
    const dt = (now - lastTick) / 1000;
    const cur = total();
    const servers = sampleServers();
    let serverCpu = 0;
    let serverRss = 0;
    servers.forEach((s, i) => {
      const prev = lastServer[i];
      if (s && prev) serverCpu += s.cpuSeconds - prev.cpuSeconds;
      if (s) serverRss += s.rssBytes;
    });
    const point: TimelinePoint = {
      t: (now - t0) / 1000,
      open: cur.open,
      msgsPerSec: (cur.received - last.received) / dt,
      matchesPerSec: (cur.matchedEvents - last.matchedEvents) / 2 / dt,
      connectsPerSec: (cur.connected - last.connected) / dt,
      p99Us: interval.percentile(99),
      serverCpuPercent: serverPids.length > 0 ? (100 * serverCpu) / dt : null,
      serverRssBytes: serverPids.length > 0 ? serverRss : null,
      generatorCpuPercent: (100 * (cur.cpuMicros - last.cpuMicros)) / 1e6 / dt,
    };
    timeline.push(point);
    opts.onTick?.(point, opts.connections);
    interval = new Histogram();
    last = cur;
    lastServer = servers;
    lastTick = now;
  }, 1000);

  // ---- connect ----
  const connectStart = performance.now();
  await until(() => workers.every((w) => w.connected || w.exited), connectStart + (opts.connectPhaseMs ?? 120000));
  const connectSeconds = (performance.now() - connectStart) / 1000;
  const connectPhaseTimedOut = !aborted() && !workers.every((w) => w.connected || w.exited);

  // ---- scenario ----
  const goAt = performance.now();
  const workerCpu = (): number[] => workers.map((w) => w.counters.cpuMicros / 1e6);
  let atGo = { counters: total(), servers: sampleServers(), workerCpu: workerCpu(), at: goAt };
  if (!aborted() && !connectPhaseTimedOut) {
    broadcast({ t: 'go' });
    if (warmup > 0) {
      await until(() => false, goAt + warmup * 1000);
      const markAt = performance.now();
      const servers = sampleServers();
      broadcast({ t: 'mark' });
      await until(() => workers.every((w) => w.baseline !== undefined || w.exited), markAt + 5000);
      const base = workers.reduce((acc, w) => addCounters(acc, w.baseline ?? w.counters), newCounters());
      atGo = { counters: base, servers, workerCpu: workers.map((w) => (w.baseline ?? w.counters).cpuMicros / 1e6), at: markAt };
    }
    await until(() => false, goAt + opts.duration * 1000);
  }
  // ---- quiesce and drain ----
  broadcast({ t: 'quiesce' });
  const quiesceAt = performance.now();
  // Every worker's counters must be from after it stopped sending before sent = received means drained.
  await until(() => {
    if (!workers.every((w) => w.quiesced || w.exited)) return false;
    const c = total();
    return c.sent === c.received;
  }, quiesceAt + (opts.graceMs ?? 5000));
  const endAt = performance.now();
  const atEnd = { counters: total(), servers: sampleServers(), workerCpu: workerCpu() };

  // ---- close ----
  broadcast({ t: 'close' });
  await until(() => workers.every((w) => w.final || w.exited), performance.now() + 10000);
  clearInterval(sampler);
  for (const w of workers) if (!w.exited) w.child.kill();
  const final = total();

  // Pairs must be symmetric across all workers (chat/flood): A's partner is B and B's is A.
  const partnerOf = new Map<string, string>();
  for (const w of workers) for (const [me, p] of w.pairs) partnerOf.set(me, p);
  let asymmetric = 0;
  for (const [me, p] of partnerOf) {
    const back = partnerOf.get(p);
    if (back !== undefined && back !== me) asymmetric++;
  }

  return buildResult({
    options: opts,
    startedAt,
    workers: plans.map((p) => ({ connections: p.connections, localAddresses: p.localAddresses })),
    connectSeconds,
    connectPhaseTimedOut,
    windowSeconds: (endAt - atGo.at) / 1000,
    scenarioSeconds: (quiesceAt - atGo.at) / 1000,
    warmupSeconds: (atGo.at - goAt) / 1000,
    atGo: atGo.counters,
    atEnd: atEnd.counters,
    final,
    latency,
    connectLatency,
    asymmetric,
    serverPids,
    serverBaseline,
    serverAtGo: atGo.servers,
    serverAtEnd: atEnd.servers,
    generator: {
      workerCpuSecondsInWindow: atEnd.workerCpu.map((c, i) => c - (atGo.workerCpu[i] ?? 0)),
      coordinatorCpuSeconds: (() => {
        const u = process.cpuUsage(selfCpu0);
        return (u.user + u.system) / 1e6;
      })(),
      cores: availableParallelism(),
    },
    machine: { nproc: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, loadavg: loadavg() },
    timeline,
    restart: opts.resume ? mergeRestarts(workers.flatMap((w) => (w.restart ? [w.restart] : []))) : undefined,
    t0Us,
    interrupted: aborted(),
    elapsedSeconds: (performance.now() - t0) / 1000,
  });
}
