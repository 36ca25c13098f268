/**
 * Source ports for the load generator's connections, handed out per source address.
 *
 * Why: with a source address to bind (127.0.0.x, see split.ts) and no port, every connect()
 * is a bind() to port 0, and Linux finds that port by scanning the range under a lock
 * (inet_csk_get_port: inet_bind2_bucket_find, inet_bhash2_conflict), a scan that grows with the
 * sockets already bound. Measured with `perf` at 50,000 connections: 20 % of all CPU in those two
 * kernel functions, and the connect rate fell from 1,900/s to under 300/s. A bind() to a given port
 * is one bucket lookup, so the generator hands the ports out itself: a walk through 1024-65535
 * per address from a random start. A port that turns out taken (another process on the same
 * source address, a wildcard listener) fails fast with EADDRINUSE or EADDRNOTAVAIL; the walk
 * then jumps to another random start and the connection is retried on the next port.
 */

/** The ports handed out: everything above the privileged ones. */
export const SourcePortRange = { first: 1024, last: 65535 } as const;

export class SourcePorts {
  readonly #next = new Map<string, number>();
  readonly #random: () => number;

  constructor(random: () => number = Math.random) {
    this.#random = random;
  }

  /** The next port to bind on `address`. */
  next(address: string): number {
    const port = this.#next.get(address) ?? this.#randomPort();
    this.#next.set(address, port >= SourcePortRange.last ? SourcePortRange.first : port + 1);
    return port;
  }

  /** The port just handed out on `address` was taken: continue somewhere else in the range. */
  taken(address: string): void {
    this.#next.set(address, this.#randomPort());
  }

  #randomPort(): number {
    const span = SourcePortRange.last - SourcePortRange.first + 1;
    return SourcePortRange.first + Math.min(span - 1, Math.floor(this.#random() * span));
  }
}

/** True for the failures another source port would not have had. */
export function portTaken(err: unknown): boolean {
  const message = typeof (err as { message?: unknown })?.message === 'string' ? (err as { message: string }).message : '';
  return /\bEADDR(INUSE|NOTAVAIL)\b/.test(message);
}
