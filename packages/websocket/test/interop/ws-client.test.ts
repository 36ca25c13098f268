/**
 * Interop: the `ws` npm client (which none of us wrote) against our echo server: text, binary,
 * large messages, ping/pong, close 1000, subprotocols, and permessage-deflate offered and
 * declined.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { startEchoServer, type EchoServer } from '../echo-server.js';

let server: EchoServer;
/** Sec-WebSocket-Extensions of the last upgrade request (to prove an offer was made and declined). */
let lastOffer: string | undefined;
before(async () => {
  server = await startEchoServer({ port: 0, heartbeatIntervalMs: 0, protocols: ['chat.v1'] });
  server.http.prependListener('upgrade', (req: IncomingMessage) => {
    lastOffer = req.headers['sec-websocket-extensions'];
  });
});
after(async () => {
  await server.close();
});

const WAIT_MS = 10_000;

/** Opens a `ws` client; rejects on error or timeout. */
async function open(options: WebSocket.ClientOptions = {}, protocols?: string[]): Promise<WebSocket> {
  const ws = new WebSocket(`${server.url}/interop`, protocols, { handshakeTimeout: WAIT_MS, ...options });
  await once(ws, 'open');
  return ws;
}

/** The next message as [data, isBinary]. */
async function nextMessage(ws: WebSocket): Promise<[Buffer, boolean]> {
  const [data, isBinary] = (await once(ws, 'message', { signal: AbortSignal.timeout(WAIT_MS) })) as [Buffer, boolean];
  return [data, isBinary];
}

/** Closes with `code` and resolves with the close event's code and reason. */
async function closeWith(ws: WebSocket, code = 1000, reason = ''): Promise<[number, string]> {
  const closed = once(ws, 'close', { signal: AbortSignal.timeout(WAIT_MS) });
  ws.close(code, reason);
  const [gotCode, gotReason] = (await closed) as [number, Buffer];
  return [gotCode, gotReason.toString()];
}

describe('interop: ws client', () => {
  test('text and binary are echoed with the same type; close 1000 is clean', async () => {
    const ws = await open({ perMessageDeflate: false });
    ws.send('hello from ws, κόσμε 🙂');
    const [text, textIsBinary] = await nextMessage(ws);
    assert.equal(textIsBinary, false);
    assert.equal(text.toString(), 'hello from ws, κόσμε 🙂');
    const bin = Buffer.from([0, 1, 2, 253, 254, 255]);
    ws.send(bin);
    const [echoed, isBinary] = await nextMessage(ws);
    assert.equal(isBinary, true);
    assert.ok(echoed.equals(bin));
    assert.deepEqual(await closeWith(ws, 1000, 'bye'), [1000, '']);
  });

  test('large messages (1 MiB binary, 4 MiB text) are echoed intact', async () => {
    const ws = await open({ perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
    const bin = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < bin.length; i++) bin[i] = (i * 31) & 0xff;
    ws.send(bin);
    const [b] = await nextMessage(ws);
    assert.ok(b.equals(bin));
    const text = 'ü'.repeat(2 * 1024 * 1024);
    ws.send(text);
    const [t, isBinary] = await nextMessage(ws);
    assert.equal(isBinary, false);
    assert.equal(t.toString(), text);
    assert.deepEqual(await closeWith(ws), [1000, '']);
  });

  test('many messages in a burst come back in order', async () => {
    const ws = await open({ perMessageDeflate: false });
    const received: string[] = [];
    const all = new Promise<void>((resolve) => ws.on('message', (d) => {
      received.push(d.toString());
      if (received.length === 1000) resolve();
    }));
    for (let i = 0; i < 1000; i++) ws.send(`m${i}`);
    await all;
    assert.deepEqual(received, Array.from({ length: 1000 }, (_, i) => `m${i}`));
    assert.deepEqual(await closeWith(ws), [1000, '']);
  });

  test('a ping gets a pong with the same payload', async () => {
    const ws = await open({ perMessageDeflate: false });
    ws.ping(Buffer.from('are you there?'));
    const [payload] = (await once(ws, 'pong', { signal: AbortSignal.timeout(WAIT_MS) })) as [Buffer];
    assert.equal(payload.toString(), 'are you there?');
    assert.deepEqual(await closeWith(ws), [1000, '']);
  });

  test('permessage-deflate offered by the client is declined, and messages still flow uncompressed', async () => {
    const ws = await open({ perMessageDeflate: true });
    assert.match(lastOffer ?? '', /permessage-deflate/, 'the client offered it');
    assert.equal(ws.extensions, '', 'no extension negotiated');
    ws.send('x'.repeat(10_000));
    const [d] = await nextMessage(ws);
    assert.equal(d.toString(), 'x'.repeat(10_000));
    assert.deepEqual(await closeWith(ws), [1000, '']);
  });

  test('a subprotocol we speak is selected', async () => {
    const ws = await open({ perMessageDeflate: false }, ['other', 'chat.v1']);
    assert.equal(ws.protocol, 'chat.v1');
    assert.deepEqual(await closeWith(ws), [1000, '']);
  });

  test('an application close code (4000) is echoed back', async () => {
    const ws = await open({ perMessageDeflate: false });
    const [code] = await closeWith(ws, 4000, 'app reason');
    assert.ok(code === 4000 || code === 1000, `got ${code}`);
  });

  test('server shutdown reaches the ws client as close 1001', async () => {
    const own = await startEchoServer({ port: 0, heartbeatIntervalMs: 0 });
    const ws = new WebSocket(own.url, { perMessageDeflate: false });
    await once(ws, 'open');
    const closed = once(ws, 'close', { signal: AbortSignal.timeout(WAIT_MS) });
    await own.close();
    const [code] = (await closed) as [number];
    assert.equal(code, 1001);
  });
});

describe('interop: ws client, permessage-deflate on', () => {
  let pmd: EchoServer;
  let takeover: EchoServer;
  before(async () => {
    pmd = await startEchoServer({ port: 0, heartbeatIntervalMs: 0, perMessageDeflate: true });
    takeover = await startEchoServer({ port: 0, heartbeatIntervalMs: 0,
      perMessageDeflate: { serverNoContextTakeover: false, clientNoContextTakeover: false } });
  });
  after(async () => {
    await pmd.close();
    await takeover.close();
  });

  /** Bytes that went over ws's socket each way (ws 8 keeps its net.Socket in `_socket`). */
  const wire = (ws: WebSocket): { read: number; written: number } => {
    const socket = (ws as unknown as { _socket: import('node:net').Socket })._socket;
    return { read: socket.bytesRead, written: socket.bytesWritten };
  };

  const variants: [string, () => EchoServer, WebSocket.ClientOptions['perMessageDeflate'], RegExp][] = [
    ['ws defaults, our defaults', () => pmd, true, /^permessage-deflate; server_no_context_takeover; client_no_context_takeover$/],
    ['ws defaults, a server allowing context takeover', () => takeover, true, /^permessage-deflate$/],
    ['ws asking for a 10-bit server window', () => takeover, { serverMaxWindowBits: 10 }, /^permessage-deflate; server_max_window_bits=10$/],
    ['ws with no context takeover both ways', () => takeover, { serverNoContextTakeover: true, clientNoContextTakeover: true },
      /^permessage-deflate; server_no_context_takeover; client_no_context_takeover$/],
  ];
  for (const [title, server, options, extensions] of variants) {
    test(`${title}: negotiated, large and small messages both ways compressed, in order`, async () => {
      let offer: string | undefined;
      const onUpgrade = (req: IncomingMessage): void => void (offer = req.headers['sec-websocket-extensions']);
      server().http.prependOnceListener('upgrade', onUpgrade);
      const ws = new WebSocket(`${server().url}/deflate`, { perMessageDeflate: options, maxPayload: 64 * 1024 * 1024, handshakeTimeout: WAIT_MS });
      let answer: string | undefined;
      ws.once('upgrade', (res: IncomingMessage) => void (answer = res.headers['sec-websocket-extensions'] as string | undefined));
      await once(ws, 'open');
      assert.match(offer ?? '', /permessage-deflate/);
      assert.equal(ws.extensions, 'permessage-deflate', 'ws took it');
      assert.match(answer ?? '', extensions);
      const json = Buffer.from(JSON.stringify(Array.from({ length: 20_000 }, (_, i) => ({ i, name: `user-${i % 50}`, ok: i % 3 === 0 }))));
      const messages: (string | Buffer)[] = [json.toString(), 'small', Buffer.alloc(2 * 1024 * 1024, 0x5a), 'ü'.repeat(3000)];
      for (let i = 0; i < 200; i++) messages.push(i % 2 === 0 ? `m${i} `.repeat(i * 3) : Buffer.alloc(i * 10, i));
      const received: [Buffer, boolean][] = [];
      const all = new Promise<void>((resolve) => ws.on('message', (d: Buffer, isBinary: boolean) => {
        received.push([d, isBinary]);
        if (received.length === messages.length) resolve();
      }));
      for (const m of messages) ws.send(m);
      await all;
      messages.forEach((m, i) => {
        const [d, isBinary] = received[i]!;
        assert.equal(isBinary, typeof m !== 'string', `message ${i} type`);
        assert.ok(d.equals(typeof m === 'string' ? Buffer.from(m) : m), `message ${i} differs`);
      });
      const total = messages.reduce((n, m) => n + Buffer.byteLength(m), 0);
      const bytes = wire(ws);
      assert.ok(bytes.written < total / 5, `ws compressed what it sent (${bytes.written} bytes for ${total})`);
      assert.ok(bytes.read < total / 5, `we compressed what we sent back (${bytes.read} bytes for ${total})`);
      assert.deepEqual(await closeWith(ws), [1000, '']);
    });
  }

  test('a message that inflates past maxMessageSize closes the ws client with 1009', async () => {
    const small = await startEchoServer({ port: 0, heartbeatIntervalMs: 0, perMessageDeflate: true, maxMessageSize: 1024 * 1024 });
    try {
      const ws = new WebSocket(small.url, { perMessageDeflate: true, handshakeTimeout: WAIT_MS });
      await once(ws, 'open');
      const closed = once(ws, 'close', { signal: AbortSignal.timeout(WAIT_MS) });
      ws.send(Buffer.alloc(4 * 1024 * 1024));
      const [code] = (await closed) as [number];
      assert.equal(code, 1009);
      assert.ok(wire(ws).written < 64 * 1024, 'it went compressed: the limit applied to the inflated size');
    } finally {
      await small.close();
    }
  });
});
