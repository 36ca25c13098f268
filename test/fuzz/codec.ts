/**
 * Fuzz target of the chat message parser (`parseClientMessage` in src/chat/codec.ts).
 *
 * `codec`: arbitrary strings (any code point, lone surrogates included), arbitrary JSON values,
 * arbitrary bytes, and messages shaped like the protocol's with fields of every type; each as a
 * string and as a Buffer, with a `msg.text` limit from 1 to 40 characters. Invariants: never
 * throws; the answer is either a valid message
 * (one of the codec's types, fields of the right types, `msg.text` non-empty and at most the
 * limit in code points, at most 64 raw interests) or an error with a code of `ErrorCode`; and
 * it is the answer docs/protocol.md gives for the parsed value (model below), for the string and
 * for its UTF-8 bytes (where lone surrogates become U+FFFD, as in a real frame).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ErrorCode, parseClientMessage } from '../../src/chat/index.js';
import { runProperty, type FuzzBudget, type FuzzTarget } from '../../packages/websocket/test/fuzz/fuzz.js';

const CODES = new Set<string>(Object.values(ErrorCode));
const TYPES = ['msg', 'typing', 'find', 'ask', 'next', 'leave', 'report'];
const REASONS = ['spam', 'harassment', 'sexual', 'minor', 'other'];
/** `find.lang` / `ask.lang`: absent, or a primary language subtag of 2-3 letters. */
const langOk = (v: unknown): boolean => v === undefined || (typeof v === 'string' && /^[A-Za-z]{2,3}$/.test(v));

/** Code points of a string, as JavaScript iterates it (a lone surrogate is one). */
const codePoints = (s: string): number => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

/** docs/protocol.md's answer for a value that JSON.parse gave. */
export function expectedAnswer(value: unknown, maxChars: number): { type: string; code?: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { type: 'error', code: 'bad_message' };
  const m = value as Record<string, unknown>;
  switch (m.type) {
    case 'msg':
      if (typeof m.text !== 'string' || m.text === '') return { type: 'error', code: 'bad_message' };
      return codePoints(m.text) > maxChars ? { type: 'error', code: 'too_long' } : { type: 'msg' };
    case 'typing':
      return typeof m.on === 'boolean' ? { type: 'typing' } : { type: 'error', code: 'bad_message' };
    case 'find':
      if (!langOk(m.lang) || (m.questions !== undefined && typeof m.questions !== 'boolean')) return { type: 'error', code: 'bad_message' };
      if (m.interests === undefined) return { type: 'find' };
      return Array.isArray(m.interests) && m.interests.length <= 64 && m.interests.every((t) => typeof t === 'string')
        ? { type: 'find' }
        : { type: 'error', code: 'bad_message' };
    case 'ask':
      if (typeof m.question !== 'string' || m.question === '') return { type: 'error', code: 'bad_message' };
      if (codePoints(m.question) > 300) return { type: 'error', code: 'too_long' };
      return langOk(m.lang) ? { type: 'ask' } : { type: 'error', code: 'bad_message' };
    case 'report':
      if (m.reason !== undefined && m.reason !== null && !(typeof m.reason === 'string' && REASONS.includes(m.reason))) return { type: 'error', code: 'bad_message' };
      if (m.from !== undefined && m.from !== 0 && m.from !== 1 && m.from !== 2) return { type: 'error', code: 'bad_message' };
      return { type: 'report' };
    case 'next':
    case 'leave':
      return { type: m.type };
    default:
      return { type: 'error', code: 'bad_message' };
  }
}

/** Checks the shape of an answer against the input value (when it parsed as JSON). */
function checkAnswer(answer: ReturnType<typeof parseClientMessage>, value: unknown, maxChars: number): void {
  if (answer.type === 'error') {
    assert.ok(CODES.has(answer.code), `unknown error code ${answer.code}`);
    assert.equal(typeof answer.detail, 'string');
  } else {
    assert.ok(TYPES.includes(answer.type), `unknown message type ${answer.type}`);
    switch (answer.type) {
      case 'msg':
        assert.equal(typeof answer.text, 'string');
        assert.ok(answer.text.length > 0, 'an empty msg.text accepted');
        assert.ok(codePoints(answer.text) <= maxChars, `msg.text of ${codePoints(answer.text)} code points accepted, limit ${maxChars}`);
        break;
      case 'typing':
        assert.equal(typeof answer.on, 'boolean');
        break;
      case 'find':
        assert.ok(Array.isArray(answer.interests) && answer.interests.length <= 64);
        assert.ok(answer.interests.every((t) => typeof t === 'string'));
        assert.ok(/^([a-z]{2,3})?$/.test(answer.lang), `lang ${answer.lang}`);
        assert.equal(typeof answer.questions, 'boolean');
        break;
      case 'ask':
        assert.ok(answer.question.length > 0 && codePoints(answer.question) <= 300, 'a question of 1 to 300 characters');
        assert.ok(/^([a-z]{2,3})?$/.test(answer.lang), `lang ${answer.lang}`);
        break;
    }
  }
  if (value === undefined) return; // not JSON: must be bad_message
  const expected = expectedAnswer(value, maxChars);
  assert.deepEqual(answer.type === 'error' ? { type: 'error', code: answer.code } : { type: answer.type }, expected);
  if (answer.type === 'msg') assert.equal(answer.text, (value as { text: string }).text);
}

const anyValue = fc.oneof(fc.jsonValue(), fc.string({ unit: 'binary', maxLength: 60 }), fc.constant(undefined));

/** Text for `msg`: lengths around the limit, every kind of code point, lone surrogates too. */
const textArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 90 }),
  fc.string({ unit: 'grapheme', maxLength: 45 }),
  fc.array(fc.constantFrom('a', '😀', '\ud800', '\udc00', 'é', '\u0000', '"'), { maxLength: 90 }).map((a) => a.join('')),
);

const shapedArb = fc
  .record({
    type: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...TYPES) }, { weight: 1, arbitrary: fc.constantFrom('MSG', 'constructor', '__proto__', 'toString') }, { weight: 1, arbitrary: anyValue }),
    text: fc.oneof({ weight: 6, arbitrary: textArb }, { weight: 1, arbitrary: anyValue }),
    on: fc.oneof(fc.boolean(), anyValue),
    interests: fc.oneof(fc.array(fc.string({ unit: 'binary', maxLength: 12 }), { maxLength: 70 }), anyValue),
    lang: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('en', 'DE', 'fil', 'en-US', '', 'e', 'engl', 'é1', 'toString') }, { weight: 1, arbitrary: anyValue }),
    questions: fc.oneof(fc.boolean(), anyValue),
    question: fc.oneof(
      { weight: 4, arbitrary: textArb },
      { weight: 2, arbitrary: fc.integer({ min: 295, max: 305 }).chain((n) => fc.constantFrom('a', '😀', '\udc00').map((c) => c.repeat(n))) },
      { weight: 1, arbitrary: anyValue },
    ),
    reason: fc.oneof(fc.constantFrom('spam', 'other', 'rude', '__proto__'), anyValue),
    from: fc.oneof(fc.constantFrom(0, 1, 2, 3, -1, '1'), anyValue),
  }, { requiredKeys: ['type'] })
  .map((r) => JSON.stringify(r));

/** Input: a string to parse, and the limit. */
const inputArb = fc.record({
  text: fc.oneof(
    { weight: 6, arbitrary: shapedArb },
    { weight: 2, arbitrary: fc.json() },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 80 }) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b).toString('latin1')) },
  ),
  maxChars: fc.integer({ min: 1, max: 40 }),
});

/** The `codec` target's property. */
export function codecProperty(): fc.IProperty<[{ text: string; maxChars: number }]> {
  return fc.property(inputArb, ({ text, maxChars }) => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined;
    }
    const fromString = parseClientMessage(text, maxChars);
    if (value === undefined) assert.deepEqual(fromString.type === 'error' && fromString.code, 'bad_message', 'not JSON');
    checkAnswer(fromString, value, maxChars);
    // The same text as a frame's bytes (lone surrogates become U+FFFD, as in a real frame).
    const bytes = Buffer.from(text, 'utf8');
    const fromBytes = parseClientMessage(bytes, maxChars);
    let bytesValue: unknown;
    try {
      bytesValue = JSON.parse(bytes.toString('utf8'));
    } catch {
      bytesValue = undefined;
    }
    checkAnswer(fromBytes, bytesValue, maxChars);
  });
}

export const codecTargets: readonly FuzzTarget[] = [
  {
    name: 'codec',
    description: 'parseClientMessage: arbitrary strings, JSON and protocol-shaped messages, as string and Buffer; answers checked against a model',
    run: (budget: FuzzBudget) => runProperty('codec', codecProperty(), budget),
  },
];
