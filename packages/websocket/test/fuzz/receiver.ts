/**
 * Fuzz targets of the frame receiver (src/ws/receiver.ts).
 *
 * `receiver`: arbitrary bytes, and sequences of frames (valid or nearly: reserved opcodes and
 * bits, wrong masking, long control frames, close codes of every kind) with a few bytes mutated;
 * both roles and several message limits. Invariants, for every input:
 *   - `push()` never throws;
 *   - the input is delivered whole, cut at random points and (when short) byte by byte: the
 *     events are the same every time (split points never change the outcome);
 *   - it ends in messages / pings / pongs, then either nothing (the receiver waits for more
 *     bytes) or exactly one terminal event: a valid close frame, or an error whose code is in
 *     src/ws/errors.ts with that code's close code; `done` is true exactly then;
 *   - messages are at most maxMessageSize, text is valid UTF-8, control payloads <= 125 bytes;
 *   - between pushes the receiver holds at most 2 x maxMessageSize + 512 bytes of memory
 *     (`retainedBytes`: whole backing stores), although each piece arrives inside a store four
 *     times its size, as a frame does inside a socket read.
 *
 * `receiver-model`: valid streams (fragmented text and binary messages, UTF-8 cut anywhere,
 * pings and pongs between fragments, every length form, an optional close and bytes after it)
 * whose events are predicted by a model, with limits that some messages pass: the receiver must
 * report exactly the model's events, under every cut.
 */
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { ErrorCodes, Receiver, isValidCloseCode, type ReceiverOptions } from '@strangers/websocket';
import { Recorder, close, frame, type Event } from '../unit/frames.js';
import { rarely, runProperty, type FuzzBudget, type FuzzTarget } from './fuzz.js';

const Op = { cont: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

/** Inputs up to this size are also fed one byte per push. */
const BYTEWISE_MAX = 200;

/** Error codes the receiver may report (the others belong to the connection and the client). */
const RECEIVER_ERRORS = new Map<string, number>(
  Object.values(ErrorCodes)
    .filter((k) => k.code !== 'buffer_overflow' && k.code !== 'heartbeat_timeout' && k.code !== 'handshake_failed')
    .map((k) => [k.code, k.close]),
);

/** What a receiver reported for one delivery of an input. */
export interface Delivery {
  readonly events: readonly Event[];
  readonly done: boolean;
  /** The most memory the receiver held between two pushes. */
  readonly maxRetained: number;
}

/**
 * Feeds `bytes` cut at `cuts` (sorted offsets), each piece copied into a store of its own:
 * four times its size (the receiver must not keep the store alive for a small piece) or,
 * with `exact`, just its size (the receiver may keep it as a view).
 */
export function deliver(bytes: Buffer, cuts: readonly number[], options: ReceiverOptions, exact = false): Delivery {
  const rec = new Recorder();
  const r = new Receiver(rec, options);
  let from = 0;
  let maxRetained = 0;
  for (const to of [...cuts, bytes.length]) {
    if (to <= from) continue;
    const n = to - from;
    const store = Buffer.allocUnsafeSlow(exact ? n : 4 * n + 64);
    const piece = exact ? store : store.subarray(32, 32 + n);
    bytes.copy(piece, 0, from, to);
    rec.fed = to;
    r.push(piece);
    maxRetained = Math.max(maxRetained, r.retainedBytes);
    from = to;
  }
  return { events: rec.events, done: r.done, maxRetained };
}

/** Checks the invariants of one delivery (see the file's comment). */
export function checkOutcome(d: Delivery, options: ReceiverOptions): void {
  const { events } = d;
  const terminal = events.findIndex((e) => e[0] === 'close' || e[0] === 'error');
  if (terminal !== -1) assert.equal(terminal, events.length - 1, 'an event after a close frame or an error');
  assert.equal(d.done, terminal !== -1, 'done must be true exactly after a close frame or an error');
  for (const e of events) {
    switch (e[0]) {
      case 'message': {
        const data = Buffer.from(e[2], 'hex');
        assert.ok(data.length <= options.maxMessageSize, `a message of ${data.length} bytes, limit ${options.maxMessageSize}`);
        if (e[1] === 'text') assert.ok(isUtf8(data), 'a text message that is not UTF-8');
        break;
      }
      case 'ping':
      case 'pong':
        assert.ok(e[1].length / 2 <= 125, 'a control payload over 125 bytes');
        break;
      case 'close':
        assert.ok(e[1] === 1005 || isValidCloseCode(e[1]), `close code ${e[1]} reported`);
        assert.ok(Buffer.byteLength(e[2]) <= 123, 'a close reason over 123 bytes');
        assert.ok(e[1] !== 1005 || e[2] === '', 'a reason without a code');
        break;
      case 'error':
        assert.ok(RECEIVER_ERRORS.has(e[1]), `unknown error code ${e[1]}`);
        assert.equal(e[2], RECEIVER_ERRORS.get(e[1]), `close code of ${e[1]}`);
        break;
    }
  }
  const bound = 2 * options.maxMessageSize + 512;
  assert.ok(d.maxRetained <= bound, `the receiver held ${d.maxRetained} bytes between pushes (bound ${bound})`);
}

/** Delivers an input every way (whole, cut, byte by byte when short), checks each, compares them. */
export function checkAllDeliveries(bytes: Buffer, cuts: readonly number[], options: ReceiverOptions): Delivery {
  const whole = deliver(bytes, [], options);
  checkOutcome(whole, options);
  const ways: [string, Delivery][] = [
    [`cut at ${cuts.join(',')}`, deliver(bytes, cuts, options)],
    [`cut at ${cuts.join(',')} into exact stores`, deliver(bytes, cuts, options, true)],
  ];
  if (bytes.length <= BYTEWISE_MAX) ways.push(['byte by byte', deliver(bytes, Array.from({ length: bytes.length }, (_, i) => i + 1), options)]);
  for (const [how, d] of ways) {
    checkOutcome(d, options);
    assert.deepEqual(d.events, whole.events, `delivered ${how}, the events differ from the whole input`);
  }
  return whole;
}

// ---- generators -------------------------------------------------------------------------------

const optionsArb: fc.Arbitrary<ReceiverOptions> = fc.record({
  isServer: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  maxMessageSize: fc.constantFrom(1, 16, 125, 126, 1000, 65_536, 1 << 20),
});

const payloadArb: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 6, arbitrary: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)) },
  { weight: 4, arbitrary: fc.string({ unit: 'grapheme', maxLength: 16 }).map((s) => Buffer.from(s, 'utf8')) },
  { weight: 1, arbitrary: fc.integer({ min: 120, max: 300 }).map((n) => Buffer.alloc(n, 0x61)) },
  { weight: 1, arbitrary: fc.constantFrom(65_535, 65_536, 70_000).map((n) => Buffer.alloc(n, 0x62)) },
);

/** Close codes of every class: valid, reserved, never sent, out of range. */
const closeCodeArb = fc.oneof(
  fc.constantFrom(1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1011, 1014, 1015, 1016, 2999, 3000, 4999, 5000),
  fc.integer({ min: 0, max: 0xffff }),
);

/** One frame, as bytes, for the given role: usually well formed, sometimes subtly not. */
const frameArb = (isServer: boolean): fc.Arbitrary<Buffer> =>
  fc
    .record({
      opcode: fc.oneof({ weight: 12, arbitrary: fc.constantFrom(0, 1, 2, 8, 9, 10) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }) }),
      fin: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 2, arbitrary: fc.constant(false) }),
      rsv: fc.oneof({ weight: 15, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 7 }) }),
      wrongMask: fc.oneof({ weight: 20, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      key: fc.uint8Array({ minLength: 4, maxLength: 4 }),
      lengthForm: fc.constantFrom(undefined, undefined, undefined, 16 as const, 64 as const),
      payload: payloadArb,
      closeCode: fc.option(closeCodeArb, { freq: 4 }),
    })
    .map(({ opcode, fin, rsv, wrongMask, key, lengthForm, payload, closeCode }) => {
      const data = opcode === Op.close && closeCode !== null ? close(closeCode, payload.subarray(0, 123)) : payload;
      const form = lengthForm === 16 && data.length > 0xffff ? 64 : lengthForm;
      const masked = isServer !== wrongMask;
      return frame(opcode, data, { fin, rsv, lengthForm: form, mask: masked ? Buffer.from(key) : false });
    });

/** A byte-level mutation of an input. */
interface Mutation {
  readonly op: 'flip' | 'set' | 'insert' | 'delete' | 'truncate';
  readonly at: number;
  readonly value: number;
}
const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom('flip', 'set', 'insert', 'delete', 'truncate'),
  at: fc.nat(),
  value: fc.nat(255),
});

export function mutate(input: Buffer, mutations: readonly Mutation[]): Buffer {
  let bytes = Buffer.from(input);
  for (const { op, at, value } of mutations) {
    const i = bytes.length === 0 ? 0 : at % bytes.length;
    if (op === 'insert') bytes = Buffer.concat([bytes.subarray(0, i), Buffer.from([value]), bytes.subarray(i)]);
    else if (bytes.length === 0) continue;
    else if (op === 'flip') bytes[i] = bytes[i]! ^ (1 << (value & 7));
    else if (op === 'set') bytes[i] = value;
    else if (op === 'delete') bytes = Buffer.concat([bytes.subarray(0, i), bytes.subarray(i + 1)]);
    else bytes = bytes.subarray(0, i);
  }
  return bytes;
}

/** Sorted cut offsets inside `length`. */
const cutsFor = (length: number, raw: readonly number[]): number[] =>
  length < 2 ? [] : [...new Set(raw.map((n) => 1 + (n % (length - 1))))].sort((a, b) => a - b);

const receiverInputArb = optionsArb.chain((options) =>
  fc.record({
    options: fc.constant(options),
    bytes: fc.oneof(
      { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)) },
      {
        weight: 5,
        arbitrary: fc
          .tuple(fc.array(frameArb(options.isServer), { minLength: 1, maxLength: 8 }), fc.array(mutationArb, { maxLength: 3 }))
          .map(([frames, mutations]) => mutate(Buffer.concat(frames), mutations)),
      },
    ),
    cuts: fc.array(fc.nat(), { maxLength: 12 }),
  }),
);

/** The `receiver` target: arbitrary and mutated input; invariants only. */
export function receiverProperty(): fc.IProperty<[{ options: ReceiverOptions; bytes: Buffer; cuts: number[] }]> {
  return fc.property(receiverInputArb, ({ options, bytes, cuts }) => {
    checkAllDeliveries(bytes, cutsFor(bytes.length, cuts), options);
  });
}

// ---- model ------------------------------------------------------------------------------------

interface ModelMessage {
  readonly binary: boolean;
  readonly parts: readonly Buffer[];
  /** Control frames sent before each part (same length as parts). */
  readonly controls: readonly (readonly { ping: boolean; payload: Buffer }[])[];
}

const controlArb = fc.record({
  ping: fc.boolean(),
  payload: fc.uint8Array({ maxLength: 125 }).map((a) => Buffer.from(a)),
});

/** A message cut into parts at arbitrary byte offsets (text: UTF-8 cut inside code points too). */
const modelMessageArb: fc.Arbitrary<ModelMessage> = fc
  .record({
    binary: fc.boolean(),
    text: fc.string({ unit: 'grapheme', maxLength: 40 }),
    bytes: fc.uint8Array({ maxLength: 60 }),
    big: rarely(fc.constantFrom(126, 1000, 65_536, 70_000), 8),
    cuts: fc.array(fc.nat(), { maxLength: 4 }),
    controls: fc.array(fc.array(controlArb, { maxLength: 2 }), { minLength: 5, maxLength: 5 }),
  })
  .map(({ binary, text, bytes, big, cuts, controls }) => {
    const data = big !== null ? Buffer.alloc(big, binary ? 0xfe : 0x7a) : binary ? Buffer.from(bytes) : Buffer.from(text, 'utf8');
    const offsets = data.length === 0 ? [] : [...new Set(cuts.map((c) => c % data.length))].filter((o) => o > 0).sort((a, b) => a - b);
    const bounds = [0, ...offsets, data.length];
    const parts = bounds.slice(1).map((end, i) => data.subarray(bounds[i], end));
    return { binary, parts, controls: parts.map((_, i) => controls[i] ?? []) };
  });

const modelInputArb = fc.record({
  options: fc.record({ isServer: fc.boolean(), maxMessageSize: fc.constantFrom(125, 1000, 70_000, 1 << 20) }),
  messages: fc.array(modelMessageArb, { minLength: 1, maxLength: 5 }),
  closing: fc.option(fc.record({ code: fc.constantFrom(1000, 1001, 1011, 3000, 4999), reason: fc.string({ maxLength: 20 }) })),
  trailing: fc.uint8Array({ maxLength: 20 }),
  keys: fc.array(fc.uint8Array({ minLength: 4, maxLength: 4 }), { minLength: 1, maxLength: 4 }),
  lengthForms: fc.array(fc.constantFrom(undefined, 16 as const, 64 as const), { minLength: 1, maxLength: 4 }),
  cuts: fc.array(fc.nat(), { maxLength: 12 }),
});

type ModelInput = typeof modelInputArb extends fc.Arbitrary<infer T> ? T : never;

/** Encodes the stream and predicts the receiver's events from the RFC's rules. */
export function model(input: ModelInput): { bytes: Buffer; expected: Event[] } {
  const { options, messages, closing, trailing, keys, lengthForms } = input;
  const frames: Buffer[] = [];
  const expected: Event[] = [];
  let n = 0;
  const encode = (opcode: number, payload: Buffer, fin: boolean): void => {
    const key = keys[n % keys.length]!;
    // Non-minimal length forms only on data frames: a control frame's 7-bit length is its length.
    const form = opcode < Op.close ? lengthForms[n % lengthForms.length] : undefined;
    n++;
    frames.push(frame(opcode, payload, {
      fin,
      mask: options.isServer ? Buffer.from(key) : false,
      lengthForm: form === 16 && payload.length > 0xffff ? 64 : form,
    }));
  };
  let failed = false;
  for (const m of messages) {
    let size = 0;
    for (let i = 0; i < m.parts.length && !failed; i++) {
      for (const c of m.controls[i]!) {
        encode(c.ping ? Op.ping : Op.pong, c.payload, true);
        expected.push([c.ping ? 'ping' : 'pong', c.payload.toString('hex')]);
      }
      const part = m.parts[i]!;
      const fin = i === m.parts.length - 1;
      encode(i === 0 ? (m.binary ? Op.binary : Op.text) : Op.cont, part, fin);
      size += part.length;
      // Decided from the header of the frame that crosses the limit.
      if (size > options.maxMessageSize) {
        expected.push(['error', 'message_too_big', 1009]);
        failed = true;
      } else if (fin) {
        expected.push(['message', m.binary ? 'binary' : 'text', Buffer.concat(m.parts).toString('hex')]);
      }
    }
    if (failed) break;
  }
  if (!failed && closing !== null) {
    // A reason of printable ASCII, at most 20 bytes: valid in a close frame.
    encode(Op.close, close(closing.code, closing.reason), true);
    expected.push(['close', closing.code, closing.reason]);
    frames.push(Buffer.from(trailing)); // ignored: nothing after a close frame is parsed
  }
  return { bytes: Buffer.concat(frames), expected };
}

/** The `receiver-model` target: valid streams; the events must be the model's, under every cut. */
export function receiverModelProperty(): fc.IProperty<[ModelInput]> {
  return fc.property(modelInputArb, (input) => {
    const { bytes, expected } = model(input);
    const whole = checkAllDeliveries(bytes, cutsFor(bytes.length, input.cuts), input.options);
    assert.deepEqual(whole.events, expected);
  });
}

export const receiverTargets: readonly FuzzTarget[] = [
  {
    name: 'receiver',
    description: 'Receiver.push: arbitrary bytes and mutated frame sequences, both roles, whole / cut / byte by byte',
    run: (budget: FuzzBudget) => runProperty('receiver', receiverProperty(), budget),
  },
  {
    name: 'receiver-model',
    description: 'Receiver.push: valid fragmented streams with controls, events checked against a model under every cut',
    run: (budget: FuzzBudget) => runProperty('receiver-model', receiverModelProperty(), budget),
  },
];
