/**
 * The session gate's marks and counters in memory (the {@link GateStore} of the in-memory engine).
 *
 * Bounded whatever the traffic: both maps are kept in insertion order, which is (nearly) expiry
 * order, so every call first drops a few expired entries from the front (amortized O(1)), and each
 * map has a cap. At the cap, counters forget their oldest entry (a count can only come out low),
 * while claims fail closed (`claimOnce` answers false: a solution is never accepted twice).
 */
import type { GateStore } from './engine.js';

export interface MemoryGateStoreOptions {
  /**
   * Live one-time marks at most. A mark is written only for a genuine, unexpired challenge, so
   * this bounds the sessions issued within one challenge lifetime. @default 100000
   */
  maxClaims?: number;
  /** Live counters (address keys seen within a window) at most. @default 100000 */
  maxCounters?: number;
  /** The clock (tests). @default Date.now */
  now?: () => number;
}

export const memoryGateDefaults = { maxClaims: 100_000, maxCounters: 100_000 } as const;

/** Entries examined from the front of a map per call, to drop the expired ones. */
const SWEEP_STEP = 8;
/** A full scan for expired entries (only when a map is full) at most this often. */
const FULL_SWEEP_EVERY_MS = 1000;

interface Counter {
  count: number;
  until: number;
}

export class MemoryGateStore implements GateStore {
  /** key -> expiry (ms). */
  readonly #claims = new Map<string, number>();
  readonly #counters = new Map<string, Counter>();
  readonly #maxClaims: number;
  readonly #maxCounters: number;
  readonly #now: () => number;
  #lastFullSweep = 0;
  /** Claims refused because the store was full; counters forgotten to make room. */
  readonly stats = { claimsRefusedFull: 0, countersEvicted: 0 };

  constructor(options: MemoryGateStoreOptions = {}) {
    this.#maxClaims = options.maxClaims ?? memoryGateDefaults.maxClaims;
    this.#maxCounters = options.maxCounters ?? memoryGateDefaults.maxCounters;
    this.#now = options.now ?? Date.now;
  }

  /** Live entries (for tests and metrics). */
  get size(): { claims: number; counters: number } {
    return { claims: this.#claims.size, counters: this.#counters.size };
  }

  claimOnce(key: string, ttlMs: number): Promise<boolean> {
    const now = this.#now();
    sweepFront(this.#claims, now, (until) => until);
    const until = this.#claims.get(key);
    if (until !== undefined) {
      if (until > now) return Promise.resolve(false);
      this.#claims.delete(key);
    }
    if (this.#claims.size >= this.#maxClaims && !this.#fullSweep(now)) {
      this.stats.claimsRefusedFull++;
      return Promise.resolve(false);
    }
    this.#claims.set(key, now + Math.max(1, ttlMs));
    return Promise.resolve(true);
  }

  hit(key: string, windowMs: number): Promise<number> {
    const now = this.#now();
    sweepFront(this.#counters, now, (c) => c.until);
    let c = this.#counters.get(key);
    if (c !== undefined && c.until <= now) {
      this.#counters.delete(key);
      c = undefined;
    }
    if (c === undefined) {
      if (this.#counters.size >= this.#maxCounters) {
        // Forget the oldest window: its address pays the base cost again, nothing worse.
        const oldest = this.#counters.keys().next();
        if (oldest.done !== true) this.#counters.delete(oldest.value);
        this.stats.countersEvicted++;
      }
      c = { count: 0, until: now + Math.max(1, windowMs) };
      this.#counters.set(key, c);
    }
    return Promise.resolve(++c.count);
  }

  /** Drops every expired claim; true if that made room. At most once per second (O(n)). */
  #fullSweep(now: number): boolean {
    if (now - this.#lastFullSweep < FULL_SWEEP_EVERY_MS) return false;
    this.#lastFullSweep = now;
    for (const [key, until] of this.#claims) if (until <= now) this.#claims.delete(key);
    return this.#claims.size < this.#maxClaims;
  }
}

/** Deletes expired entries at the front of an insertion-ordered map, a few per call. */
function sweepFront<V>(map: Map<string, V>, now: number, expiry: (v: V) => number): void {
  let n = 0;
  for (const [key, value] of map) {
    if (expiry(value) > now || ++n > SWEEP_STEP) return;
    map.delete(key);
  }
}
