/**
 * Restart windows of a `--resume` run: the spans of time during which some client of a worker
 * was cut off (its connection dropped, e.g. closed with 1012 by a node that restarts, until it
 * resumed elsewhere or gave up) or heard that its partner was (`away` until `back`). The worker
 * tells this tracker when each such disruption begins and ends; the tracker opens a window when
 * the first begins and closes it when the last ends, and sorts every message's delay into the
 * window it was sent or delivered in, or into the steady state.
 *
 * A disruption that begins less than `mergeUs` after a window closed reopens that window, so
 * that one restart (whose clients come back one by one while their partners' `away` and `back`
 * arrive) is one window, not several.
 *
 * Times are microseconds of the machine-wide monotonic clock (`nowMicros()`), so windows of
 * several worker processes line up; windows are merged across workers by their number.
 */
import { Histogram, type HistogramJSON } from './histogram.js';

/** One restart window as a worker reports it. */
export interface WindowJSON {
  /** 1, 2, ... in the order the worker saw them. */
  readonly index: number;
  readonly startUs: number;
  /** null while still open. */
  readonly endUs: number | null;
  /** Delay (µs) of the messages sent or delivered in the window. */
  readonly latency: HistogramJSON;
  /** Time (µs) from a connection's drop to its `resumed`. */
  readonly resume: HistogramJSON;
  /** Connections that dropped in the window (closed by the server, or lost). */
  readonly drops: number;
  /** Resumes that failed (`resume_failed`, or resumed out of the conversation). */
  readonly failed: number;
}

/** A worker's restart figures. */
export interface RestartJSON {
  /** Delay (µs) of the messages neither sent nor delivered in a window (after the warm-up). */
  readonly steady: HistogramJSON;
  readonly windows: readonly WindowJSON[];
  /** Messages missing inside conversations: `[sender, first seq, last seq]` (the bench's own numbers). */
  readonly holes: ReadonlyArray<readonly [string, number, number]>;
  /**
   * The last message each client sent on a connection that was then closed under it:
   * `[sender, seq, µs from its sending to the client seeing the close]` (within a second).
   */
  readonly lastLines: ReadonlyArray<readonly [string, number, number]>;
}

/** Diagnostic lists kept at most this long. */
const MAX_LIST = 10_000;

class Window {
  endUs: number | null = null;
  readonly latency = new Histogram();
  readonly resume = new Histogram();
  drops = 0;
  failed = 0;
  constructor(
    readonly index: number,
    readonly startUs: number,
  ) {}
}

/** A window merged over every worker. */
export interface MergedWindow {
  readonly index: number;
  readonly startUs: number;
  readonly endUs: number | null;
  readonly latency: Histogram;
  readonly resume: Histogram;
  readonly drops: number;
  readonly failed: number;
}

export class RestartWindows {
  /** Disruptions in progress. */
  #open = 0;
  readonly #windows: Window[] = [];
  readonly #steady = new Histogram();
  readonly #holes: Array<[string, number, number]> = [];
  readonly #lastLines: Array<[string, number, number]> = [];

  /** @param mergeUs a disruption this soon after a window closed reopens it. @default 1 s */
  constructor(readonly mergeUs = 1_000_000) {}

  /** Whether a window is open now. */
  get open(): boolean {
    return this.#open > 0;
  }

  /** A disruption begins (a connection dropped, or a partner is away). */
  begin(now: number): void {
    if (this.#open++ > 0) return;
    const last = this.#windows[this.#windows.length - 1];
    if (last !== undefined && last.endUs !== null && now - last.endUs < this.mergeUs) last.endUs = null;
    else this.#windows.push(new Window(this.#windows.length + 1, now));
  }

  /** A disruption ends (resumed, gave up, partner back or gone). */
  end(now: number): void {
    if (this.#open === 0) return;
    if (--this.#open === 0) this.#windows[this.#windows.length - 1]!.endUs = now;
  }

  /** A connection dropped (call after `begin`). */
  dropped(): void {
    const w = this.#current();
    if (w !== undefined) w.drops++;
  }

  /** A connection resumed `us` after it dropped. */
  resumed(us: number): void {
    this.#current()?.resume.record(us);
  }

  /** Messages `from`..`to` of `sender` never came (a hole inside a conversation). */
  hole(sender: string, from: number, to: number): void {
    if (this.#holes.length < MAX_LIST) this.#holes.push([sender, from, to]);
  }

  /** `sender`'s message `seq` was its last on a connection closed under it `us` later. */
  lastLine(sender: string, seq: number, us: number): void {
    if (this.#lastLines.length < MAX_LIST) this.#lastLines.push([sender, seq, us]);
  }

  /** A resume failed. */
  failed(): void {
    const w = this.#current();
    if (w !== undefined) w.failed++;
  }

  /**
   * A message sent at `sentAt` was delivered `now`: its delay goes to the window it was
   * delivered in (the open one) or sent in, else to the steady state if `measuring`.
   */
  record(sentAt: number, now: number, measuring: boolean): void {
    const delay = now - sentAt;
    if (this.#open > 0) {
      this.#windows[this.#windows.length - 1]!.latency.record(delay);
      return;
    }
    for (let i = this.#windows.length - 1; i >= 0; i--) {
      const w = this.#windows[i]!;
      if (sentAt >= w.startUs && sentAt <= w.endUs!) {
        w.latency.record(delay);
        return;
      }
      if (w.endUs! < sentAt) break; // older windows ended earlier still
    }
    if (measuring) this.#steady.record(delay);
  }

  #current(): Window | undefined {
    return this.#open > 0 ? this.#windows[this.#windows.length - 1] : undefined;
  }

  toJSON(): RestartJSON {
    return {
      steady: this.#steady.toJSON(),
      windows: this.#windows.map((w) => ({ index: w.index, startUs: w.startUs, endUs: w.endUs, latency: w.latency.toJSON(), resume: w.resume.toJSON(), drops: w.drops, failed: w.failed })),
      holes: this.#holes,
      lastLines: this.#lastLines,
    };
  }
}

/**
 * Merges the workers' figures: window k of every worker is one window (the earliest start, the
 * latest end, null if any is still open), histograms and counts added.
 */
export function mergeRestarts(list: readonly RestartJSON[]): { steady: Histogram; windows: MergedWindow[]; lostLastLines: LostLastLines } {
  const steady = new Histogram();
  const byIndex = new Map<number, { index: number; startUs: number; endUs: number | null; latency: Histogram; resume: Histogram; drops: number; failed: number }>();
  for (const r of list) {
    steady.merge(r.steady);
    for (const w of r.windows) {
      const m = byIndex.get(w.index);
      if (m === undefined) {
        byIndex.set(w.index, { index: w.index, startUs: w.startUs, endUs: w.endUs, latency: Histogram.fromJSON(w.latency), resume: Histogram.fromJSON(w.resume), drops: w.drops, failed: w.failed });
        continue;
      }
      m.startUs = Math.min(m.startUs, w.startUs);
      m.endUs = m.endUs === null || w.endUs === null ? null : Math.max(m.endUs, w.endUs);
      m.latency.merge(w.latency);
      m.resume.merge(w.resume);
      m.drops += w.drops;
      m.failed += w.failed;
    }
  }
  return { steady, windows: [...byIndex.values()].sort((a, b) => a.index - b.index), lostLastLines: matchHoles(list) };
}

/** How many of the missing messages were their sender's last on a connection closed under it. */
export interface LostLastLines {
  /** Messages missing inside conversations (all workers). */
  readonly missing: number;
  /** Of those, the sender's last message before its connection was closed under it. */
  readonly lastBeforeClose: number;
  /** For those: µs from their sending to the sender seeing the close, least and most. */
  readonly minUsBeforeClose: number | null;
  readonly maxUsBeforeClose: number | null;
}

function matchHoles(list: readonly RestartJSON[]): LostLastLines {
  const last = new Map<string, number>();
  for (const r of list) for (const [sender, seq, us] of r.lastLines ?? []) last.set(`${sender} ${seq}`, us);
  let missing = 0;
  let matched = 0;
  let min: number | null = null;
  let max: number | null = null;
  for (const r of list) {
    for (const [sender, from, to] of r.holes ?? []) {
      for (let seq = from; seq <= to; seq++) {
        missing++;
        const us = last.get(`${sender} ${seq}`);
        if (us === undefined) continue;
        matched++;
        min = min === null ? us : Math.min(min, us);
        max = max === null ? us : Math.max(max, us);
      }
    }
  }
  return { missing, lastBeforeClose: matched, minUsBeforeClose: min, maxUsBeforeClose: max };
}
