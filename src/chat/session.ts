/**
 * One connected user. Plain fields, mutated only by ChatService; one object per connection and
 * nothing allocated per message.
 *
 * States: idle -> searching (find/next) -> chatting (matched) -> idle (ended/leave) or
 * searching (next). A closed session is in none of them (`closed` is true).
 */
import type { Peer } from './transport.js';
import type { StrikeCounter, TokenBucket } from './rate.js';

export const SessionState = { idle: 'idle', searching: 'searching', chatting: 'chatting' } as const;
export type SessionState = (typeof SessionState)[keyof typeof SessionState];

export class Session {
  state: SessionState = SessionState.idle;
  closed = false;
  /** Normalized interests of the current or last search. */
  interests: readonly string[] = [];
  /** When the current search started, and when it starts accepting anyone (ms). */
  since = 0;
  anyoneAfter = 0;
  /** Bumped at every state change: an engine call that returns to a different seq is stale. */
  seq = 0;
  /** We believe the user is in the engine queue (set before the call that may enqueue it). */
  queued = false;
  /** A pairOrEnqueue for this user is in flight. */
  inflight = false;
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
  /** The partner's session when on this node (local-first relay), else undefined. */
  partner: Session | undefined;
  /** Recent skip partners, either way (no-repeat), oldest first; none until the first skip. */
  recent: string[] | undefined;

  /**
   * Rate state, made on the first message: most connections of a big server sit idle, and a
   * new bucket is a full one, so creating it late changes nothing.
   */
  bucket: TokenBucket | undefined;
  strikes: StrikeCounter | undefined;

  constructor(
    /** Random anonymous id, new for every connection. */
    readonly id: string,
    readonly peer: Peer,
    /** Who limits, skips and bans apply to: the session's person id, or the address key without one. */
    readonly person: string,
    /** Key of the client's address (chat/identity.ts), never the address itself. */
    readonly address: string,
  ) {}

  remember(partnerId: string, max: number): void {
    if (max <= 0) return;
    const recent = (this.recent ??= []);
    if (recent.includes(partnerId)) return;
    recent.push(partnerId);
    if (recent.length > max) recent.shift();
  }
}
