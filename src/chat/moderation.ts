/**
 * Reports and temporary bans, in memory. People are identified by keys that are never addresses
 * (see identity.ts); neither addresses nor keys are ever sent to users or logged.
 *
 * Two stores with different rules: open reports are bounded (the oldest are forgotten first when
 * `maxTracked` people are tracked), bans are never evicted: bounding memory may never lift a ban
 * early. Bans cannot be made cheaply (each needs `reportThreshold` distinct reporters), so their
 * number is bounded by what attackers can spend, and each is dropped when it expires.
 */

export interface ModerationOptions {
  reportThreshold: number;
  reportWindowMs: number;
  banMs: number;
  maxTracked: number;
}

export class Moderation {
  /** person -> (reporter -> time of their latest report); insertion order is age. */
  readonly #reports = new Map<string, Map<string, number>>();
  /** person -> end of the ban (ms). */
  readonly #bans = new Map<string, number>();
  readonly #o: ModerationOptions;

  constructor(options: ModerationOptions) {
    this.#o = options;
  }

  /** Records that `reporter` reported `target`; returns true if this report banned the target. */
  report(target: string, reporter: string, now: number): boolean {
    if (target === reporter) return false; // two tabs of one person
    if (this.banned(target, now)) return false; // nothing to add while the ban lasts
    let r = this.#reports.get(target);
    if (r === undefined) {
      if (this.#reports.size >= this.#o.maxTracked) {
        // Forget the oldest open report (Map iteration is insertion order). Never a ban.
        const oldest = this.#reports.keys().next().value;
        if (oldest !== undefined) this.#reports.delete(oldest);
      }
      r = new Map();
      this.#reports.set(target, r);
    }
    r.set(reporter, now);
    let recent = 0;
    for (const t of r.values()) if (now - t < this.#o.reportWindowMs) recent++;
    if (recent < this.#o.reportThreshold) return false;
    this.#bans.set(target, now + this.#o.banMs);
    this.#reports.delete(target); // a new ban needs new reports
    return true;
  }

  banned(person: string, now: number): boolean {
    const until = this.#bans.get(person);
    return until !== undefined && until > now;
  }

  /** Drops expired reports and bans (call periodically). */
  sweep(now: number): void {
    for (const [person, r] of this.#reports) {
      for (const [reporter, t] of r) if (now - t >= this.#o.reportWindowMs) r.delete(reporter);
      if (r.size === 0) this.#reports.delete(person);
    }
    for (const [person, until] of this.#bans) if (until <= now) this.#bans.delete(person);
  }

  /** People with open reports or a ban. */
  get size(): number {
    return this.#reports.size + this.#bans.size;
  }

  get bans(): number {
    return this.#bans.size;
  }
}
