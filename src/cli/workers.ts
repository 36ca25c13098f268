/**
 * `strangers serve --workers N|auto`: N server processes behind one port, on `node:cluster`.
 *
 * Node 20 has no `reusePort` and worker threads cannot take sockets, so the cluster primary
 * accepts connections and hands them to the workers round-robin (SCHED_RR). After that the
 * primary is out of the data path: every worker is a full Strangers node on the Redis engine,
 * and users on different workers meet through Redis exactly as users on different machines do.
 *
 * The primary restarts a worker that dies (with exponential backoff) and, on SIGTERM or SIGINT,
 * asks every worker to drain (SIGTERM) and waits for them, bounded by the drain timeout. It
 * passes SIGHUP (reload the TLS certificate) on to every worker, and answers the workers' metrics
 * scrapes for the whole group (src/cli/cluster-metrics.ts).
 */
import cluster, { type Worker } from 'node:cluster';
import { createLogger } from '../http/log.js';
import { serverConfigDefaults } from '../http/server.js';
import { PrimaryMetrics, WorkerMetrics } from './cluster-metrics.js';
import type { ServeConfig } from './config.js';
import { runServer } from './run-server.js';

/** Restart backoff: 250 ms, doubling per quick death, at most 10 s; reset after 30 s of life. */
const backoff = { firstMs: 250, maxMs: 10_000, healthyAfterMs: 30_000 } as const;
/** The primary's own margin on top of the workers' drain timeout before it SIGKILLs them. */
const killMarginMs = 5_000;

/**
 * Runs the primary (forks `config.workers` workers) or, inside a forked worker, one server.
 * Resolves with the process exit code.
 */
export async function runWorkers(config: ServeConfig): Promise<number> {
  if (cluster.isWorker) return runWorker(config);
  if (config.redis === undefined && !config.redisCluster?.length) {
    // config.ts refuses this already; a second guard for programmatic callers.
    process.stderr.write('strangers serve: --workers above 1 needs --redis or --redis-cluster\n');
    return 2;
  }
  return runPrimary(config);
}

/**
 * Inside a worker: one ordinary server whose `/metrics` answers for the group. Only SIGTERM (from
 * the primary) starts the drain.
 */
async function runWorker(config: ServeConfig): Promise<number> {
  // Ctrl-C reaches the whole process group; the primary turns it into one SIGTERM per worker.
  process.on('SIGINT', () => {});
  const metrics = new WorkerMetrics({ label: process.env.STRANGERS_WORKER_INDEX ?? String(cluster.worker?.id ?? 0), workers: config.workers, log: createLogger(config.logLevel ?? 'info') });
  const code = await runServer(
    { ...config, clusterMetrics: { workers: config.workers, scrape: (local) => metrics.scrape(local) } },
    { signals: ['SIGTERM'], onListening: (server) => metrics.answerWith(server.metrics) },
  );
  process.exit(code);
}

interface Slot {
  index: number;
  worker: Worker | undefined;
  startedAt: number;
  /** Consecutive quick deaths, for the backoff. */
  failures: number;
  listening: boolean;
  /** A SIGHUP came before this worker listened: pass it on once it does. */
  hangup: boolean;
  timer: NodeJS.Timeout | undefined;
}

async function runPrimary(config: ServeConfig): Promise<number> {
  const log = createLogger(config.logLevel ?? 'info');
  const n = config.workers;
  cluster.schedulingPolicy = cluster.SCHED_RR; // the default on Linux; explicit because it matters
  const slots: Slot[] = Array.from({ length: n }, (_, index) => ({ index, worker: undefined, startedAt: 0, failures: 0, listening: false, hangup: false, timer: undefined }));
  let stopping = false;
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  let everyoneListening = false;
  const metrics = new PrimaryMetrics({
    workers: n,
    log,
    targets: () => slots.filter((s) => s.listening && s.worker !== undefined).map((s) => ({ worker: s.worker!, label: String(s.index) })),
  });
  const onMessage = (w: Worker, m: unknown): void => metrics.onMessage(w, m);
  cluster.on('message', onMessage);

  const fork = (slot: Slot): void => {
    slot.timer = undefined;
    if (stopping) return;
    slot.startedAt = Date.now();
    slot.listening = false;
    const w = cluster.fork({ STRANGERS_WORKER_INDEX: String(slot.index) });
    slot.worker = w;
    w.on('listening', () => {
      slot.listening = true;
      if (slot.hangup) {
        slot.hangup = false;
        w.process.kill('SIGHUP');
      }
      if (!everyoneListening && slots.every((s) => s.listening)) {
        everyoneListening = true;
        log.info({ event: 'start', workers: n, port: config.port, primary: process.pid }, `all ${n} workers listening`);
      }
    });
    w.on('exit', (code, signal) => {
      slot.worker = undefined;
      metrics.onExit(w);
      if (stopping) {
        if (slots.every((s) => s.worker === undefined)) resolveDone(0);
        return;
      }
      if (!everyoneListening && !slot.listening) {
        // A worker that cannot even start (port taken, Redis unreachable): the whole command fails.
        log.error({ event: 'error', worker: slot.index, code, signal }, 'a worker failed to start; stopping');
        void stopAll(1);
        return;
      }
      const lived = Date.now() - slot.startedAt;
      slot.failures = lived >= backoff.healthyAfterMs ? 0 : slot.failures + 1;
      const delay = slot.failures === 0 ? 0 : Math.min(backoff.firstMs * 2 ** (slot.failures - 1), backoff.maxMs);
      log.warn({ event: 'error', worker: slot.index, pid: w.process.pid, code, signal, restartInMs: delay }, 'worker died; restarting');
      slot.timer = setTimeout(fork, delay, slot);
    });
  };

  let exitCode = 0;
  const stopAll = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    for (const s of slots) clearTimeout(s.timer);
    const alive = slots.filter((s) => s.worker !== undefined);
    if (alive.length === 0) {
      resolveDone(code);
      return;
    }
    for (const s of alive) s.worker!.process.kill('SIGTERM');
    const limit = (config.drainTimeoutMs ?? serverConfigDefaults.drainTimeoutMs) + killMarginMs;
    const killer = setTimeout(() => {
      for (const s of slots) s.worker?.process.kill('SIGKILL');
    }, limit);
    killer.unref();
  };

  const onSignal = (sig: NodeJS.Signals): void => {
    log.info({ event: 'stop', signal: sig, workers: n }, 'draining workers');
    void stopAll(0);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // SIGHUP: every worker reloads its certificate (a worker still starting, once it listens; one
  // forked later reads the files anyway). The primary itself holds no certificate.
  const onHangup = (): void => {
    let sent = 0;
    for (const s of slots) {
      if (s.worker === undefined) continue;
      if (s.listening) {
        s.worker.process.kill('SIGHUP');
        sent++;
      } else {
        s.hangup = true;
      }
    }
    log.info({ event: 'tls_reload', workers: sent }, 'SIGHUP: workers reload the certificate');
  };
  process.on('SIGHUP', onHangup);

  for (const slot of slots) fork(slot);
  const result = await done;
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  process.off('SIGHUP', onHangup);
  cluster.off('message', onMessage);
  log.info({ event: 'stop', workers: n, code: exitCode || result }, 'stopped');
  return exitCode || result;
}
