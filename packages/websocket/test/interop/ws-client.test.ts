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
