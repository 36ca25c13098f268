/**
 * A token bucket: `rate` tokens per second, holding at most `burst`. Time is passed in (ms) so
 * that the hot path reads the clock once and tests need no timers.
 */
export class TokenBucket {
  #tokens: number;
  #last: number;
  readonly #rate: number;
  readonly #burst: number;

  /** `rate` 0 disables the bucket: every take succeeds. */
  constructor(rate: number, burst: number, now: number) {
    this.#rate = rate;
    this.#burst = Math.max(1, burst);
    this.#tokens = this.#burst;
    this.#last = now;
  }

  /** Takes one token; false when the bucket is empty. */
  take(now: number): boolean {
    if (this.#rate <= 0) return true;
    const elapsed = now - this.#last;
    if (elapsed > 0) {
      this.#tokens = Math.min(this.#burst, this.#tokens + (elapsed * this.#rate) / 1000);
      this.#last = now;
    }
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/**
 * Counts abuse that is forgiven over time (one strike per second): `hit` returns true once the
 * count goes over `limit`.
 */
export class StrikeCounter {
  #strikes = 0;
  #last = 0;
  constructor(readonly limit: number) {}

  hit(now: number): boolean {
    this.#strikes = Math.max(0, this.#strikes - (now - this.#last) / 1000) + 1;
    this.#last = now;
    return this.#strikes > this.limit;
  }
}
