/**
 * Interop the other way round: our client (`connect()` from src/ws, which the load generator
 * uses) against the `ws` npm server, which checks our masking and framing strictly.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { WebSocketServer as WsServer } from 'ws';
import { connect, type ConnectionHandler, type WebSocketConnection } from '@strangers/websocket';

let wss: WsServer;
let url = '';
before(async () => {
  wss = new WsServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  await once(wss, 'listening');
  url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`;
});
after(async () => {
  for (const c of wss.clients) c.terminate();
  await new Promise<void>((resolve) => wss.close(() => resolve()));
});

/** Collects a client connection's events into promises. */
class Collector implements ConnectionHandler {
  messages: [Buffer, boolean][] = [];
  closed: [number, string] | undefined;
  errors: Error[] = [];
  #wake: (() => void) | undefined;
  message(_conn: WebSocketConnection, data: Buffer, isBinary: boolean): void {
    this.messages.push([data, isBinary]);
    this.#wake?.();
  }
  close(_conn: WebSocketConnection, code: number, reason: string): void {
    this.closed = [code, reason];
    this.#wake?.();
  }
  error(_conn: WebSocketConnection, err: Error): void {
    this.errors.push(err);
  }
  async until(cond: () => boolean, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timeout');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }
}

test('interop: our client against the ws server: text, binary, 4 MiB, close 1000', { timeout: 30_000 }, async () => {
  const h = new Collector();
  const conn = await connect(url, { handler: h });
  assert.equal(conn.send('hello ws server, κόσμε'), 'sent');
  conn.send(Buffer.from([9, 8, 7]));
  const big = Buffer.alloc(4 * 1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 17) & 0xff;
  conn.send(big);
  await h.until(() => h.messages.length === 3);
  assert.deepEqual(h.messages[0]?.[0].toString(), 'hello ws server, κόσμε');
  assert.equal(h.messages[0]?.[1], false);
  assert.deepEqual([...(h.messages[1]?.[0] ?? [])], [9, 8, 7]);
  assert.equal(h.messages[1]?.[1], true);
  assert.ok(h.messages[2]?.[0].equals(big));
  conn.close(1000, 'done');
  await h.until(() => h.closed !== undefined);
  assert.equal(h.closed?.[0], 1000); // ws echoes our reason too ('done'): either is fine
  assert.deepEqual(h.errors, []);
});

test('interop: the ws server closing with 4001 reaches our client with that code and reason', { timeout: 15_000 }, async () => {
  const h = new Collector();
  const closing = once(wss, 'connection');
  await connect(url, { handler: h });
  const [ws] = (await closing) as [import('ws').WebSocket];
  ws.close(4001, 'server says bye');
  await h.until(() => h.closed !== undefined);
  assert.deepEqual(h.closed, [4001, 'server says bye']);
});

describe('interop: our client against the ws server, permessage-deflate on', () => {
  const variants: [string, import('ws').ServerOptions['perMessageDeflate'], import('@strangers/websocket').PerMessageDeflateOptions | true, string][] = [
    ['ws defaults (context takeover both ways)', true, true, 'permessage-deflate'],
    ['ws without context takeover, 10-bit windows', { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 10 },
      true, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=10'],
    ['our client asking for no server context takeover and a 12-bit window', true, { serverNoContextTakeover: true, serverMaxWindowBits: 12 },
      'permessage-deflate; server_no_context_takeover; server_max_window_bits=12'],
  ];
  for (const [title, wsOptions, ours, extensions] of variants) {
    test(title, { timeout: 30_000 }, async () => {
      const server = new WsServer({ port: 0, host: '127.0.0.1', perMessageDeflate: wsOptions, maxPayload: 64 * 1024 * 1024 });
      let serverSide: import('ws').WebSocket | undefined;
      server.on('connection', (ws) => {
        serverSide = ws;
        ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
      });
      await once(server, 'listening');
      try {
        const h = new Collector();
        const conn = await connect(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`, { handler: h, perMessageDeflate: ours,
          // The burst below (1.2 MiB) waits for compression at once: queued bytes count against the cap.
          maxBufferedBytes: 8 * 1024 * 1024 });
        assert.equal(conn.extensions, extensions);
        const messages: (string | Buffer)[] = ['x'.repeat(100_000), 'tiny', Buffer.alloc(1024 * 1024, 3), 'κόσμε '.repeat(5000)];
        for (let i = 0; i < 100; i++) messages.push(i % 2 === 0 ? `n${i} `.repeat(i * 5) : Buffer.alloc(i * 20, i));
        for (const m of messages) conn.send(m);
        await h.until(() => h.messages.length === messages.length);
        messages.forEach((m, i) => {
          assert.equal(h.messages[i]![1], typeof m !== 'string', `message ${i} type`);
          assert.ok(h.messages[i]![0].equals(typeof m === 'string' ? Buffer.from(m) : m), `message ${i} differs`);
        });
        const total = messages.reduce((n, m) => n + Buffer.byteLength(m), 0);
        const socket = (serverSide as unknown as { _socket: import('node:net').Socket })._socket;
        assert.ok(socket.bytesRead < total / 5, `our client compressed (${socket.bytesRead} bytes for ${total})`);
        assert.ok(socket.bytesWritten < total / 5, `ws compressed (${socket.bytesWritten} bytes for ${total})`);
        conn.close(1000);
        await h.until(() => h.closed !== undefined);
        assert.equal(h.closed?.[0], 1000);
        assert.deepEqual(h.errors, []);
      } finally {
        for (const c of server.clients) c.terminate();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });
  }
});
