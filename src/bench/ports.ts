/**
 * Source ports for the load generator's connections, handed out per source address.
 *
 * Why: with a source address to bind (127.0.0.x, see split.ts) and no port, every connect()
 * is a bind() to port 0, and Linux finds that port by scanning the range under a lock
 * (inet_csk_get_port: inet_bind2_bucket_find, inet_bhash2_conflict), a scan that grows with the
 * sockets already bound. Measured with `perf` at 50,000 connections: 20 % of all CPU in those two
 * kernel functions, and the connect rate fell from 1,900/s to under 300/s. A bind() to a given port
 * is one bucket lookup, so the generator hands the ports out itself: a walk per address from a
 * random start. A port that turns out taken (another process on the same source address, a
 * wildcard listener) fails fast with EADDRINUSE or EADDRNOTAVAIL; the walk then jumps to another
 * random start and the connection is retried on the next port.
 *
 * The walk stays out of the kernel's ephemeral range (net.ipv4.ip_local_port_range): Linux does
 * not hand out, for any address, a port that some socket bound explicitly, so 100,000 explicit
 * binds inside that range would leave every other process on the machine without ports for
 * its own outgoing connections (measured: EADDRNOTAVAIL for a plain fetch during the run).
 */
import { readFileSync } from 'node:fs';

/** The ports handed out: 1024-65535 less the ephemeral range. */
export interface PortRange {
  readonly first: number;
  readonly last: number;
  /** The kernel's ephemeral range, skipped (inclusive). */
  readonly skip: readonly [number, number];
}

/** The kernel's ephemeral port range (Linux), or Linux's default when it cannot be read. */
export function ephemeralRange(text: string | undefined = readRange()): [number, number] {
  const m = /^\s*(\d+)\s+(\d+)\s*$/.exec(text ?? '');
  return m ? [Number(m[1]), Number(m[2])] : [32768, 60999];
}

export function defaultPortRange(): PortRange {
  return { first: 1024, last: 65535, skip: ephemeralRange() };
}

export class SourcePorts {
  readonly #next = new Map<string, number>();
  readonly #random: () => number;
  readonly #range: PortRange;
  /** Ports below the skipped range, and in all. */
  readonly #low: number;
  readonly #span: number;

  constructor(random: () => number = Math.random, range: PortRange = defaultPortRange()) {
    this.#random = random;
    this.#range = range;
    const [a, b] = range.skip;
    this.#low = Math.max(0, Math.min(a, range.last + 1) - range.first);
    const high = Math.max(0, range.last - Math.max(b, range.first - 1));
    this.#span = this.#low + high;
    if (this.#span <= 0) throw new RangeError('no source port left outside the ephemeral range');
  }

  /** How many ports one address can have. */
  get size(): number {
    return this.#span;
  }

  /** The next port to bind on `address`. */
  next(address: string): number {
    const k = this.#next.get(address) ?? this.#randomIndex();
    this.#next.set(address, (k + 1) % this.#span);
    return this.#port(k);
  }

  /** The port just handed out on `address` was taken: continue somewhere else in the range. */
  taken(address: string): void {
    this.#next.set(address, this.#randomIndex());
  }

  #port(k: number): number {
    return k < this.#low ? this.#range.first + k : this.#range.skip[1] + 1 + (k - this.#low);
  }

  #randomIndex(): number {
    return Math.min(this.#span - 1, Math.floor(this.#random() * this.#span));
  }
}

/** True for the failures another source port would not have had. */
export function portTaken(err: unknown): boolean {
  const message = typeof (err as { message?: unknown })?.message === 'string' ? (err as { message: string }).message : '';
  return /\bEADDR(INUSE|NOTAVAIL)\b/.test(message);
}

function readRange(): string | undefined {
  try {
    return readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8');
  } catch {
    return undefined;
  }
}
