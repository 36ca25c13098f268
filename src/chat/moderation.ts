/**
 * Moderation as the chat sees it: the evidence a conversation keeps, reports, ban checks before a
 * search, skips that keep two persons apart, and spam waves. The state lives in the engine's
 * {@link ModerationStore} (memory, or Redis for a cluster); this module applies the chat's
 * options to it and keeps the per-conversation parts.
 *
 * Nothing here is logged with a person id, an address key or chat text.
 */
import { createHash } from 'node:crypto';
import type { EvidenceLine, ModerationPolicy, ModerationStore, ReportReason, SearchCheck } from '../engine/engine.js';
import type { ChatOptions } from './options.js';

/** One line of a conversation, as the session keeps it for evidence. */
export interface ConversationLine {
  /** Written by the session's own user (else by the partner). */
  readonly mine: boolean;
  readonly text: string;
  readonly at: number;
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

/** A short key of the normalized text (what the store compares; the text itself is not kept). */
export function textKey(text: string): string {
  return createHash('sha256').update(normalizeText(text)).digest().toString('base64url', 0, 16);
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
    };
    this.#evidenceLines = o.evidenceLines;
    this.#evidenceChars = o.evidenceChars;
  }

  /**
   * Adds a line to a conversation's evidence, forgetting the oldest past the line and size
   * bounds. `log` is the session's; returns it (created on the first line).
   */
  keep(log: ConversationLine[] | undefined, mine: boolean, text: string, now: number): ConversationLine[] {
    const lines = log ?? [];
    lines.push({ mine, text, at: now });
    if (lines.length > this.#evidenceLines) lines.shift();
    let chars = 0;
    for (const l of lines) chars += l.text.length;
    while (chars > this.#evidenceChars && lines.length > 1) chars -= lines.shift()!.text.length;
    return lines;
  }

  /** The evidence of a report, seen from the reporter (`mine` lines are the reporter's). */
  evidence(log: readonly ConversationLine[] | undefined): EvidenceLine[] {
    if (log === undefined) return [];
    return log.map((l) => ({ from: l.mine ? 'reporter' : 'target', text: l.text, at: l.at }));
  }

  /** Records a report; resolves with the end of the ban it caused, or 0. */
  async report(
    target: { person: string; address: string },
    reporter: { person: string; address: string },
    reason: ReportReason,
    log: readonly ConversationLine[] | undefined,
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
  async spamCopy(from: { person: string; address: string }, partner: string, key: string, text: string, now: number, earlier?: string): Promise<number> {
    const n = await this.store.spamCopy(from.person, from.address, key, partner, [{ from: 'target', text, at: now }], this.policy, now, earlier);
    if (n === 0) this.stats.spamDropped++;
    return n;
  }
}
