/**
 * Fuzz target of permessage-deflate (src/extensions.ts, src/deflate.ts), on real sockets.
 *
 * `deflate-socket`: a raw client offers a `Sec-WebSocket-Extensions` built from valid and invalid
 * pieces to an echo WebSocketServer with `perMessageDeflate: true` and a 64 KiB message limit,
 * then sends a sequence of frames: compressed messages (valid, fragmented, corrupted, inflating
 * past the limit, ending with a final block), uncompressed ones, pings, stray RSV bits, then a
 * close. Invariants: the answer is absent or a valid permessage-deflate answer; the server closes
 * within a bounded time with a close frame of 1000, 1002, 1007 or 1009; every frame it sends is
 * well formed, with RSV1 only on data frames and only when negotiated; when it closes with 1000,
 * the echoes (inflated by hand) are exactly the messages sent, in order.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import fc from 'fast-check';
import { WebSocketServer } from '@strangers/websocket';
import { encodeFrame, expectedAccept, FrameParser, Op, parsePmdAnswer, PmdCodec, type ServerFrame } from '../conformance/raw-client.js';
import { runProperty, type FuzzBudget, type FuzzReport, type FuzzTarget } from './fuzz.js';

const LIMIT = 64 * 1024;
const ANSWER_MS = 3000;

const paramArb = fc.constantFrom(
  'server_no_context_takeover', 'client_no_context_takeover', 'server_max_window_bits=10', 'server_max_window_bits=8',
  'server_max_window_bits=15', 'server_max_window_bits="9"', 'client_max_window_bits', 'client_max_window_bits=12',
  'server_max_window_bits', 'server_max_window_bits=16', 'client_max_window_bits=07', 'foo', 'server_no_context_takeover=1', '',
  'x="a,b"', '"', '=',
);
const elementArb = fc.tuple(fc.constantFrom('permessage-deflate', 'Permessage-Deflate', 'x-webkit-deflate-frame', 'permessage-deflate ', ''),
  fc.array(paramArb, { maxLength: 4 })).map(([name, params]) => [name, ...params].join('; '));
const offerArb = fc.array(elementArb, { minLength: 1, maxLength: 3 }).map((elements) => elements.join(', '));

type Op =
  | { kind: 'compressed'; text: boolean; data: Uint8Array; fragment: number; final: boolean }
  | { kind: 'bomb'; size: number }
  | { kind: 'corrupt'; data: Uint8Array; at: number }
  | { kind: 'plain'; text: boolean; data: Uint8Array }
  | { kind: 'ping' }
  | { kind: 'rsv'; rsv: number; opcode: number };

const ascii = fc.uint8Array({ minLength: 0, maxLength: 3000 }).map((a) => a.map((b) => 0x20 + (b % 90)));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('compressed' as const), text: fc.boolean(), data: fc.oneof(ascii, fc.uint8Array({ maxLength: 3000 })),
    fragment: fc.integer({ min: 1, max: 4000 }), final: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('bomb' as const), size: fc.integer({ min: LIMIT - 2, max: 4 * LIMIT }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('corrupt' as const), data: ascii, at: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('plain' as const), text: fc.boolean(), data: ascii }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('ping' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('rsv' as const), rsv: fc.constantFrom(1, 2, 3, 5, 6, 7), opcode: fc.constantFrom(Op.text, Op.continuation, Op.ping) }) },
);

interface Outcome {
  answer: string | undefined;
  frames: ServerFrame[];
  ended: boolean;
}

/** Sends the request, reads the answer, writes `frames(codec)` and reads until the server ends TCP. */
async function exchange(port: number, offer: string, build: (codec: PmdCodec | undefined) => Buffer): Promise<Outcome> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  const key = randomBytes(16).toString('base64');
  let head = Buffer.alloc(0);
  let upgraded = false;
  const parser = new FrameParser();
  const frames: ServerFrame[] = [];
  let answer: string | undefined;
  let ended = false;
  let status = '';
  let parseError: Error | undefined;
  let wake: () => void = () => {};
  socket.on('data', (chunk: Buffer) => {
    if (!upgraded) {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      // Checked by exchange(), not here: a throw in a listener would take the process down.
      status = head.subarray(0, end).toString('latin1');
      answer = /\r\nsec-websocket-extensions: ([^\r]*)/i.exec(status)?.[1];
      upgraded = true;
      chunk = head.subarray(end + 4);
      wake();
    }
    try {
      frames.push(...parser.push(chunk));
    } catch (error) {
      parseError = error as Error;
    }
  });
  socket.on('close', () => {
    ended = true;
    wake();
  });
  try {
    socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\n` +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: ${offer}\r\n\r\n`);
    const deadline = Date.now() + ANSWER_MS;
    const until = async (cond: () => boolean): Promise<void> => {
      while (!cond() && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, deadline - Date.now());
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
    };
    await until(() => upgraded || ended);
    assert.ok(upgraded, 'no answer to a valid upgrade request');
    assert.match(status, /^HTTP\/1\.1 101 /, `no 101: ${status.slice(0, 60)}`);
    assert.ok(status.includes(`\r\nSec-WebSocket-Accept: ${expectedAccept(key)}`), 'wrong accept key');
    const codec = answer === undefined ? undefined : new PmdCodec(parsePmdAnswer(answer));
    socket.write(build(codec));
    await until(() => ended);
    codec?.close();
    if (parseError !== undefined) throw parseError;
    return { answer, frames, ended };
  } finally {
    socket.destroy();
  }
}

export function deflateSocketProperty(port: number): fc.IAsyncProperty<[string, Op[]]> {
  return fc.asyncProperty(offerArb, fc.array(opArb, { maxLength: 8 }), async (offer, ops) => {
    /** What each message should echo as (null: a corrupted one, whose inflated bytes nobody knows). */
    const sent: [number, Buffer | null][] = [];
    const out = await exchange(port, offer, (codec) => {
      const bytes: Buffer[] = [];
      for (const op of ops) {
        if (op.kind === 'compressed' && codec !== undefined) {
          const data = Buffer.from(op.data);
          const payload = zlibCompress(codec, data, op.final);
          for (let off = 0, first = true; first || off < payload.length; first = false) {
            const end = Math.min(off + op.fragment, payload.length);
            bytes.push(encodeFrame(first ? (op.text ? Op.text : Op.binary) : Op.continuation, payload.subarray(off, end),
              { fin: end === payload.length, rsv: first ? 4 : 0 }));
            off = end;
          }
          sent.push([op.text ? Op.text : Op.binary, data]);
        } else if (op.kind === 'bomb' && codec !== undefined) {
          bytes.push(encodeFrame(Op.binary, zlibCompress(codec, Buffer.alloc(op.size), false), { rsv: 4 }));
          sent.push([Op.binary, Buffer.alloc(op.size)]);
        } else if (op.kind === 'corrupt' && codec !== undefined) {
          const payload = Buffer.from(zlibCompress(codec, Buffer.from(op.data), false));
          if (payload.length > 0) payload[op.at % payload.length] ^= 0xff;
          bytes.push(encodeFrame(Op.binary, payload, { rsv: 4 }));
          sent.push([Op.binary, null]);
        } else if (op.kind === 'plain' || op.kind === 'compressed' || op.kind === 'corrupt') {
          const data = Buffer.from(op.data);
          const text = op.kind !== 'corrupt' && op.text;
          bytes.push(encodeFrame(text ? Op.text : Op.binary, data));
          sent.push([text ? Op.text : Op.binary, data]);
        } else if (op.kind === 'ping') {
          bytes.push(encodeFrame(Op.ping, 'p'));
        } else if (op.kind === 'rsv') {
          bytes.push(encodeFrame(op.opcode, 'r', { rsv: op.rsv }));
        }
      }
      bytes.push(encodeFrame(Op.close, Buffer.from([0x03, 0xe8])));
      return Buffer.concat(bytes);
    });
    if (out.answer !== undefined) assert.doesNotThrow(() => parsePmdAnswer(out.answer!), `invalid answer ${out.answer}`);
    assert.ok(out.ended, `the server did not end TCP within ${ANSWER_MS} ms`);
    const close = out.frames.at(-1);
    assert.equal(close?.opcode, Op.close, 'the last frame is a close');
    const code = close.payload.readUInt16BE(0);
    assert.ok([1000, 1002, 1007, 1009].includes(code), `close code ${code}`);
    const codec = out.answer === undefined ? undefined : new PmdCodec(parsePmdAnswer(out.answer));
    const echoes: [number, Buffer][] = [];
    for (const f of out.frames.slice(0, -1)) {
      assert.equal(f.masked, false);
      if (f.opcode === Op.pong) continue;
      assert.ok(f.opcode === Op.text || f.opcode === Op.binary, `opcode ${f.opcode}`);
      assert.ok(f.fin);
      assert.ok(f.rsv === 0 || (f.rsv === 4 && codec !== undefined), `RSV ${f.rsv}`);
      echoes.push([f.opcode, f.rsv === 4 ? zlibInflate(codec!, f.payload) : f.payload]);
    }
    if (code === 1000) {
      assert.equal(echoes.length, sent.length, 'every message echoed');
    }
    // Echoes (all of them, or those before a failure) are the messages sent, in order.
    assert.ok(echoes.length <= sent.length, 'more echoes than messages');
    echoes.forEach(([opcode, data], i) => {
      const [want, wanted] = sent[i]!;
      assert.equal(opcode, want, `echo ${i} opcode`);
      if (wanted !== null) assert.ok(data.equals(wanted), `echo ${i} differs`);
    });
  });
}

// The server's defaults grant no context takeover either way: the codec works synchronously.
function zlibCompress(codec: PmdCodec, data: Buffer, final: boolean): Buffer {
  return codec.compressSync(data, { final });
}
function zlibInflate(codec: PmdCodec, payload: Buffer): Buffer {
  return codec.decompressSync(payload);
}

export const deflateTargets: readonly FuzzTarget[] = [
  {
    name: 'deflate-socket',
    description: 'offers and frame sequences to a permessage-deflate echo server: a valid answer, echoes in order or 1002/1007/1009, never a hang',
    async run(budget: FuzzBudget): Promise<FuzzReport> {
      const server = http.createServer();
      const wss = new WebSocketServer({
        handler: { message: (conn, data, isBinary) => void conn.send(data, isBinary), close() {} },
        perMessageDeflate: true, maxMessageSize: LIMIT, heartbeatIntervalMs: 0, closeTimeoutMs: 500,
      }).attach(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        return await runProperty('deflate-socket', deflateSocketProperty((server.address() as AddressInfo).port), budget);
      } finally {
        await wss.close();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    },
  },
];
