/**
 * Question ("spy") mode: someone asks a question, two strangers discuss it, the asker watches.
 *
 * The engine's queue forms the trio (a waiting question goes first, see engine.ts `MatchQueue`)
 * and the pairing node announces it to all three with `question` relay events. From then on:
 * - the two discussers are an ordinary pair for the chat service (lines, typing, receipts,
 *   `next`, `leave`, reports, skips), with a {@link QuestionSeat} that names the asker;
 * - each discusser copies its lines and typing to the asker (`msg`/`typing` relay events from
 *   the discusser's own id; the asker knows which discusser is `from` 1 and which 2);
 * - a discusser that ends the conversation tells the asker (`ended`, same reason);
 * - the asker that leaves tells both discussers (`asker_left`): they go on as an ordinary pair.
 *
 * This module owns the seat, the wire messages of the mode and the routing to the other members;
 * {@link ChatService} calls it at the points where a conversation begins, speaks and ends.
 * Places in a question conversation are not held for a resume (see docs/protocol.md): a
 * dropped member leaves at once, as `leave` would (a discusser: `disconnected`).
 */
import type { EndReason, QuestionMember, RelayEvent } from '../engine/engine.js';
import { ServerMessage } from './codec.js';
import type { ConversationLog } from './moderation.js';

/** A member's place in a question conversation. */
export class QuestionSeat {
  /** The asker's evidence: each discusser's lines it saw (index 0: discusser 1). */
  readonly logs: [ConversationLog | undefined, ConversationLog | undefined] = [undefined, undefined];
  /** The asker: the next line number expected from each discusser (copies are dropped). */
  readonly next: [number, number] = [1, 1];

  constructor(
    /** 0: the asker; 1 or 2: a discusser, the number the asker sees it as. */
    readonly role: 0 | 1 | 2,
    readonly question: string,
    /** The asker, discusser 1, discusser 2. */
    readonly members: readonly [QuestionMember, QuestionMember, QuestionMember],
  ) {}

  get asker(): QuestionMember {
    return this.members[0];
  }

  /** A discusser: the other discusser. */
  get other(): QuestionMember {
    return this.members[this.role === 1 ? 2 : 1];
  }

  /** The asker: 1 or 2 for a discusser's session id, 0 for anyone else. */
  from(id: string): 0 | 1 | 2 {
    if (this.members[1].id === id) return 1;
    if (this.members[2].id === id) return 2;
    return 0;
  }
}

/** Who a member is, as the chat knows it. */
export interface Member {
  readonly id: string;
  readonly q: QuestionSeat | undefined;
}

/** What the module needs from the chat. */
export interface QuestionHost {
  /** Delivers a relay event to a user: on this node at once, else through the engine's relay. */
  send(node: string, event: RelayEvent): void;
}

/** A target of a report made in a question conversation. */
export interface ReportTarget {
  readonly person: string;
  readonly address: string;
}

export class Questions {
  readonly #host: QuestionHost;

  constructor(host: QuestionHost) {
    this.#host = host;
  }

  /** The `matched` message for the member of a `question` event. */
  matched(q: QuestionSeat, lang: string): string {
    return ServerMessage.matchedQuestion(q.role === 0 ? 'asker' : 'discusser', q.question, lang);
  }

  /** Discusser `d` said `text` (its line `n`): a copy for the asker. */
  echo(d: Member, text: string, n: number): void {
    const q = d.q;
    if (q === undefined || q.role === 0) return;
    this.#host.send(q.asker.node, { kind: 'msg', to: q.asker.id, from: d.id, text, n });
  }

  /** Discusser `d` started or stopped typing: the asker sees it too. */
  typing(d: Member, on: boolean): void {
    const q = d.q;
    if (q === undefined || q.role === 0) return;
    this.#host.send(q.asker.node, { kind: 'typing', to: q.asker.id, from: d.id, on });
  }

  /** Discusser `d` ended the conversation (`next`, `leave`, gone): the asker hears `ended` too. */
  discusserEnded(d: Member, reason: EndReason): void {
    const q = d.q;
    if (q === undefined || q.role === 0) return;
    this.#host.send(q.asker.node, { kind: 'ended', to: q.asker.id, from: d.id, reason });
  }

  /** The asker `a` left (`leave`, `next`, gone): both discussers hear `asker_left`. */
  askerLeft(a: Member): void {
    const q = a.q;
    if (q === undefined || q.role !== 0) return;
    for (const d of [q.members[1], q.members[2]]) this.#host.send(d.node, { kind: 'asker_left', to: d.id, from: a.id });
  }

  /**
   * Member `e.role` cannot take the conversation the `question` event `e` announced (gone, or no
   * longer searching): the others are told as if it had left at once. An asker's absence leaves an
   * ordinary pair; a discusser's ends it for the other two.
   */
  refuse(e: Extract<RelayEvent, { kind: 'question' }>, reason: EndReason): void {
    const [asker, d1, d2] = e.members;
    const me = e.members[e.role];
    if (e.role === 0) {
      for (const d of [d1, d2]) this.#host.send(d.node, { kind: 'asker_left', to: d.id, from: me.id });
      return;
    }
    const other = e.role === 1 ? d2 : d1;
    this.#host.send(other.node, { kind: 'ended', to: other.id, from: me.id, reason });
    this.#host.send(asker.node, { kind: 'ended', to: asker.id, from: me.id, reason });
  }

  /**
   * A line for the asker from discusser `from`: the wire message, or undefined for a copy or a
   * stale line. `keep` records it as evidence (the asker's log of that discusser).
   */
  lineForAsker(q: QuestionSeat, fromId: string, text: string, n: number, keep: (log: ConversationLog | undefined) => ConversationLog): string | undefined {
    const from = q.from(fromId);
    if (from === 0) return undefined;
    const i = from - 1;
    if (n > 0) {
      if (n < q.next[i]!) return undefined; // a copy
      q.next[i] = n + 1;
    }
    q.logs[i] = keep(q.logs[i]);
    return ServerMessage.msgFrom(text, from);
  }

  /**
   * Whom a report in a question conversation is about: the asker reports discusser `from` (1 or
   * 2), or both when it names none; a discusser reports the asker with `from` 0, else the other
   * discusser (as in any conversation, returned as null: the caller's usual path).
   */
  reportTargets(q: QuestionSeat, from: number): Array<{ target: ReportTarget; slot: 0 | 1 | 2 }> | null {
    if (q.role !== 0) return from === 0 ? [{ target: q.asker, slot: 0 }] : null;
    const slots: Array<1 | 2> = from === 1 || from === 2 ? [from] : [1, 2];
    return slots.map((slot) => ({ target: q.members[slot], slot }));
  }
}
