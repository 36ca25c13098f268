/**
 * Reports and temporary bans, in memory. People are identified by a salted hash of their IP
 * address ({@link ipHash}); neither IPs nor hashes are ever sent to users.
 */
import { createHash } from 'node:crypto';

/** A short salted SHA-256 of an IP address (the same IP and salt give the same hash). */
export function ipHash(salt: string, ip: string): string {
  // 16 bytes as 22 base64url characters, encoded directly: a slice of the full digest's string
  // would keep the whole string alive for as long as the session.
  return createHash('sha256').update(salt).update('\0').update(ip).digest().toString('base64url', 0, 16);
}

interface Record_ {
  /** reporter hash -> time of their latest report */
  reporters: Map<string, number>;
  bannedUntil: number;
}

export interface ModerationOptions {
  reportThreshold: number;
  reportWindowMs: number;
  banMs: number;
  maxTracked: number;
}

export class Moderation {
  readonly #people = new Map<string, Record_>();
  readonly #o: ModerationOptions;

  constructor(options: ModerationOptions) {
    this.#o = options;
  }

  /** Records that `reporter` reported `target`; returns true if this report banned the target. */
  report(target: string, reporter: string, now: number): boolean {
    if (target === reporter) return false; // two tabs of one person
    let r = this.#people.get(target);
    if (r === undefined) {
      if (this.#people.size >= this.#o.maxTracked) {
        // Forget the oldest entry (Map iteration is insertion order).
        const oldest = this.#people.keys().next().value;
        if (oldest !== undefined) this.#people.delete(oldest);
      }
      r = { reporters: new Map(), bannedUntil: 0 };
      this.#people.set(target, r);
    }
    r.reporters.set(reporter, now);
    if (r.bannedUntil > now) return false;
    let recent = 0;
    for (const t of r.reporters.values()) if (now - t < this.#o.reportWindowMs) recent++;
    if (recent < this.#o.reportThreshold) return false;
    r.bannedUntil = now + this.#o.banMs;
    r.reporters.clear(); // a new ban needs new reports
    return true;
  }

  banned(person: string, now: number): boolean {
    const r = this.#people.get(person);
    return r !== undefined && r.bannedUntil > now;
  }

  /** Drops expired reports and bans (call periodically). */
  sweep(now: number): void {
    for (const [person, r] of this.#people) {
      for (const [reporter, t] of r.reporters) if (now - t >= this.#o.reportWindowMs) r.reporters.delete(reporter);
      if (r.reporters.size === 0 && r.bannedUntil <= now) this.#people.delete(person);
    }
  }

  get size(): number {
    return this.#people.size;
  }
}
