/**
 * Conversations that outlive their connection: the resume token, the receipts a conversation
 * keeps (numbering, acknowledgements, the messages a client has not acknowledged yet), and the
 * state handed from one session to the next when a client resumes (on this node or another).
 *
 * A token is `r1.<nodeId>.<sessionId>.<mac>`: the node that holds the place, the place, and an
 * HMAC-SHA-256 (128 bits) of both under a key derived from the cluster secret. Any node can route
 * a resume to the holder without a lookup; only the holder accepts it, once: the place moves to a
 * new session (a new id, so a new token) and the old one is gone.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ConversationLog } from './moderation.js';

/** The MAC key of resume tokens, derived from the cluster secret. */
export function resumeKey(secret: string): Buffer {
  return createHmac('sha256', secret).update('strangers/resume/v1').digest();
}

function mac(key: Buffer, nodeId: string, sessionId: string): string {
  return createHmac('sha256', key).update(nodeId).update('\0').update(sessionId).digest().toString('base64url', 0, 16);
}

/** The token for session `sessionId` held by node `nodeId`. */
export function resumeToken(key: Buffer, nodeId: string, sessionId: string): string {
  return `r1.${nodeId}.${sessionId}.${mac(key, nodeId, sessionId)}`;
}

/** The parts of a well-formed token (its MAC not checked yet: that is the holder's job), or null. */
export function parseResumeToken(token: unknown): { nodeId: string; sessionId: string; mac: string } | null {
  if (typeof token !== 'string' || token.length > 200) return null;
  const parts = token.split('.');
  if (parts.length !== 4 || parts[0] !== 'r1' || parts[1] === '' || parts[2] === '' || !/^[A-Za-z0-9_-]{22}$/.test(parts[3]!)) return null;
  return { nodeId: parts[1]!, sessionId: parts[2]!, mac: parts[3]! };
}

/** Whether `mac` is the token MAC of this node and session (constant time). */
export function resumeMacValid(key: Buffer, nodeId: string, sessionId: string, given: string): boolean {
  const want = Buffer.from(mac(key, nodeId, sessionId));
  const got = Buffer.from(given);
  return want.length === got.length && timingSafeEqual(want, got);
}

/** Bounds of what a user's absence or missing acks may cost. */
export interface ReceiptLimits {
  /** Unacknowledged messages kept per user at most (the oldest go first). */
  readonly maxMessages: number;
  /** Characters of them kept at most. */
  readonly maxChars: number;
}

/**
 * One side's state of a conversation: made when it begins and dropped when it ends (an idle
 * user has none, so none of this costs an idle user anything): its receipts (numbering,
 * acknowledgements, what the client has not acknowledged yet), its evidence, and what a resume
 * needs to carry it on.
 */
export class Receipts {
  /** When it began (ms), for its length. */
  since = 0;
  /** The interests the two share (what `matched` said). */
  common: readonly string[] = [];
  /** The partner's address key (for a report). */
  partnerAddress = '';
  /** Its last lines, the evidence a report takes (in memory only). */
  log: ConversationLog | undefined;
  /** `msg`s sent to this user in the conversation: the last `seq` given. */
  toSeq = 0;
  /** This user's own messages relayed so far (its k-th message is number k). */
  fromSeq = 0;
  /** The partner's next message number expected (relay order across a hand-over). */
  nextFromPartner = 1;
  /** Highest `seq` this user acknowledged. */
  acked = 0;
  /** Highest `delivered` this user was told (its own messages that reached the partner). */
  delivered = 0;
  /** This user's client acknowledges: keep what it has not acknowledged, to replay. */
  acking = false;
  /** Messages sent to this user and not acknowledged: `pending[i]` has seq `pendingBase + i`. */
  pending: string[] = [];
  pendingBase = 1;
  pendingChars = 0;
  /** Partner messages that arrived ahead of their turn (after a hand-over), by number. */
  early: Map<number, string> | undefined;
  /** Why the conversation ended while this user was away ('' while it goes on). */
  ended = '';

  /** Keeps message `seq` for replay, within the limits. */
  keep(seq: number, text: string, limits: ReceiptLimits): void {
    if (this.pending.length === 0) this.pendingBase = seq;
    this.pending.push(text);
    this.pendingChars += text.length;
    while (this.pending.length > limits.maxMessages || (this.pendingChars > limits.maxChars && this.pending.length > 1)) {
      this.pendingChars -= this.pending.shift()!.length;
      this.pendingBase++;
    }
  }

  /** Acknowledges everything up to `seq`; returns false if it acknowledged nothing new. */
  ack(seq: number): boolean {
    if (seq <= this.acked || seq > this.toSeq) return false;
    this.acked = seq;
    this.acking = true;
    const drop = Math.min(this.pending.length, seq - this.pendingBase + 1);
    if (drop > 0) {
      for (let i = 0; i < drop; i++) this.pendingChars -= this.pending[i]!.length;
      this.pending.splice(0, drop);
      this.pendingBase += drop;
    }
    return true;
  }
}

/** What moves from an old session to the new one on a resume (JSON-safe: it may cross nodes). */
export interface Handover {
  readonly state: 'idle' | 'searching' | 'chatting';
  /** Why the conversation ended while the user was away ('' if it did not): sent after the replay. */
  readonly ended: string;
  /** When the conversation began (ms), for its length. */
  readonly since: number;
  /** Who the place belongs to (a connection's own id when there are no sessions). */
  readonly person: string;
  readonly interests: readonly string[];
  /** Persons recently skipped. */
  readonly recent: readonly string[];
  readonly partnerId: string;
  readonly partnerNode: string;
  readonly partnerPerson: string;
  readonly partnerAddress: string;
  readonly common: readonly string[];
  /** Receipts: the counters, and the unacknowledged messages `[seq, text]` to replay. */
  readonly toSeq: number;
  readonly fromSeq: number;
  readonly nextFromPartner: number;
  readonly delivered: number;
  readonly acking: boolean;
  /** The partner was away when the place moved: the resumed user hears `away` again. */
  readonly partnerAway: boolean;
  readonly pending: ReadonlyArray<readonly [number, string]>;
  /** What the place searched for besides interests (absent from older nodes: no language, a plain search). */
  readonly search?: { readonly lang: string; readonly questions: boolean; readonly question?: string };
}

/** Checks a hand-over that came from another node; null if it is not one. */
export function readHandover(v: unknown): Handover | null {
  if (typeof v !== 'object' || v === null) return null;
  const h = v as Record<string, unknown>;
  const str = (x: unknown): x is string => typeof x === 'string';
  const strs = (x: unknown): x is string[] => Array.isArray(x) && x.every(str);
  const num = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  if (h.state !== 'idle' && h.state !== 'searching' && h.state !== 'chatting') return null;
  if (typeof h.ended !== 'string' || typeof h.since !== 'number') return null;
  if (!strs(h.interests) || !strs(h.recent) || !strs(h.common)) return null;
  if (!str(h.person) || !str(h.partnerId) || !str(h.partnerNode) || !str(h.partnerPerson) || !str(h.partnerAddress)) return null;
  if (!num(h.toSeq) || !num(h.fromSeq) || !num(h.nextFromPartner) || !num(h.delivered) || typeof h.acking !== 'boolean' || typeof h.partnerAway !== 'boolean') return null;
  if (!Array.isArray(h.pending) || !h.pending.every((p) => Array.isArray(p) && p.length === 2 && num(p[0]) && str(p[1]))) return null;
  if (h.search !== undefined) {
    const q = h.search as Record<string, unknown> | null;
    if (typeof q !== 'object' || q === null || !str(q.lang) || !/^([a-z]{2,3})?$/.test(q.lang) || typeof q.questions !== 'boolean') return null;
    if (q.question !== undefined && (!str(q.question) || q.question.length === 0 || q.question.length > 600)) return null;
  }
  return h as unknown as Handover;
}
