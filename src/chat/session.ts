/**
 * One connected user. Plain fields, mutated only by ChatService; one object per connection and
 * nothing allocated per message.
 *
 * States: idle -> searching (find/next) -> chatting (matched) -> idle (ended/leave) or
 * searching (next). A closed session is in none of them (`closed` is true).
 */
import type { RelayEvent } from '../engine/engine.js';
import type { QuestionSeat } from './question.js';
import type { Peer } from './transport.js';
import type { RecentTexts } from './moderation.js';
import type { Receipts } from './resume.js';
import type { StrikeCounter, TokenBucket } from './rate.js';

/** Bits of `Session.hold`. */
export const Hold = {
  /** The user was searching when its connection dropped: it searches again on resume. */
  wasSearching: 1,
  /** A resume on another node is in flight for this (new) session. */
  resuming: 2,
  /** The partner's connection dropped: `back` is due when it resumes. */
  partnerAway: 4,
  /** `hold` counts ban checks in flight from this bit up (add or subtract `1 << checkShift`). */
  checkShift: 8,
} as const;

/** The peer of a place held for a resume: what is sent to it goes nowhere (the replay has the messages). */
export const AWAY: Peer = Object.freeze({ send(): void {}, close(): void {} });

export const SessionState = { idle: 'idle', searching: 'searching', chatting: 'chatting' } as const;
export type SessionState = (typeof SessionState)[keyof typeof SessionState];

/** No interests: shared, so that a session that never searched holds no array of its own. */
const NO_INTERESTS: readonly string[] = Object.freeze([]);

/** Bits of `Session.#bits`: four booleans in one field (a field is 8 bytes per idle user). */
const Bit = { closed: 1, questions: 2, queued: 4, inflight: 8 } as const;

export class Session {
  state: SessionState = SessionState.idle;
  #bits = 0;
  /** The connection is gone. */
  get closed(): boolean {
    return (this.#bits & Bit.closed) !== 0;
  }
  set closed(v: boolean) {
    this.#bits = v ? this.#bits | Bit.closed : this.#bits & ~Bit.closed;
  }
  /** Normalized interests of the current or last search. */
  interests: readonly string[] = NO_INTERESTS;
  /** Language of the current or last search ('' for none): a normalized primary subtag. */
  lang = '';
  /** The current or last search accepts to discuss questions (`find.questions`). */
  get questions(): boolean {
    return (this.#bits & Bit.questions) !== 0;
  }
  set questions(v: boolean) {
    this.#bits = v ? this.#bits | Bit.questions : this.#bits & ~Bit.questions;
  }
  /** The question of the current or last search when it was an `ask`, else undefined. */
  question: string | undefined;
  /** The place in a question conversation (asker or discusser), while in one. */
  q: QuestionSeat | undefined;
  /**
   * Relay events of a question conversation that overtook its `question` event (the members may
   * sit on three nodes): kept while searching, replayed when it begins; bounded.
   */
  early: RelayEvent[] | undefined;
  /** When the current search started, and when it starts accepting anyone (ms). */
  since = 0;
  anyoneAfter = 0;

  /** Bumped at every state change: an engine call that returns to a different seq is stale. */
  seq = 0;
  /** We believe the user is in the engine queue (set before the call that may enqueue it). */
  get queued(): boolean {
    return (this.#bits & Bit.queued) !== 0;
  }
  set queued(v: boolean) {
    this.#bits = v ? this.#bits | Bit.queued : this.#bits & ~Bit.queued;
  }
  /** A pairOrEnqueue for this user is in flight. */
  get inflight(): boolean {
    return (this.#bits & Bit.inflight) !== 0;
  }
  set inflight(v: boolean) {
    this.#bits = v ? this.#bits | Bit.inflight : this.#bits & ~Bit.inflight;
  }
  /**
   * Matches announced by the engine but not yet arrived: a `remove` that returned false means a
   * concurrent pairing took the user and its `matched` event is on the way. May dip below 0
   * briefly when the event overtakes the remove's answer.
   */
  expectMatch = 0;
  expectSince = 0;
  /** `remove` calls in flight for this user. */
  removing = 0;
  /** Interest fallback or stale-match timer. */
  timer: NodeJS.Timeout | undefined;

  partnerId = '';
  partnerNode = '';
  /** The partner's person (for skips and spam waves; never sent to the user). */
  partnerPerson = '';
  /** The partner's session when on this node (local-first relay), else undefined. */
  partner: Session | undefined;
  /** Persons recently skipped, either way (no-repeat), oldest first; none until the first skip. */
  recent: string[] | undefined;

  /**
   * Advertising-like texts this connection sent lately and the partners each reached, for spam
   * waves; made on the first such text.
   */
  copies: RecentTexts | undefined;
  /** The current conversation's state (receipts, evidence, what a resume needs); none while idle. */
  receipts: Receipts | undefined;
  /** Bits of {@link Hold} (a held place, a resume in flight, an absent partner), and above them the ban checks in flight. */
  hold = 0;

  /** Ban checks in flight: no queueing until they answer. */
  get checking(): number {
    return this.hold >>> Hold.checkShift;
  }

  /**
   * Rate state, made on the first message: most connections of a big server sit idle, and a
   * new bucket is a full one, so creating it late changes nothing.
   */
  bucket: TokenBucket | undefined;
  strikes: StrikeCounter | undefined;

  constructor(
    /** Random anonymous id, new for every connection. */
    readonly id: string,
    /** The connection; {@link AWAY} while the place is held for a resume. */
    public peer: Peer,
    /** Who skips and bans apply to: the anonymous session's person id, else this connection (a resume carries it over). */
    public person: string,
    /** Key of the client's address (chat/identity.ts), never the address itself. */
    readonly address: string,
  ) {}

  remember(person: string, max: number): void {
    if (max <= 0) return;
    const recent = (this.recent ??= []);
    if (recent.includes(person)) return;
    recent.push(person);
    if (recent.length > max) recent.shift();
  }
}
