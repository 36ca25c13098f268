/**
 * The wire protocol's codec (docs/protocol.md): parses and validates client messages without
 * ever throwing, and builds server messages. Constant messages are serialized once at load.
 */
import { ReportReason, type EndReason } from '../engine/engine.js';

/** Stable error codes sent as `{"type":"error","code":...}`. Clients may rely on them. */
export const ErrorCode = {
  /** Not JSON, not an object, unknown `type`, a field of the wrong type, an empty text, or a binary frame. */
  badMessage: 'bad_message',
  /** `msg` or `report` while not in a conversation. */
  notMatched: 'not_matched',
  /** `msg.text` longer than the limit. */
  tooLong: 'too_long',
  /** Over the per-connection message rate; the message was ignored. */
  rateLimited: 'rate_limited',
  /** `find` while in a conversation (send `next` or `leave` first). */
  alreadyMatched: 'already_matched',
  /** Matchmaking is unavailable (engine store down); try again later. */
  engineUnavailable: 'engine_unavailable',
  /** Refused new matches after reports from several people. */
  banned: 'banned',
  /** The server is shutting down. */
  shuttingDown: 'shutting_down',
  /** `resume` with an unknown, expired or used token (or another person's): you go on as a new user. */
  resumeFailed: 'resume_failed',
  /** Not allowed in your role: the asker of a question cannot send `msg` or `typing`. */
  notAllowed: 'not_allowed',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const errorText: Record<ErrorCode, string> = {
  bad_message: 'malformed message',
  not_matched: 'you are not talking to anyone',
  too_long: 'message too long',
  rate_limited: 'slow down',
  already_matched: 'already in a conversation',
  engine_unavailable: 'matchmaking is temporarily unavailable, try again',
  banned: 'you have been reported by several people; try again later',
  shutting_down: 'the server is restarting, reconnect in a moment',
  resume_failed: 'that conversation could not be resumed',
  not_allowed: 'the asker of a question only watches',
};

/** A parsed, validated client message. `find.interests` is raw (not yet normalized). */
export type ClientMessage =
  | { readonly type: 'find'; readonly interests: readonly string[]; readonly lang: string; readonly questions: boolean }
  | { readonly type: 'ask'; readonly question: string; readonly lang: string }
  | { readonly type: 'msg'; readonly text: string }
  | { readonly type: 'typing'; readonly on: boolean }
  | { readonly type: 'next' }
  | { readonly type: 'leave' }
  /** `from`: whom, in a question conversation (0 the asker, 1 or 2 a discusser); -1 when not given. */
  | { readonly type: 'report'; readonly reason: ReportReason; readonly from: number }
  | { readonly type: 'ack'; readonly seq: number }
  | { readonly type: 'resume'; readonly token: string };

/** A message the client got wrong: the code to answer with. */
export interface ParseError {
  readonly type: 'error';
  readonly code: ErrorCode;
  readonly detail: string;
}

const NEXT = { type: 'next' } as const;
const LEAVE = { type: 'leave' } as const;
const REPORTS = Object.fromEntries(Object.values(ReportReason).map((reason) => [reason, { type: 'report', reason, from: -1 } as const])) as Record<ReportReason, { readonly type: 'report'; readonly reason: ReportReason; readonly from: number }>;
const TYPING_ON = { type: 'typing', on: true } as const;
const TYPING_OFF = { type: 'typing', on: false } as const;
const NO_INTERESTS: readonly string[] = Object.freeze([]);
/** Raw interest entries accepted before normalization (bounds the work on hostile input). */
const MAX_RAW_INTERESTS = 64;
/** `ask.question`: 1 to this many characters (code points). */
export const MAX_QUESTION_CHARS = 300;
/** A BCP 47 primary language subtag: 2 or 3 letters (ISO 639). */
const LANG = /^[A-Za-z]{2,3}$/;

/** `find.lang` / `ask.lang`: absent gives '' (no language); else the lower-cased subtag, or an error. */
function parseLang(raw: unknown): string | ParseError {
  if (raw === undefined) return '';
  if (typeof raw !== 'string' || !LANG.test(raw)) return bad('lang must be a primary language subtag of 2 or 3 letters (e.g. "en")');
  return raw.toLowerCase();
}

function bad(detail: string, code: ErrorCode = ErrorCode.badMessage): ParseError {
  return { type: 'error', code, detail };
}

/**
 * Counts code points, but only when the UTF-16 length could exceed the limit. A surrogate pair
 * is one code point; a lone surrogate (JSON can carry one as `\udc00`) is one too: it was once
 * counted as none, so a text of lone low surrogates passed at up to twice the limit.
 */
function tooLong(text: string, max: number): boolean {
  if (text.length <= max) return false;
  if (text.length > max * 2) return true;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // A high surrogate followed by a low one: the pair is one code point.
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n > max;
}

/**
 * Parses one text frame. Never throws: malformed input gives a {@link ParseError}.
 * `maxChars` is the `msg.text` limit in code points.
 */
export function parseClientMessage(data: string | Buffer, maxChars: number): ClientMessage | ParseError {
  let value: unknown;
  try {
    value = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch {
    return bad('not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return bad('not an object');
  const m = value as Record<string, unknown>;
  switch (m.type) {
    case 'msg': {
      const text = m.text;
      if (typeof text !== 'string') return bad('msg.text must be a string');
      if (text.length === 0) return bad('msg.text is empty');
      if (tooLong(text, maxChars)) return bad(`msg.text is over ${maxChars} characters`, ErrorCode.tooLong);
      return { type: 'msg', text };
    }
    case 'typing':
      if (typeof m.on !== 'boolean') return bad('typing.on must be a boolean');
      return m.on ? TYPING_ON : TYPING_OFF;
    case 'find': {
      const lang = parseLang(m.lang);
      if (typeof lang !== 'string') return lang;
      if (m.questions !== undefined && typeof m.questions !== 'boolean') return bad('find.questions must be a boolean');
      const questions = m.questions === true;
      const raw = m.interests;
      if (raw === undefined) return { type: 'find', interests: NO_INTERESTS, lang, questions };
      if (!Array.isArray(raw) || raw.length > MAX_RAW_INTERESTS) return bad('find.interests must be an array of strings');
      for (const t of raw) if (typeof t !== 'string') return bad('find.interests must be an array of strings');
      return { type: 'find', interests: raw as string[], lang, questions };
    }
    case 'ask': {
      const question = m.question;
      if (typeof question !== 'string') return bad('ask.question must be a string');
      if (question.length === 0) return bad('ask.question is empty');
      if (tooLong(question, MAX_QUESTION_CHARS)) return bad(`ask.question is over ${MAX_QUESTION_CHARS} characters`, ErrorCode.tooLong);
      const lang = parseLang(m.lang);
      if (typeof lang !== 'string') return lang;
      return { type: 'ask', question, lang };
    }
    case 'ack':
      if (typeof m.seq !== 'number' || !Number.isSafeInteger(m.seq) || m.seq < 0) return bad('ack.seq must be a whole number');
      return { type: 'ack', seq: m.seq };
    case 'resume':
      if (typeof m.token !== 'string' || m.token.length === 0 || m.token.length > 200) return bad('resume.token must be a string');
      return { type: 'resume', token: m.token };
    case 'next':
      return NEXT;
    case 'leave':
      return LEAVE;
    case 'report': {
      const reason = m.reason ?? ReportReason.other;
      if (typeof reason !== 'string' || !Object.hasOwn(REPORTS, reason)) return bad(`report.reason must be one of ${Object.values(ReportReason).join(', ')}`);
      if (m.from === undefined) return REPORTS[reason as ReportReason];
      if (m.from !== 0 && m.from !== 1 && m.from !== 2) return bad('report.from must be 0, 1 or 2');
      return { type: 'report', reason: reason as ReportReason, from: m.from };
    }
    default:
      return bad(typeof m.type === 'string' ? `unknown type '${m.type.slice(0, 32)}'` : 'missing type');
  }
}

/** Server messages. The constant ones are built once; `msg` text is serialized once per message. */
export const ServerMessage = {
  searching: '{"type":"searching"}',
  reported: '{"type":"reported"}',
  away: '{"type":"away"}',
  back: '{"type":"back"}',
  typingOn: '{"type":"typing","on":true}',
  typingOff: '{"type":"typing","on":false}',
  ended: {
    skipped: '{"type":"ended","reason":"skipped"}',
    left: '{"type":"ended","reason":"left"}',
    disconnected: '{"type":"ended","reason":"disconnected"}',
    shutdown: '{"type":"ended","reason":"shutdown"}',
  } satisfies Record<EndReason, string>,
  error: Object.fromEntries(
    Object.values(ErrorCode).map((code) => [code, JSON.stringify({ type: 'error', code, message: errorText[code] })]),
  ) as Record<ErrorCode, string>,
  /** `banned`, with the time the ban ends (ms since epoch). */
  banned(until: number): string {
    return `{"type":"error","code":"banned","message":${JSON.stringify(errorText.banned)},"until":${until}}`;
  },
  welcome(id: string, online: number, resume: string): string {
    return `{"type":"welcome","id":${JSON.stringify(id)},"online":${online},"resume":${JSON.stringify(resume)}}`;
  },
  /** `sent` (chatting only): how many of its own messages in this conversation the server relayed. */
  resumed(state: string, resume: string, common: readonly string[] | undefined, sent?: number): string {
    return JSON.stringify(common === undefined ? { type: 'resumed', state, resume } : { type: 'resumed', state, resume, common, sent });
  },
  delivered(seq: number): string {
    return `{"type":"delivered","seq":${seq}}`;
  },
  /** `lang`: the language both gave ('' when not both gave one: no field). */
  matched(common: readonly string[], lang = ''): string {
    const c = common.length === 0 ? '[]' : JSON.stringify(common);
    return lang === '' ? `{"type":"matched","common":${c}}` : `{"type":"matched","common":${c},"lang":"${lang}"}`;
  },
  /** `matched` of a question conversation, for the asker or a discusser. */
  matchedQuestion(role: 'asker' | 'discusser', question: string, lang = ''): string {
    const l = lang === '' ? '' : `,"lang":"${lang}"`;
    return `{"type":"matched","mode":"question","role":"${role}","question":${JSON.stringify(question)},"common":[]${l}}`;
  },
  /** A discusser's line, to the asker: `from` numbers the discusser (1 or 2). */
  msgFrom(text: string, from: number): string {
    return `{"type":"msg","text":${JSON.stringify(text)},"from":${from}}`;
  },
  typingFrom(on: boolean, from: number): string {
    return `{"type":"typing","on":${on},"from":${from}}`;
  },
  askerLeft: '{"type":"asker_left"}',
  msg(text: string, seq: number): string {
    return `{"type":"msg","text":${JSON.stringify(text)},"seq":${seq}}`;
  },
} as const;
