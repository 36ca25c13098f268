/**
 * `strangers serve --workers N|auto`: N server processes behind one port, on `node:cluster`.
 *
 * Node 20 has no `reusePort` and worker threads cannot take sockets, so the cluster primary
 * accepts connections and hands them to the workers round-robin (SCHED_RR). After that the
 * primary is out of the data path: every worker is a full Strangers node on the Redis engine,
 * and users on different workers meet through Redis exactly as users on different machines do.
 *
 * The primary restarts a worker that dies (with exponential backoff) and, on SIGTERM or SIGINT,
 * asks every worker to drain (SIGTERM) and waits for them, bounded by the drain timeout.
 */
import cluster, { type Worker } from 'node:cluster';
import { createLogger } from '../http/log.js';
import { serverConfigDefaults } from '../http/server.js';
import type { ServeConfig } from './config.js';
import { serve } from './serve.js';

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
  if (config.redis === undefined) {
    // config.ts refuses this already; a second guard for programmatic callers.
    process.stderr.write('strangers serve: --workers above 1 needs --redis\n');
    return 2;
  }
  return runPrimary(config);
}

/** Inside a worker: one ordinary server. Only SIGTERM (from the primary) starts the drain. */
async function runWorker(config: ServeConfig): Promise<number> {
  // Ctrl-C reaches the whole process group; the primary turns it into one SIGTERM per worker.
  process.on('SIGINT', () => {});
  const code = await serve(config, ['SIGTERM']);
  process.exit(code);
}

interface Slot {
  index: number;
  worker: Worker | undefined;
  startedAt: number;
  /** Consecutive quick deaths, for the backoff. */
  failures: number;
  listening: boolean;
  timer: NodeJS.Timeout | undefined;
}

async function runPrimary(config: ServeConfig): Promise<number> {
  const log = createLogger(config.logLevel ?? 'info');
  const n = config.workers;
  cluster.schedulingPolicy = cluster.SCHED_RR; // the default on Linux; explicit because it matters
  const slots: Slot[] = Array.from({ length: n }, (_, index) => ({ index, worker: undefined, startedAt: 0, failures: 0, listening: false, timer: undefined }));
  let stopping = false;
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  let everyoneListening = false;

  const fork = (slot: Slot): void => {
    slot.timer = undefined;
    if (stopping) return;
    slot.startedAt = Date.now();
    slot.listening = false;
    const w = cluster.fork({ STRANGERS_WORKER_INDEX: String(slot.index) });
    slot.worker = w;
    w.on('listening', () => {
      slot.listening = true;
      if (!everyoneListening && slots.every((s) => s.listening)) {
        everyoneListening = true;
        log.info({ event: 'start', workers: n, port: config.port, primary: process.pid }, `all ${n} workers listening`);
      }
    });
    w.on('exit', (code, signal) => {
      slot.worker = undefined;
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

  for (const slot of slots) fork(slot);
  const result = await done;
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  log.info({ event: 'stop', workers: n, code: exitCode || result }, 'stopped');
  return exitCode || result;
}
