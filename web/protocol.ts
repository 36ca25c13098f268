/**
 * The wire protocol as the page speaks it (see docs/protocol.md): one JSON object per text frame.
 * Incoming frames are validated here, so the rest of the page only sees well-formed messages;
 * anything else becomes `null` and is ignored (extra fields are allowed by the protocol).
 */

/** Why a conversation ended (the server's `ended.reason`). */
export const EndReason = {
  skipped: 'skipped',
  left: 'left',
  disconnected: 'disconnected',
  shutdown: 'shutdown',
} as const;
export type EndReason = (typeof EndReason)[keyof typeof EndReason];

/** Where a resumed place stands (`resumed.state`). */
export type PlaceState = 'idle' | 'searching' | 'chatting';

/** Messages the server sends. */
export type ServerMessage =
  /** `resume`: the token of this connection's place ('' from a server without resume). */
  | { readonly type: 'welcome'; readonly id: string; readonly online: number; readonly resume: string }
  | { readonly type: 'searching' }
  /**
   * `lang`: the language both gave. Question mode: `mode` "question", this page's `role` and the
   * `question` (an asker watches two discussers; a discusser talks with the other one).
   */
  | { readonly type: 'matched'; readonly common: readonly string[]; readonly lang?: string; readonly mode?: 'question'; readonly role?: 'asker' | 'discusser'; readonly question?: string }
  /**
   * `seq` numbers the messages to this user in the conversation from 1 (absent: an older server).
   * `from` (to an asker only): which discusser wrote it, 1 or 2.
   */
  | { readonly type: 'msg'; readonly text: string; readonly seq?: number; readonly from?: 1 | 2 }
  | { readonly type: 'typing'; readonly on: boolean; readonly from?: 1 | 2 }
  /** Question mode: the asker left; the two discussers go on as an ordinary pair. */
  | { readonly type: 'asker_left' }
  | { readonly type: 'ended'; readonly reason: string }
  /** Acknowledges a `report`. */
  | { readonly type: 'reported' }
  /** Own messages 1..seq of this conversation reached the partner's page. */
  | { readonly type: 'delivered'; readonly seq: number }
  /** The partner's connection dropped; its place is held for a while. */
  | { readonly type: 'away' }
  /** The partner came back in time. */
  | { readonly type: 'back' }
  /** Answer to `resume`; the messages not acknowledged follow, with their original `seq`. */
  | { readonly type: 'resumed'; readonly state: PlaceState; readonly resume: string; readonly common: readonly string[]; readonly sent?: number }
  | { readonly type: 'error'; readonly code: string; readonly message: string };

/** Messages the page sends. */
export type ClientMessage =
  | { readonly type: 'find'; readonly interests?: readonly string[]; readonly lang?: string; readonly questions?: boolean }
  /** Question mode: two strangers discuss `question`, the asker watches. */
  | { readonly type: 'ask'; readonly question: string; readonly lang?: string }
  | { readonly type: 'msg'; readonly text: string }
  | { readonly type: 'typing'; readonly on: boolean }
  | { readonly type: 'next' }
  | { readonly type: 'leave' }
  /** `from` (question mode): 0 the asker, 1 or 2 a discusser; absent: the partner (an asker: both). */
  | { readonly type: 'report'; readonly reason?: string; readonly from?: 0 | 1 | 2 }
  /** Every partner message up to `seq` is shown (cumulative). */
  | { readonly type: 'ack'; readonly seq: number }
  /** First message of a new connection: take back the place `token` names. */
  | { readonly type: 'resume'; readonly token: string };

/** Protocol limits the page enforces before sending, mirroring the server's defaults. */
export const Limits = {
  /** Characters in one message (`too_long` beyond). */
  maxText: 2000,
  /** Interest tags per `find`. */
  maxInterests: 10,
  /** Characters per interest tag. */
  maxInterestLength: 32,
  /** Characters in a question (`ask`). */
  maxQuestion: 300,
} as const;

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

function isSeq(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Parses one text frame; returns null for anything that is not a message this page knows. */
export function parseServerMessage(data: unknown): ServerMessage | null {
  if (typeof data !== 'string') return null;
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const m = v as Record<string, unknown>;
  switch (m.type) {
    case 'welcome':
      return { type: 'welcome', id: String(m.id ?? ''), online: typeof m.online === 'number' ? m.online : 0, resume: typeof m.resume === 'string' ? m.resume : '' };
    case 'searching':
      return { type: 'searching' };
    case 'matched': {
      const common = isStringArray(m.common) ? m.common : [];
      const lang = typeof m.lang === 'string' ? { lang: m.lang } : {};
      if (m.mode === 'question' && (m.role === 'asker' || m.role === 'discusser') && typeof m.question === 'string') {
        return { type: 'matched', common, ...lang, mode: 'question', role: m.role, question: m.question };
      }
      return { type: 'matched', common, ...lang };
    }
    case 'msg': {
      if (typeof m.text !== 'string') return null;
      const from = m.from === 1 || m.from === 2 ? { from: m.from as 1 | 2 } : {};
      return isSeq(m.seq) ? { type: 'msg', text: m.text, seq: m.seq, ...from } : { type: 'msg', text: m.text, ...from };
    }
    case 'typing':
      return m.from === 1 || m.from === 2 ? { type: 'typing', on: m.on === true, from: m.from } : { type: 'typing', on: m.on === true };
    case 'asker_left':
      return { type: 'asker_left' };
    case 'reported':
      return { type: 'reported' };
    case 'delivered':
      return isSeq(m.seq) ? { type: 'delivered', seq: m.seq } : null;
    case 'away':
      return { type: 'away' };
    case 'back':
      return { type: 'back' };
    case 'resumed':
      if (typeof m.resume !== 'string' || (m.state !== 'idle' && m.state !== 'searching' && m.state !== 'chatting')) return null;
      return {
        type: 'resumed',
        state: m.state,
        resume: m.resume,
        common: isStringArray(m.common) ? m.common : [],
        ...(typeof m.sent === 'number' ? { sent: m.sent } : {}),
      };
    case 'ended':
      return { type: 'ended', reason: typeof m.reason === 'string' ? m.reason : EndReason.disconnected };
    case 'error':
      return {
        type: 'error',
        code: typeof m.code === 'string' ? m.code : 'unknown',
        message: typeof m.message === 'string' ? m.message : '',
      };
    default:
      return null;
  }
}

/**
 * Normalizes one interest the way the server does (trim, lower-case, NFC, at most 32 characters),
 * so that the tags the user sees are the ones that will be matched. Returns '' for an empty tag.
 */
export function normalizeInterest(raw: string): string {
  const s = raw.trim().toLowerCase().normalize('NFC').replace(/\s+/g, ' ');
  return Array.from(s).slice(0, Limits.maxInterestLength).join('').trim();
}
