/**
 * A small HDR-like latency histogram: log-linear buckets (every power of two split into
 * 2^SUB_BITS equal sub-buckets), so any recorded value is known within 1/2^SUB_BITS
 * (about 3 %) of itself, whatever its magnitude. Fixed size, no allocation per record,
 * and two histograms merge by adding counts, which is how worker processes combine.
 *
 * Values are non-negative integers in any unit (the load generator records microseconds);
 * values above {@link Histogram.MAX_VALUE} are clamped to it.
 */

/** Sub-buckets per power of two: 2^5 = 32, a relative error of at most 1/32. */
const SUB_BITS = 5;
const SUB = 1 << SUB_BITS;
/** Values up to 2^32 - 1 (71 minutes in microseconds); the index uses Math.clz32. */
const MAX_EXP = 31;
const BUCKETS = (MAX_EXP - SUB_BITS + 2) * SUB;

/** Bucket index of a value (exact below 32, then log-linear). */
export function bucketOf(value: number): number {
  if (value < SUB) return value < 0 ? 0 : value | 0;
  const v = value >= Histogram.MAX_VALUE ? Histogram.MAX_VALUE : value >>> 0;
  const exp = 31 - Math.clz32(v);
  const shift = exp - SUB_BITS;
  return (shift + 1) * SUB + ((v >>> shift) - SUB);
}

/** Smallest value that falls in bucket `index`. */
export function bucketLow(index: number): number {
  if (index < SUB) return index;
  const shift = Math.floor(index / SUB) - 1;
  const mantissa = (index % SUB) + SUB;
  return mantissa * 2 ** shift;
}

/** Largest value that falls in bucket `index`. */
export function bucketHigh(index: number): number {
  if (index < SUB) return index;
  const shift = Math.floor(index / SUB) - 1;
  return bucketLow(index) + 2 ** shift - 1;
}

/** The serializable form: sparse `[bucket, count]` pairs plus the exact extremes and sum. */
export interface HistogramJSON {
  readonly counts: ReadonlyArray<readonly [number, number]>;
  readonly n: number;
  readonly min: number;
  readonly max: number;
  readonly sum: number;
}

export class Histogram {
  /** Largest value recorded exactly into a bucket; larger values are clamped. */
  static readonly MAX_VALUE = 2 ** 32 - 1;

  readonly #counts = new Float64Array(BUCKETS);
  #n = 0;
  #min = Infinity;
  #max = 0;
  #sum = 0;

  /** Records one value (negative values count as 0). */
  record(value: number): void {
    const v = value < 0 ? 0 : value > Histogram.MAX_VALUE ? Histogram.MAX_VALUE : value;
    this.#counts[bucketOf(v)]++;
    this.#n++;
    this.#sum += v;
    if (v < this.#min) this.#min = v;
    if (v > this.#max) this.#max = v;
  }

  /** Number of values recorded. */
  get count(): number {
    return this.#n;
  }
  get min(): number {
    return this.#n === 0 ? 0 : this.#min;
  }
  get max(): number {
    return this.#max;
  }
  get mean(): number {
    return this.#n === 0 ? 0 : this.#sum / this.#n;
  }

  /**
   * The value at percentile `p` (0..100): the upper bound of the bucket holding the value of
   * rank ceil(p/100 * n), clamped to the exact min and max. 0 when empty.
   */
  percentile(p: number): number {
    if (this.#n === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.#n));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i];
      if (seen >= rank) return Math.min(this.#max, Math.max(this.#min, bucketHigh(i)));
    }
    return this.#max;
  }

  /** Adds every count of `other` into this one. */
  merge(other: Histogram | HistogramJSON): this {
    const src = other instanceof Histogram ? other.toJSON() : other;
    for (const [i, c] of src.counts) this.#counts[i] += c;
    if (src.n > 0) {
      this.#n += src.n;
      this.#sum += src.sum;
      if (src.min < this.#min) this.#min = src.min;
      if (src.max > this.#max) this.#max = src.max;
    }
    return this;
  }

  /** Forgets everything (used for per-interval deltas). */
  reset(): void {
    this.#counts.fill(0);
    this.#n = 0;
    this.#min = Infinity;
    this.#max = 0;
    this.#sum = 0;
  }

  /** Non-empty buckets with their value range, for plots. */
  buckets(): Array<{ low: number; high: number; count: number }> {
    const out: Array<{ low: number; high: number; count: number }> = [];
    for (let i = 0; i < BUCKETS; i++) {
      const c = this.#counts[i];
      if (c > 0) out.push({ low: bucketLow(i), high: bucketHigh(i), count: c });
    }
    return out;
  }

  toJSON(): HistogramJSON {
    const counts: Array<[number, number]> = [];
    for (let i = 0; i < BUCKETS; i++) if (this.#counts[i] > 0) counts.push([i, this.#counts[i]]);
    return { counts, n: this.#n, min: this.min, max: this.#max, sum: this.#sum };
  }

  static fromJSON(json: HistogramJSON): Histogram {
    return new Histogram().merge(json);
  }
}
