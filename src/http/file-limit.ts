/**
 * How many sockets a server process may hold: its open-file limit less a reserve.
 *
 * Past the limit accept() fails with EMFILE, and whatever else the process needs a file for
 * (a Redis reconnection, a static file, a metrics scrape on the internal port) fails with it.
 * With `net.Server.maxConnections` set below the limit, a connection over it is closed at once,
 * and under `--workers` (node:cluster, round-robin) the worker declines it and the primary hands
 * it to another worker: a worker that got more than its share stops at its ceiling instead of
 * at the kernel's limit.
 */
import { readFileSync } from 'node:fs';

/** Descriptors kept for everything that is not a client socket (measured: ~22 in a worker). */
export const FILE_RESERVE = 100;

/** The soft limit on open files of this process (Linux /proc/self/limits), undefined elsewhere. */
export function openFileLimit(limits: string | undefined = readLimits()): number | undefined {
  const soft = /^Max open files\s+(\d+|unlimited)\s/m.exec(limits ?? '')?.[1];
  return soft === undefined || soft === 'unlimited' ? undefined : Number(soft);
}

/** Client sockets one server process may hold (at least 1), or undefined without a known limit. */
export function socketCeiling(limit: number | undefined = openFileLimit()): number | undefined {
  return limit === undefined ? undefined : Math.max(1, limit - FILE_RESERVE);
}

function readLimits(): string | undefined {
  try {
    return readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return undefined;
  }
}
