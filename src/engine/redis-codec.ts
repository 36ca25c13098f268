/**
 * The node-to-node wire format of the Redis engine: one codec, in one file, for the typed union
 * `RelayEvent` (engine.ts). A message is a JSON array whose first element is the format version:
 *
 * ```
 * [1, "matched", to, partner, partnerNode, common[], partnerPerson, partnerAddress, lang]   (lang: absent from older nodes)
 * [1, "msg",     to, from, text, n]           (n: the sender's line number; absent from older nodes)
 * [1, "away",    to, from]
 * [1, "delivered", to, from, seq]
 * [1, "moved",   to, from, newId, newNode]
 * [1, "resume",  to, from, fromNode, mac, person]
 * [1, "handover", to, from, state]
 * [1, "resume_failed", to, from]
 * [1, "typing",  to, from, on]
 * [1, "ended",   to, from, reason]
 * [1, "question", to, text, role, [[id, node, person, address] x 3], lang]   (asker, discusser 1, discusser 2)
 * [1, "asker_left", to, from]
 * [1, "batch",   [event, event, ...]]       several events for one node, in order
 * ```
 *
 * A batch carries the events a node has for one other node within one turn of its event loop,
 * each encoded as above: one PUBLISH (and one message to decode) instead of one per event.
 *
 * Arrays rather than objects: no field names on the wire (shorter, faster to parse), and the
 * position of every field is fixed by the version. A node that receives a message it cannot
 * decode (unknown version, unknown kind, wrong shape) gets a `DecodeError` value back, never an
 * exception, and counts it (see `RedisEngineStats.undecodable`).
 */
import { EndReason, type QuestionMember, type RelayEvent } from './engine.js';

/** The version this node writes. Bump it when a field changes meaning; readers reject others. */
export const RELAY_CODEC_VERSION = 1;

/** Why a message could not be decoded (stable codes, for counters and logs). */
export const DecodeError = {
  notJson: 'not_json',
  badVersion: 'bad_version',
  badKind: 'bad_kind',
  badShape: 'bad_shape',
} as const;
export type DecodeError = (typeof DecodeError)[keyof typeof DecodeError];

const endReasons: ReadonlySet<string> = new Set(Object.values(EndReason));

/** Encodes one relay event for PUBLISH. */
export function encodeRelayEvent(event: RelayEvent): string {
  switch (event.kind) {
    case 'matched':
      if (event.lang !== undefined) return JSON.stringify([RELAY_CODEC_VERSION, 'matched', event.to, event.partner, event.partnerNode, event.common, event.partnerPerson, event.partnerAddress, event.lang]);
      return JSON.stringify([RELAY_CODEC_VERSION, 'matched', event.to, event.partner, event.partnerNode, event.common, event.partnerPerson, event.partnerAddress]);
    case 'msg':
      return JSON.stringify([RELAY_CODEC_VERSION, 'msg', event.to, event.from, event.text, event.n]);
    case 'away':
      return JSON.stringify([RELAY_CODEC_VERSION, 'away', event.to, event.from]);
    case 'delivered':
      return JSON.stringify([RELAY_CODEC_VERSION, 'delivered', event.to, event.from, event.seq]);
    case 'moved':
      return JSON.stringify([RELAY_CODEC_VERSION, 'moved', event.to, event.from, event.newId, event.newNode]);
    case 'resume':
      return JSON.stringify([RELAY_CODEC_VERSION, 'resume', event.to, event.from, event.fromNode, event.mac, event.person]);
    case 'handover':
      return JSON.stringify([RELAY_CODEC_VERSION, 'handover', event.to, event.from, event.state]);
    case 'resume_failed':
      return JSON.stringify([RELAY_CODEC_VERSION, 'resume_failed', event.to, event.from]);
    case 'typing':
      return JSON.stringify([RELAY_CODEC_VERSION, 'typing', event.to, event.from, event.on]);
    case 'ended':
      return JSON.stringify([RELAY_CODEC_VERSION, 'ended', event.to, event.from, event.reason]);
    case 'question':
      return JSON.stringify([RELAY_CODEC_VERSION, 'question', event.to, event.text, event.role, event.members.map((m) => [m.id, m.node, m.person, m.address]), event.lang]);
    case 'asker_left':
      return JSON.stringify([RELAY_CODEC_VERSION, 'asker_left', event.to, event.from]);
  }
}

/** Joins events already encoded by {@link encodeRelayEvent} into one batch message, order kept. */
export function encodeRelayBatch(encoded: readonly string[]): string {
  return `[${RELAY_CODEC_VERSION},"batch",[${encoded.join(',')}]]`;
}

/**
 * Decodes one PUBLISHed message, a single event or a batch, into its events in order. Never
 * throws; a batch with one bad event yields the good ones and counts the bad one in `errors`.
 */
export function decodeRelayMessage(data: string): { events: RelayEvent[]; errors: DecodeError[] } {
  let m: unknown;
  try {
    m = JSON.parse(data);
  } catch {
    return { events: [], errors: [DecodeError.notJson] };
  }
  if (Array.isArray(m) && m[0] === RELAY_CODEC_VERSION && m[1] === 'batch') {
    if (m.length !== 3 || !Array.isArray(m[2])) return { events: [], errors: [DecodeError.badShape] };
    const events: RelayEvent[] = [];
    const errors: DecodeError[] = [];
    for (const item of m[2] as unknown[]) {
      const event = fromArray(item);
      if (typeof event === 'string') errors.push(event);
      else events.push(event);
    }
    return { events, errors };
  }
  const event = fromArray(m);
  return typeof event === 'string' ? { events: [], errors: [event] } : { events: [event], errors: [] };
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/** Decodes one message; returns the event or the reason it is not one. Never throws. */
export function decodeRelayEvent(data: string): RelayEvent | DecodeError {
  let m: unknown;
  try {
    m = JSON.parse(data);
  } catch {
    return DecodeError.notJson;
  }
  return fromArray(m);
}

/** One event from its parsed JSON array. */
function fromArray(m: unknown): RelayEvent | DecodeError {
  if (!Array.isArray(m) || m.length < 2) return DecodeError.badShape;
  if (m[0] !== RELAY_CODEC_VERSION) return DecodeError.badVersion;
  const [, kind, to, a, b, c, d, e] = m as unknown[];
  if (typeof to !== 'string' || typeof a !== 'string') return typeof kind === 'string' && isKind(kind) ? DecodeError.badShape : DecodeError.badKind;
  switch (kind) {
    case 'matched':
      // The partner's person and address came later (6 fields from an older node).
      if ((m.length !== 6 && m.length !== 8 && m.length !== 9) || typeof b !== 'string' || !isStringArray(c)) return DecodeError.badShape;
      if (m.length >= 8 && (typeof d !== 'string' || typeof e !== 'string')) return DecodeError.badShape;
      if (m.length === 9 && typeof m[8] !== 'string') return DecodeError.badShape;
      const matched = { kind, to, partner: a, partnerNode: b, common: c, partnerPerson: m.length >= 8 ? (d as string) : a, partnerAddress: m.length >= 8 ? (e as string) : '' } as const;
      return m.length === 9 ? { ...matched, lang: m[8] as string } : matched;
    case 'msg':
      if ((m.length !== 5 && m.length !== 6) || typeof b !== 'string') return DecodeError.badShape;
      if (m.length === 6 && !(typeof c === 'number' && Number.isSafeInteger(c) && c >= 0)) return DecodeError.badShape;
      return { kind, to, from: a, text: b, n: m.length === 6 ? (c as number) : 0 };
    case 'away':
      if (m.length !== 4) return DecodeError.badShape;
      return { kind, to, from: a };
    case 'resume_failed':
    case 'asker_left':
      if (m.length !== 4) return DecodeError.badShape;
      return { kind, to, from: a };
    case 'question': {
      if (m.length !== 7 || (b !== 0 && b !== 1 && b !== 2) || !Array.isArray(c) || c.length !== 3 || typeof d !== 'string') return DecodeError.badShape;
      const members = (c as unknown[]).map((x) => (isStringArray(x) && x.length === 4 ? { id: x[0]!, node: x[1]!, person: x[2]!, address: x[3]! } : null));
      if (members.some((x) => x === null)) return DecodeError.badShape;
      return { kind, to, text: a, role: b, members: members as unknown as [QuestionMember, QuestionMember, QuestionMember], lang: d };
    }
    case 'delivered':
      if (m.length !== 5 || !(typeof b === 'number' && Number.isSafeInteger(b) && b >= 0)) return DecodeError.badShape;
      return { kind, to, from: a, seq: b };
    case 'moved':
      if (m.length !== 6 || typeof b !== 'string' || typeof c !== 'string') return DecodeError.badShape;
      return { kind, to, from: a, newId: b, newNode: c };
    case 'resume':
      if (m.length !== 7 || typeof b !== 'string' || typeof c !== 'string' || typeof d !== 'string') return DecodeError.badShape;
      return { kind, to, from: a, fromNode: b, mac: c, person: d };
    case 'handover':
      if (m.length !== 5 || typeof b !== 'object' || b === null) return DecodeError.badShape;
      return { kind, to, from: a, state: b };
    case 'typing':
      if (m.length !== 5 || typeof b !== 'boolean') return DecodeError.badShape;
      return { kind, to, from: a, on: b };
    case 'ended':
      if (m.length !== 5 || typeof b !== 'string' || !endReasons.has(b)) return DecodeError.badShape;
      return { kind, to, from: a, reason: b as EndReason };
    default:
      return DecodeError.badKind;
  }
}

function isKind(k: string): boolean {
  return ['matched', 'msg', 'typing', 'ended', 'away', 'delivered', 'moved', 'resume', 'handover', 'resume_failed', 'question', 'asker_left'].includes(k);
}
