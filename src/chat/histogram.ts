/**
 * Fixed-bucket histograms of durations, for the chat's running totals (src/chat/service.ts): a
 * few plain numbers, nothing allocated per observation, read by the metrics endpoint at scrape
 * time (src/http/metrics.ts exports them as Prometheus histograms in seconds).
 */

/** Counts of durations in fixed buckets. Mutated only by {@link observe}. */
export interface DurationHistogram {
  /** Upper bounds of the buckets in milliseconds, ascending. */
  readonly boundsMs: readonly number[];
  /**
   * `counts[i]`: observations in `(boundsMs[i-1], boundsMs[i]]`; the last slot,
   * `counts[boundsMs.length]`, those above every bound. Not cumulative.
   */
  readonly counts: number[];
  /** Sum of every observation, ms. */
  sumMs: number;
  count: number;
}

export function durationHistogram(boundsMs: readonly number[]): DurationHistogram {
  for (let i = 1; i < boundsMs.length; i++) if (!(boundsMs[i]! > boundsMs[i - 1]!)) throw new RangeError('bounds must ascend');
  return { boundsMs, counts: new Array<number>(boundsMs.length + 1).fill(0), sumMs: 0, count: 0 };
}

/** Adds one duration (ms; negative counts as 0: clocks may step). */
export function observe(h: DurationHistogram, ms: number): void {
  const v = ms > 0 ? ms : 0;
  const bounds = h.boundsMs;
  let i = 0;
  while (i < bounds.length && v > bounds[i]!) i++;
  h.counts[i]!++;
  h.sumMs += v;
  h.count++;
}

/**
 * Time from `find` to `matched`: a pair made at once takes milliseconds; a user with interests
 * waits up to `interestWaitMs` (5 s by default) for a shared one; beyond a minute the queue is
 * short of people.
 */
export const matchWaitBoundsMs: readonly number[] = [50, 100, 250, 500, 1000, 2500, 5000, 7500, 10_000, 20_000, 30_000, 60_000, 120_000, 300_000];

/** Conversation length: from a skip after a glance to a long talk. */
export const conversationBoundsMs: readonly number[] = [2000, 5000, 10_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_200_000, 1_800_000, 3_600_000];
