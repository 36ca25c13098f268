/**
 * Moderation as the chat sees it: the evidence a conversation keeps, reports, ban checks before a
 * search, skips that keep two persons apart, and spam waves. The state lives in the engine's
 * {@link ModerationStore} (memory, or Redis for a cluster); this module applies the chat's
 * options to it and keeps the per-conversation parts.
 *
 * Nothing here is logged with a person id, an address key or chat text.
 */
import type { EvidenceLine, ModerationPolicy, ModerationStore, ReportReason, SearchCheck } from '../engine/engine.js';
import type { ChatOptions } from './options.js';

/**
 * The last lines of a conversation (both directions), the evidence a report takes: a ring of
 * at most `lines` lines and `chars` characters, made on the conversation's first line, written
 * in O(1) without allocating per line, and forgotten with the conversation.
 */
export class ConversationLog {
  readonly #texts: string[];
  readonly #at: number[];
  readonly #mine: boolean[];
  /** The `seq` a partner's line was given (0 for own lines): the replay source of a client that does not ack. */
  readonly #seq: number[];
  readonly #lines: number;
  readonly #chars: number;
  #start = 0;
  #count = 0;
  #total = 0;

  /**
   * The arrays grow with the lines up to `lines` and are a ring from then on: most conversations
   * are short, and a log is made for every one of them, on both sides.
   */
  constructor(lines: number, chars: number) {
    this.#texts = [];
    this.#at = [];
    this.#mine = [];
    this.#seq = [];
    this.#lines = Math.max(1, lines);
    this.#chars = chars;
  }

  /** Adds a line (a partner's with the `seq` it was given); the oldest go first past the bounds. */
  add(mine: boolean, text: string, at: number, seq = 0): void {
    const cap = this.#lines;
    if (this.#count === cap) this.#dropOldest();
    // Below `cap` lines ever written, i is the arrays' length (they grow by one) or below it.
    const i = (this.#start + this.#count) % cap;
    this.#texts[i] = text;
    this.#at[i] = at;
    this.#mine[i] = mine;
    this.#seq[i] = seq;
    this.#count++;
    this.#total += text.length;
    while (this.#total > this.#chars && this.#count > 1) this.#dropOldest();
  }

  /** The lines, oldest first, seen from the session's user (`mine` for its own). */
  lines(): Array<{ mine: boolean; text: string; at: number }> {
    const out: Array<{ mine: boolean; text: string; at: number }> = [];
    for (let k = 0; k < this.#count; k++) {
      const i = (this.#start + k) % this.#lines;
      out.push({ mine: this.#mine[i]!, text: this.#texts[i]!, at: this.#at[i]! });
    }
    return out;
  }

  /** The partner's lines still here with a `seq` above `after`, oldest first, as `[seq, text]`. */
  partnerLinesAfter(after: number): Array<[number, string]> {
    const out: Array<[number, string]> = [];
    for (let k = 0; k < this.#count; k++) {
      const i = (this.#start + k) % this.#lines;
      if (!this.#mine[i] && this.#seq[i]! > after) out.push([this.#seq[i]!, this.#texts[i]!]);
    }
    return out;
  }

  #dropOldest(): void {
    const i = this.#start;
    this.#total -= this.#texts[i]!.length;
    this.#texts[i] = '';
    this.#start = (i + 1) % this.#lines;
    this.#count--;
  }
}

/**
 * The advertising-like texts one connection sent lately, for spam waves: a ring of text keys with
 * the partners each reached. Written without allocating for a text seen once (the common case:
 * chat is not repeated); a list of partners is made only when a text goes to a second partner.
 */
export class RecentTexts {
  static readonly size = 16;
  readonly #keys = new Float64Array(RecentTexts.size).fill(-1);
  readonly #first: string[] = new Array<string>(RecentTexts.size).fill('');
  readonly #more: Array<string[] | undefined> = new Array<string[] | undefined>(RecentTexts.size).fill(undefined);
  #next = 0;

  /**
   * Records that text `key` goes to `partner`. Returns undefined if it reached that partner
   * before (or this is its first partner); else the partners it reached so far, this one included.
   */
  add(key: number, partner: string): readonly string[] | undefined {
    const keys = this.#keys;
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] !== key) continue;
      if (this.#first[i] === partner) return undefined;
      const more = (this.#more[i] ??= [this.#first[i]!]);
      if (more.includes(partner)) return undefined;
      more.push(partner);
      if (more.length > RecentTexts.size) more.splice(1, 1); // bounded; the first stays (the store needs it)
      return more;
    }
    const i = this.#next;
    this.#next = (i + 1) % keys.length;
    keys[i] = key;
    this.#first[i] = partner;
    this.#more[i] = undefined;
    return undefined;
  }

  /** Forgets that text `key` went to `partner` (its copy was dropped). */
  undo(key: number, partner: string): void {
    const i = this.#keys.indexOf(key);
    const more = i === -1 ? undefined : this.#more[i];
    if (more !== undefined && more[more.length - 1] === partner) more.pop();
  }
}

/** Running totals for /metrics (plain integers, read at scrape time). */
export interface ModerationStats {
  reports: Record<ReportReason, number>;
  /** Bans this node's reports caused. */
  bans: number;
  /** Copies of a spam wave dropped on this node. */
  spamDropped: number;
  /** Searches refused because of a ban. */
  refused: number;
}

// What makes a message look like advertising: a link, a handle, an e-mail address, a phone number.
const LINK = /\bhttps?:\/\/|\bwww\.|\b[a-z0-9-]{2,}\.(?:com|net|org|io|me|gg|ly|co|xyz|app|link|site|online|top|live|tv|ru|de|uk|info|biz|club|shop|store|click)\b/i;
const HANDLE = /(?:^|[\s(])@[\p{L}\p{N}_.]{2,}/u;
const EMAIL = /[^\s@]+@[^\s@]+\.[a-z]{2,}/i;
const PHONE = /\+?\d[\d\s().-]{7,}\d/;

/** True when a message could be advertising: long enough, or carrying a way to reach someone. */
export function looksLikeAdvertising(text: string, minChars: number): boolean {
  return text.length >= minChars || LINK.test(text) || HANDLE.test(text) || EMAIL.test(text) || PHONE.test(text);
}

/** The same message, however it is dressed: NFKC, lower case, no spacing or invisible characters. */
export function normalizeText(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[\s\u200b-\u200f\u2060\ufeff]+/g, '');
}

/**
 * A 53-bit key of the normalized text (what the spam counters compare; the text itself is not
 * kept). Plain ASCII, the common case, is lower-cased and stripped of spacing while it is
 * hashed, without allocating; anything else goes through {@link normalizeText} first.
 */
export function textKey(text: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  // The first 256 characters decide (enough to tell messages apart; bounded work per message).
  const end = Math.min(text.length, 256);
  for (let i = 0; i < end; i++) {
    let c = text.charCodeAt(i);
    if (c > 0x7e) return hashed(normalizeText(text));
    if (c <= 0x20) continue; // spacing and control characters
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  return finish(h1, h2);
}

function hashed(normalized: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  const end = Math.min(normalized.length, 256);
  for (let i = 0; i < end; i++) {
    const c = normalized.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  return finish(h1, h2);
}

/** cyrb53's finish: two 32-bit lanes mixed into 53 bits. */
function finish(h1: number, h2: number): number {
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

export class Moderation {
  readonly store: ModerationStore;
  readonly policy: ModerationPolicy;
  readonly stats: ModerationStats = {
    reports: { spam: 0, harassment: 0, sexual: 0, minor: 0, other: 0 },
    bans: 0,
    spamDropped: 0,
    refused: 0,
  };
  readonly #evidenceLines: number;
  readonly #evidenceChars: number;

  constructor(store: ModerationStore, o: ChatOptions) {
    this.store = store;
    this.policy = {
      threshold: o.reportThreshold,
      windowMs: o.reportWindowMs,
      banMs: o.banMs,
      maxBanMs: o.maxBanMs,
      offenceMemoryMs: o.offenceMemoryMs,
      reportTtlMs: o.reportTtlMs,
      maxCases: o.maxTracked,
      spamPartners: o.spamPartners,
      spamWindowMs: o.spamWindowMs,
      skipMs: o.skipMemoryMs,
      maxSkips: o.skipMemoryMax,
    };
    this.#evidenceLines = o.evidenceLines;
    this.#evidenceChars = o.evidenceChars;
  }

  /** Adds a line to a conversation's evidence (`log`, the session's; made on the first line). */
  keep(log: ConversationLog | undefined, mine: boolean, text: string, now: number, seq = 0): ConversationLog {
    const l = log ?? new ConversationLog(this.#evidenceLines, this.#evidenceChars);
    l.add(mine, text, now, seq);
    return l;
  }

  /** The evidence of a report, seen from the reporter (`mine` lines are the reporter's). */
  evidence(log: ConversationLog | undefined): EvidenceLine[] {
    if (log === undefined) return [];
    return log.lines().map((l) => ({ from: l.mine ? 'reporter' : 'target', text: l.text, at: l.at }));
  }

  /** Records a report; resolves with the end of the ban it caused, or 0. */
  async report(
    target: { person: string; address: string },
    reporter: { person: string; address: string },
    reason: ReportReason,
    log: ConversationLog | undefined,
    now: number,
  ): Promise<number> {
    this.stats.reports[reason]++;
    const until = await this.store.report(
      { target: target.person, targetAddress: target.address, reporter: reporter.person, reporterAddress: reporter.address, reason, evidence: this.evidence(log) },
      this.policy,
      now,
    );
    if (until > 0) this.stats.bans++;
    return until;
  }

  checkSearch(person: string, address: string, now: number): Promise<SearchCheck> {
    return this.store.checkSearch(person, address, now);
  }

  skip(a: string, b: string, now: number): Promise<void> {
    return this.store.skip(a, b, this.policy, now);
  }

  /**
   * Records that `from` sent `text` (its key: {@link textKey}) to `partner`. Resolves with the
   * number of partners it has reached in the window, or 0 when this copy is one too many (the
   * copy was dropped, and the store opened a case with it as evidence).
   */
  async spamCopy(from: { person: string; address: string }, partner: string, key: number, text: string, now: number, earlier?: string): Promise<number> {
    const n = await this.store.spamCopy(from.person, from.address, key.toString(36), partner, [{ from: 'target', text, at: now }], this.policy, now, earlier);
    if (n === 0) this.stats.spamDropped++;
    return n;
  }
}
