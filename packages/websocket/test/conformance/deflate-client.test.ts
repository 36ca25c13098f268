/**
 * Conformance, permessage-deflate on the client side (`connect()`), against a raw server written
 * here on node:net and node:zlib: the exact offers, the checks a client MUST make on the answer
 * (RFC 7692 7.1: fail on unknown, repeated or invalid parameters and on configurations not
 * offered), and the frames the client then sends (RSV1, window, context) and accepts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import zlib from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { connect, WebSocketError, type ConnectionHandler, type PerMessageDeflateOptions, type WebSocketConnection } from '@strangers/websocket';
import { expectedAccept, FrameParser, Op, type ServerFrame } from './raw-client.js';

/** What the raw server does with the next connection. */
interface Script {
  /** The Sec-WebSocket-Extensions answer (undefined: none). */
  answer: string | undefined;
  /** Runs after the 101 with the socket and the client's frames. */
  after?: (socket: net.Socket, frames: () => Promise<ServerFrame>) => Promise<void>;
}

let server: net.Server;
let port = 0;
let script: Script = { answer: undefined };
/** The offer of the last request. */
let lastOffer: string | undefined;
let done: Promise<void> = Promise.resolve();
const sockets = new Set<net.Socket>();

before(async () => {
  server = net.createServer((socket) => {
    socket.on('error', () => {});
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let head = Buffer.alloc(0);
    const parser = new FrameParser();
    const frames: ServerFrame[] = [];
    let wake: (() => void) | undefined;
    const onData = (chunk: Buffer): void => {
      if (head !== null && !head.includes('\r\n\r\n')) {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end === -1) return;
        const text = head.subarray(0, end).toString('latin1');
        const key = /sec-websocket-key: *(\S+)/i.exec(text)?.[1] ?? '';
        lastOffer = /sec-websocket-extensions: *([^\r]*)/i.exec(text)?.[1];
        socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: ${expectedAccept(key)}\r\n` +
          (script.answer === undefined ? '' : `Sec-WebSocket-Extensions: ${script.answer}\r\n`) + '\r\n');
        chunk = head.subarray(end + 4);
        const next = async (): Promise<ServerFrame> => {
          while (frames.length === 0) await new Promise<void>((resolve) => (wake = resolve));
          return frames.shift()!;
        };
        done = script.after?.(socket, next) ?? Promise.resolve();
      }
      for (const f of parser.push(chunk)) frames.push(f);
      wake?.();
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});
after(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** Collects a client connection's events. */
class Collector implements ConnectionHandler {
  messages: [Buffer, boolean][] = [];
  closed: number | undefined;
  errors: Error[] = [];
  #wake: (() => void) | undefined;
  message(_c: WebSocketConnection, data: Buffer, isBinary: boolean): void {
    this.messages.push([data, isBinary]);
    this.#wake?.();
  }
  close(_c: WebSocketConnection, code: number): void {
    this.closed = code;
    this.#wake?.();
  }
  error(_c: WebSocketConnection, error: Error): void {
    this.errors.push(error);
  }
  async until(cond: () => boolean, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error('timeout');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }
}

const url = (): string => `ws://127.0.0.1:${port}/`;

describe('the offer', () => {
  const cases: [PerMessageDeflateOptions | true, string][] = [
    [true, 'permessage-deflate; client_max_window_bits'],
    [{ clientNoContextTakeover: true }, 'permessage-deflate; client_no_context_takeover; client_max_window_bits'],
    [{ serverNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 12 },
      'permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12'],
  ];
  for (const [options, offer] of cases) {
    test(`perMessageDeflate ${JSON.stringify(options)} offers ${offer}`, async () => {
      script = { answer: undefined };
      const conn = await connect(url(), { handler: new Collector(), perMessageDeflate: options });
      assert.equal(lastOffer, offer);
      assert.equal(conn.extensions, '', 'declined by leaving the header out');
      conn.terminate();
    });
  }
  test('no offer unless asked for', async () => {
    script = { answer: undefined };
    const conn = await connect(url(), { handler: new Collector() });
    assert.equal(lastOffer, undefined);
    conn.terminate();
  });
  test('bad options are API misuse: RangeError', async () => {
    await assert.rejects(connect(url(), { handler: new Collector(), perMessageDeflate: { serverMaxWindowBits: 8 } }), RangeError);
    await assert.rejects(connect(url(), { handler: new Collector(), perMessageDeflate: { level: 10 } }), RangeError);
  });
});

describe('answers the client must fail (handshake_failed)', () => {
  const cases: [PerMessageDeflateOptions | true | undefined, string][] = [
    [undefined, 'permessage-deflate'],
    [true, 'x-webkit-deflate-frame'],
    [true, 'permessage-deflate, permessage-deflate'],
    [true, 'permessage-deflate; foo'],
    [true, 'permessage-deflate; server_no_context_takeover; server_no_context_takeover'],
    [true, 'permessage-deflate; server_no_context_takeover=true'],
    [true, 'permessage-deflate; client_max_window_bits'],
    [true, 'permessage-deflate; client_max_window_bits=8'],
    [true, 'permessage-deflate; server_max_window_bits=16'],
    [true, 'permessage-deflate; server_max_window_bits=09'],
    [true, 'permessage-deflate;'],
    [{ clientMaxWindowBits: 10 }, 'permessage-deflate; client_max_window_bits=11'],
    [{ serverMaxWindowBits: 10 }, 'permessage-deflate; server_max_window_bits=11'],
    [{ serverMaxWindowBits: 10 }, 'permessage-deflate'],
    [{ serverNoContextTakeover: true }, 'permessage-deflate'],
  ];
  for (const [options, answer] of cases) {
    test(`offer ${JSON.stringify(options ?? 'none')}, answer ${answer}`, async () => {
      script = { answer };
      await assert.rejects(connect(url(), { handler: new Collector(), perMessageDeflate: options }), (error: unknown) => {
        assert.ok(error instanceof WebSocketError);
        assert.equal(error.code, 'handshake_failed');
        return true;
      });
    });
  }
});

describe('answers the client accepts', () => {
  const cases: [PerMessageDeflateOptions | true, string, string][] = [
    [true, 'permessage-deflate', 'permessage-deflate'],
    [true, 'Permessage-Deflate ; Server_No_Context_Takeover', 'permessage-deflate; server_no_context_takeover'],
    [true, 'permessage-deflate; client_max_window_bits=10; server_max_window_bits="12"', 'permessage-deflate; server_max_window_bits=12; client_max_window_bits=10'],
    [{ serverNoContextTakeover: true, serverMaxWindowBits: 12 }, 'permessage-deflate; server_no_context_takeover; server_max_window_bits=9',
      'permessage-deflate; server_no_context_takeover; server_max_window_bits=9'],
    [true, 'permessage-deflate; client_no_context_takeover', 'permessage-deflate; client_no_context_takeover'],
  ];
  for (const [options, answer, normalised] of cases) {
    test(`offer ${JSON.stringify(options)}, answer ${answer}`, async () => {
      script = { answer };
      const conn = await connect(url(), { handler: new Collector(), perMessageDeflate: options });
      assert.equal(conn.extensions, normalised);
      conn.terminate();
    });
  }
});

/** Inflates a client message the way a strict server would: the agreed window, small output steps. */
function inflate(payload: Buffer, windowBits: number): Buffer {
  return zlib.inflateRawSync(Buffer.concat([payload, Buffer.from([0, 0, 0xff, 0xff])]), { windowBits, chunkSize: 64, finishFlush: zlib.constants.Z_SYNC_FLUSH });
}

describe('frames after the handshake', () => {
  test('client_max_window_bits=9 and client_no_context_takeover: every message compressed on its own within 512 bytes', async () => {
    const block = randomBytes(1024);
    const data = Buffer.concat([block, block, Buffer.alloc(4000, 0x62)]);
    const got: ServerFrame[] = [];
    script = {
      answer: 'permessage-deflate; client_no_context_takeover; client_max_window_bits=9',
      after: async (_socket, next) => {
        for (let i = 0; i < 3; i++) got.push(await next());
      },
    };
    const h = new Collector();
    const conn = await connect(url(), { handler: h, perMessageDeflate: true });
    conn.send(data);
    conn.send('small, under the threshold');
    conn.send(data);
    await done;
    assert.deepEqual(got.map((f) => [f.opcode, f.rsv, f.fin, f.masked]), [[Op.binary, 4, true, true], [Op.text, 0, true, true], [Op.binary, 4, true, true]]);
    assert.ok(inflate(got[0]!.payload, 9).equals(data));
    assert.equal(got[1]!.payload.toString(), 'small, under the threshold');
    // Without context takeover the second copy does not refer to the first: it inflates alone.
    assert.ok(inflate(got[2]!.payload, 9).equals(data));
    assert.ok(got[2]!.payload.equals(got[0]!.payload));
    conn.terminate();
  });

  test('with context takeover the second identical message refers to the first', async () => {
    // Incompressible alone: only a reference to the first copy makes the second small.
    const data = randomBytes(3000);
    const got: ServerFrame[] = [];
    script = { answer: 'permessage-deflate', after: async (_s, next) => {
      for (let i = 0; i < 2; i++) got.push(await next());
    } };
    const conn = await connect(url(), { handler: new Collector(), perMessageDeflate: true });
    conn.send(data);
    conn.send(data);
    await done;
    const z = zlib.createInflateRaw();
    const out: Buffer[] = [];
    z.on('data', (c: Buffer) => out.push(c));
    for (const f of got) {
      assert.equal(f.rsv, 4);
      z.write(Buffer.concat([f.payload, Buffer.from([0, 0, 0xff, 0xff])]));
      await new Promise<void>((resolve) => z.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
    }
    z.close();
    assert.ok(Buffer.concat(out).equals(Buffer.concat([data, data])));
    assert.ok(got[0]!.payload.length > 3000, 'the first copy stays compressed (context takeover: the peer window must see it)');
    assert.ok(got[1]!.payload.length < 100, `the second copy is a back-reference (${got[1]!.payload.length} bytes)`);
    conn.terminate();
  });

  test('a compressed server message is inflated; RSV1 on a continuation fails with 1002', async () => {
    const data = Buffer.from('from the server '.repeat(300));
    const payload = zlib.deflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
    let closeFrame: ServerFrame | undefined;
    script = { answer: 'permessage-deflate; server_no_context_takeover', after: async (socket, next) => {
      socket.write(Buffer.concat([Buffer.from([0xc1, 126, payload.length >> 8, payload.length & 0xff]), payload]));
      // a fragmented message with RSV1 on its continuation
      socket.write(Buffer.from([0x41, 1, 0x61, 0xc0, 1, 0x62]));
      closeFrame = await next();
    } };
    const h = new Collector();
    await connect(url(), { handler: h, perMessageDeflate: true });
    await done;
    await h.until(() => h.closed !== undefined);
    assert.equal(h.messages.length, 1);
    assert.ok(h.messages[0]![0].equals(data));
    assert.equal(closeFrame?.opcode, Op.close);
    assert.equal(closeFrame?.payload.readUInt16BE(0), 1002);
    assert.deepEqual(h.errors.map((e) => (e as WebSocketError).code), ['reserved_bits']);
  });

  test('a server message that inflates past maxMessageSize closes with 1009', async () => {
    const bomb = zlib.deflateRawSync(Buffer.alloc(8 * 1024 * 1024), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
    let closeFrame: ServerFrame | undefined;
    script = { answer: 'permessage-deflate', after: async (socket, next) => {
      socket.write(Buffer.concat([Buffer.from([0xc2, 126, bomb.length >> 8, bomb.length & 0xff]), bomb]));
      closeFrame = await next();
    } };
    const h = new Collector();
    await connect(url(), { handler: h, perMessageDeflate: true, maxMessageSize: 1024 * 1024 });
    await done;
    await h.until(() => h.closed !== undefined);
    assert.equal(h.messages.length, 0);
    assert.equal(closeFrame?.payload.readUInt16BE(0), 1009);
    assert.deepEqual(h.errors.map((e) => (e as WebSocketError).code), ['message_too_big']);
  });
});
