/**
 * The moderation store of the memory engine (one process; shared by the engines of a hub).
 * Synchronous underneath, so every operation is trivially atomic. Bounded: open cases are capped
 * at `policy.maxCases` (the oldest are forgotten first), every other record expires and is swept;
 * bans are never dropped before they end.
 */
import { randomUUID } from 'node:crypto';
import type { EvidenceLine, ModerationPolicy, ModerationStore, Report, ReportCase, ReportReason, SearchCheck } from './engine.js';

interface Case {
  id: string;
  at: number;
  reason: ReportReason;
  automatic: boolean;
  address: string;
  evidence: readonly EvidenceLine[];
  /** Reporter persons and addresses that counted, with the time they did (for the window). */
  persons: Map<string, number>;
  addresses: Map<string, number>;
  reporters: number;
}

interface Ban {
  until: number;
  address: string;
}

/** Lines of evidence a case keeps at most (the newest). */
export const EVIDENCE_MAX = 40;

const NO_ONE: readonly string[] = Object.freeze([]);
const NOT_BANNED: SearchCheck = Object.freeze({ bannedUntil: 0, avoid: NO_ONE });

/** Sweeps run at most this often (ms); each costs O(records). */
const SWEEP_EVERY_MS = 10_000;

export class MemoryModerationStore implements ModerationStore {
  /** person -> open case; insertion order is age (a case is re-inserted when reported again). */
  readonly #cases = new Map<string, Case>();
  readonly #caseIds = new Map<string, string>();
  readonly #bans = new Map<string, Ban>();
  readonly #addressBans = new Map<string, number>();
  /** person -> [count, expiry] of bans within the offence memory. */
  readonly #offences = new Map<string, { count: number; until: number }>();
  /** person -> (other person -> expiry). */
  readonly #skips = new Map<string, Map<string, number>>();
  /** person + '\0' + textKey -> (partner -> time), and persons whose wave already opened a case. */
  readonly #spam = new Map<string, Map<string, number>>();
  readonly #waves = new Map<string, number>();
  #lastSweep = 0;
  #policy: ModerationPolicy | undefined;

  report(r: Report, policy: ModerationPolicy, now: number): Promise<number> {
    this.#sweep(policy, now);
    if (r.target === r.reporter) return Promise.resolve(0); // two tabs of one person
    let c = this.#cases.get(r.target);
    if (c === undefined) {
      c = this.#open(r.target, r.targetAddress, r.reason, false, policy);
    } else {
      this.#cases.delete(r.target); // re-insert: newest last
      this.#cases.set(r.target, c);
    }
    c.at = now;
    c.reason = r.reason;
    c.automatic = false;
    c.address = r.targetAddress;
    c.evidence = mergeEvidence(c.evidence, r.evidence);
    for (const [k, t] of c.persons) if (now - t >= policy.windowMs) c.persons.delete(k);
    for (const [k, t] of c.addresses) if (now - t >= policy.windowMs) c.addresses.delete(k);
    if (c.persons.has(r.reporter) || c.addresses.has(r.reporterAddress)) return Promise.resolve(0);
    c.persons.set(r.reporter, now);
    c.addresses.set(r.reporterAddress, now);
    c.reporters++;
    if (this.#banEnd(r.target, now) > 0 || c.persons.size < policy.threshold) return Promise.resolve(0);
    c.persons.clear(); // a new ban needs new reports
    c.addresses.clear();
    const offence = this.#offences.get(r.target);
    const previous = offence !== undefined && offence.until > now ? offence.count : 0;
    const until = now + Math.min(policy.maxBanMs, policy.banMs * 2 ** previous);
    this.#offences.set(r.target, { count: previous + 1, until: now + policy.offenceMemoryMs });
    this.#setBan(r.target, r.targetAddress, until);
    return Promise.resolve(until);
  }

  checkSearch(person: string, address: string, now: number): Promise<SearchCheck> {
    return Promise.resolve(this.#check(person, address, now));
  }

  /** No allocation for a person with no skips and no ban (a constant answer); one list otherwise. */
  #check(person: string, address: string, now: number): SearchCheck {
    const own = this.#bans.size === 0 ? 0 : this.#banEnd(person, now);
    const byAddress = this.#addressBans.size === 0 ? 0 : (this.#addressBans.get(address) ?? 0);
    const bannedUntil = Math.max(own, byAddress > now ? byAddress : 0);
    const skips = this.#skips.get(person);
    if (skips === undefined) return bannedUntil === 0 ? NOT_BANNED : { bannedUntil, avoid: NO_ONE };
    // A skip is (re)inserted at the end with the newest expiry (`skipMs` is one setting), so the
    // expired ones are the oldest: dropped from the front, then the rest copied by one builtin
    // spread (no per-entry destructuring: this runs for every search, with up to 200 entries).
    for (const [other, until] of skips) {
      if (until > now) break;
      skips.delete(other);
    }
    if (skips.size === 0) {
      this.#skips.delete(person);
      return bannedUntil === 0 ? NOT_BANNED : { bannedUntil, avoid: NO_ONE };
    }
    return { bannedUntil, avoid: [...skips.keys()] };
  }

  skip(a: string, b: string, policy: ModerationPolicy, now: number): Promise<void> {
    this.#sweep(policy, now);
    if (a === b) return Promise.resolve();
    const until = now + policy.skipMs;
    this.#skipOneWay(a, b, until, policy.maxSkips);
    this.#skipOneWay(b, a, until, policy.maxSkips);
    return Promise.resolve();
  }

  #skipOneWay(x: string, y: string, until: number, max: number): void {
    let m = this.#skips.get(x);
    if (m === undefined) this.#skips.set(x, (m = new Map()));
    else if (!m.delete(y) && m.size >= max) m.delete(m.keys().next().value!);
    m.set(y, until);
  }

  ban(person: string, ms: number, now: number): Promise<number> {
    const until = now + ms;
    this.#setBan(person, this.#cases.get(person)?.address ?? this.#bans.get(person)?.address ?? '', until);
    return Promise.resolve(until);
  }

  unban(person: string, now: number): Promise<boolean> {
    const ban = this.#bans.get(person);
    if (ban === undefined || ban.until <= now) return Promise.resolve(false);
    this.#bans.delete(person);
    if (ban.address !== '' && this.#addressBans.get(ban.address) === ban.until) this.#addressBans.delete(ban.address);
    return Promise.resolve(true);
  }

  cases(limit: number, now: number): Promise<ReportCase[]> {
    if (this.#policy !== undefined) this.#sweep(this.#policy, now);
    const out: ReportCase[] = [];
    const all = [...this.#cases.entries()];
    for (let i = all.length - 1; i >= 0 && out.length < limit; i--) {
      const [person, c] = all[i]!;
      out.push({
        id: c.id,
        at: c.at,
        reason: c.reason,
        reporters: c.reporters,
        automatic: c.automatic,
        target: { person, banned: this.#banEnd(person, now) > 0 },
        evidence: c.evidence,
      });
    }
    return Promise.resolve(out);
  }

  dismiss(id: string, _now: number): Promise<boolean> {
    const person = this.#caseIds.get(id);
    if (person === undefined) return Promise.resolve(false);
    this.#caseIds.delete(id);
    this.#cases.delete(person);
    return Promise.resolve(true);
  }

  spamCopy(person: string, address: string, textKey: string, partner: string, evidence: readonly EvidenceLine[], policy: ModerationPolicy, now: number, earlier?: string): Promise<number> {
    this.#sweep(policy, now);
    const key = `${person}\0${textKey}`;
    let partners = this.#spam.get(key);
    if (partners === undefined) this.#spam.set(key, (partners = new Map()));
    for (const [p, t] of partners) if (now - t >= policy.spamWindowMs) partners.delete(p);
    if (earlier !== undefined && !partners.has(earlier)) partners.set(earlier, now);
    if (partners.has(partner) || partners.size < policy.spamPartners) {
      partners.set(partner, now);
      return Promise.resolve(partners.size);
    }
    if ((this.#waves.get(person) ?? 0) <= now) {
      // The first copy refused in this window opens an automatic case for review.
      this.#waves.set(person, now + policy.spamWindowMs);
      let c = this.#cases.get(person);
      if (c === undefined) c = this.#open(person, address, 'spam', true, policy);
      c.at = now;
      c.reason = 'spam';
      c.evidence = mergeEvidence(c.evidence, evidence);
      c.address = address;
    }
    return Promise.resolve(0);
  }

  bansInForce(now: number): Promise<number> {
    let n = 0;
    for (const b of this.#bans.values()) if (b.until > now) n++;
    return Promise.resolve(n);
  }

  /** Records held, for tests of the bounds. */
  get size(): number {
    return this.#cases.size + this.#bans.size + this.#addressBans.size + this.#offences.size + this.#skips.size + this.#spam.size + this.#waves.size;
  }

  #open(person: string, address: string, reason: ReportReason, automatic: boolean, policy: ModerationPolicy): Case {
    if (this.#cases.size >= policy.maxCases) {
      const [oldest, c] = this.#cases.entries().next().value as [string, Case];
      this.#cases.delete(oldest);
      this.#caseIds.delete(c.id);
    }
    const c: Case = { id: randomUUID(), at: 0, reason, automatic, address, evidence: [], persons: new Map(), addresses: new Map(), reporters: 0 };
    this.#cases.set(person, c);
    this.#caseIds.set(c.id, person);
    return c;
  }

  #setBan(person: string, address: string, until: number): void {
    this.#bans.set(person, { until, address });
    if (address !== '') this.#addressBans.set(address, Math.max(until, this.#addressBans.get(address) ?? 0));
  }

  #banEnd(person: string, now: number): number {
    const b = this.#bans.get(person);
    return b !== undefined && b.until > now ? b.until : 0;
  }

  #sweep(policy: ModerationPolicy, now: number): void {
    this.#policy = policy;
    if (now - this.#lastSweep < SWEEP_EVERY_MS) return;
    this.#lastSweep = now;
    for (const [person, c] of this.#cases) {
      if (now - c.at >= policy.reportTtlMs) {
        this.#cases.delete(person);
        this.#caseIds.delete(c.id);
      }
    }
    for (const [person, b] of this.#bans) if (b.until <= now) this.#bans.delete(person);
    for (const [address, until] of this.#addressBans) if (until <= now) this.#addressBans.delete(address);
    for (const [person, o] of this.#offences) if (o.until <= now) this.#offences.delete(person);
    for (const [person, m] of this.#skips) {
      for (const [other, until] of m) if (until <= now) m.delete(other);
      if (m.size === 0) this.#skips.delete(person);
    }
    for (const [key, m] of this.#spam) {
      for (const [p, t] of m) if (now - t >= policy.spamWindowMs) m.delete(p);
      if (m.size === 0) this.#spam.delete(key);
    }
    for (const [person, until] of this.#waves) if (until <= now) this.#waves.delete(person);
  }
}

/** A case's evidence: earlier lines, then new ones not already there, the newest {@link EVIDENCE_MAX} kept. */
export function mergeEvidence(old: readonly EvidenceLine[], add: readonly EvidenceLine[]): EvidenceLine[] {
  const key = (l: EvidenceLine): string => `${l.from}\0${l.at}\0${l.text}`;
  const seen = new Set(old.map(key));
  const out = [...old];
  for (const l of add) if (!seen.has(key(l))) out.push(l);
  return out.slice(-EVIDENCE_MAX);
}
