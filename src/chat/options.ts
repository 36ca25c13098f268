/**
 * Every limit of the chat in one place, each with its default and the reason for it.
 * The CLI (src/cli/config.ts) maps flags and environment variables onto these.
 */
export interface ChatOptions {
  /** Longest `msg.text`, in characters (code points); longer gets `too_long`. @default 2000 */
  maxMessageChars: number;
  /** Interest tags kept per user (the rest are dropped). @default 10 */
  maxInterests: number;
  /** Longest interest tag in characters (longer tags are cut). @default 32 */
  maxInterestChars: number;
  /** A user with interests waits this long for a shared interest, then accepts anyone (ms). @default 5000 */
  interestWaitMs: number;
  /** Client messages per second per connection (token refill rate); 0 turns limiting off. @default 5 */
  rateLimit: number;
  /** Bucket size: messages a client may send in a burst. @default 10 */
  rateBurst: number;
  /** Rate-limited messages (forgiven at 1/s) after which the connection is closed 1008. @default 20 */
  floodStrikes: number;
  /** Recent skip partners (either way) a user is not paired with again. @default 5 */
  noRepeat: number;
  /** Distinct reporters within `reportWindowMs` that get a user refused new matches. @default 3 */
  reportThreshold: number;
  /** Window in which reports are counted (ms). @default 3600000 (one hour) */
  reportWindowMs: number;
  /** How long a reported user is refused new matches the first time (ms). @default 1800000 (30 minutes) */
  banMs: number;
  /** Each later ban within `offenceMemoryMs` doubles, up to this (ms). @default 86400000 (a day) */
  maxBanMs: number;
  /** How long earlier bans count for the doubling (ms). @default 604800000 (7 days) */
  offenceMemoryMs: number;
  /** How long a report's case and evidence are kept after the last report (ms; `--report-ttl`). @default 604800000 (7 days) */
  reportTtlMs: number;
  /** Lines of a conversation kept (in memory, while it lasts) as evidence for a report. @default 20 */
  evidenceLines: number;
  /** Characters of those lines kept at most (the oldest lines go first). @default 8000 */
  evidenceChars: number;
  /** A spam wave: the same advertising-like text to this many different partners... @default 5 */
  spamPartners: number;
  /** ...within this window (ms). @default 600000 (10 minutes) */
  spamWindowMs: number;
  /** Messages this long (or with a link, handle, e-mail or phone number) may be advertising. @default 20 */
  spamMinChars: number;
  /** Two persons, one of whom skipped the other, are not paired again for this long (ms). @default 3600000 (an hour) */
  skipMemoryMs: number;
  /** ...counting a person's latest skips (either way) up to this many (a bound on the queue's work). @default 200 */
  skipMemoryMax: number;
  /** Open cases kept at most by the memory engine (the oldest are forgotten, bans never). @default 10000 */
  maxTracked: number;
  /**
   * A matched user whose connection drops (without `leave`) keeps its place this long, for a
   * resume; its partner is told `away`, then `back` or `ended: disconnected`. 0: no holding (ms). @default 20000
   */
  resumeWindowMs: number;
  /** A resume on another node that gets no answer from the holder within this fails (ms). @default 3000 */
  resumeTimeoutMs: number;
  /** Unacknowledged messages kept per user for replay (only for clients that ack, or while away). @default 100 */
  maxUnacked: number;
  /** Characters of them kept at most. @default 32000 */
  maxUnackedChars: number;
  /** How often this node publishes its counts to the engine (ms). @default 1000 */
  presenceIntervalMs: number;
  /**
   * A user who left the queue while being matched waits this long at most for that match to
   * arrive before queueing again (ms); guards against a lost relay event. @default 10000
   */
  staleMatchTimeoutMs: number;
}

export const defaultChatOptions: Readonly<ChatOptions> = {
  maxMessageChars: 2000,
  maxInterests: 10,
  maxInterestChars: 32,
  interestWaitMs: 5000,
  rateLimit: 5,
  rateBurst: 10,
  floodStrikes: 20,
  noRepeat: 5,
  reportThreshold: 3,
  reportWindowMs: 3_600_000,
  banMs: 1_800_000,
  maxBanMs: 86_400_000,
  offenceMemoryMs: 7 * 86_400_000,
  reportTtlMs: 7 * 86_400_000,
  evidenceLines: 20,
  evidenceChars: 8000,
  spamPartners: 5,
  spamWindowMs: 600_000,
  spamMinChars: 20,
  skipMemoryMs: 3_600_000,
  skipMemoryMax: 200,
  maxTracked: 10_000,
  resumeWindowMs: 20_000,
  resumeTimeoutMs: 3000,
  maxUnacked: 100,
  maxUnackedChars: 32_000,
  presenceIntervalMs: 1000,
  staleMatchTimeoutMs: 10_000,
};

/**
 * Largest WebSocket message the protocol needs, in bytes: a maximal `msg` where every character
 * is JSON-escaped (6 bytes, `\u0000`), plus room for the envelope. Larger frames close with 1009.
 */
export function maxFrameBytes(o: Pick<ChatOptions, 'maxMessageChars' | 'maxInterests' | 'maxInterestChars'>): number {
  return Math.max(o.maxMessageChars, o.maxInterests * (o.maxInterestChars + 3)) * 6 + 1024;
}
