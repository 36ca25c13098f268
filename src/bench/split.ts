/**
 * How a run's connections are spread over worker processes and source addresses.
 *
 * Why: one process may open at most 20000 files here, and one source address has about
 * 28000 ephemeral ports towards one server address. So past a few thousand connections the
 * load generator forks workers, and when the target is on loopback each worker binds its own
 * source address (127.0.0.2, 127.0.0.3, ...), which Linux routes like 127.0.0.1.
 */

/** Defaults of the split, each with its reason. */
export const SplitDefaults = {
  /** Connections per worker process: well under the 20000-file limit (a socket is one file). */
  maxPerWorker: 15000,
  /** Connections per source address: under the 28232 ports of the default ephemeral range. */
  maxPerAddress: 25000,
} as const;

/** One worker's share of the run. */
export interface WorkerPlan {
  /** Worker index, 0-based. */
  readonly index: number;
  /** Connections this worker opens. */
  readonly connections: number;
  /** Source addresses to bind, used round-robin; empty = let the OS choose. */
  readonly localAddresses: readonly string[];
  /** This worker's share of the ramp (connections per second; 0 = as fast as possible). */
  readonly ramp: number;
}

export interface SplitOptions {
  /** Total connections. Pairs-based scenarios pass 2 x pairs (always even). */
  readonly connections: number;
  /** Force this many workers (else the fewest that respect maxPerWorker). */
  readonly workers?: number;
  /** Host of the target URL: loopback targets get distinct source addresses. */
  readonly host: string;
  /** Total ramp in connections per second; 0 = unbounded. */
  readonly ramp?: number;
  readonly maxPerWorker?: number;
  readonly maxPerAddress?: number;
}

/** True for 127.0.0.0/8, ::1 and `localhost`. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** The n-th extra loopback source address: 0 -> 127.0.0.2, 1 -> 127.0.0.3, 254 -> 127.0.1.0 ... (all of 127/8 is loopback on Linux). */
export function loopbackAddress(n: number): string {
  const v = n + 2; // 127.0.0.1 is left to everyone else
  return `127.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/**
 * Splits `connections` over workers. Every worker gets an even count (shares differ by at most one
 * pair), except that the last one absorbs an odd remainder; each worker gets its own source
 * address(es) when the target is on loopback.
 */
export function planWorkers(opts: SplitOptions): WorkerPlan[] {
  const maxPerWorker = opts.maxPerWorker ?? SplitDefaults.maxPerWorker;
  const maxPerAddress = opts.maxPerAddress ?? SplitDefaults.maxPerAddress;
  if (!Number.isInteger(opts.connections) || opts.connections < 0) throw new RangeError('connections must be a non-negative integer');
  const minWorkers = Math.max(1, Math.ceil(opts.connections / maxPerWorker));
  const workers = Math.max(minWorkers, opts.workers ?? minWorkers);
  // Even shares: distribute pairs, then the odd connection (if any) to the last worker.
  const pairs = Math.floor(opts.connections / 2);
  const odd = opts.connections % 2;
  const loop = isLoopback(opts.host);
  let nextAddress = 0;
  const ramp = opts.ramp ?? 0;
  const plans: WorkerPlan[] = [];
  for (let i = 0; i < workers; i++) {
    const myPairs = Math.floor(pairs / workers) + (i < pairs % workers ? 1 : 0);
    const connections = myPairs * 2 + (i === workers - 1 ? odd : 0);
    const localAddresses: string[] = [];
    if (loop) {
      const needed = Math.max(1, Math.ceil(connections / maxPerAddress));
      for (let k = 0; k < needed; k++) localAddresses.push(loopbackAddress(nextAddress++));
    }
    plans.push({
      index: i,
      connections,
      localAddresses,
      ramp: opts.connections === 0 || ramp === 0 ? 0 : (ramp * connections) / opts.connections,
    });
  }
  return plans;
}
