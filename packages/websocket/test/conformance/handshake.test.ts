/**
 * Conformance of the opening handshake (RFC 6455 4.2), over real sockets: every rejection is
 * a proper HTTP response followed by the end of the connection, never a hung socket.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startEchoServer, type EchoServer, type EchoServerOptions } from '../echo-server.js';
import { connect, WebSocketError } from '@strangers/websocket';
import { encodeFrame, expectedAccept, Op, RawClient, upgradeRequest, type RawResponse, WAIT_MS } from './raw-client.js';

const servers = new Map<string, EchoServer>();
const configs: Record<string, EchoServerOptions> = {
  plain: {},
  origin: { origins: ['https://good.example'] },
  protocols: { protocols: ['chat.v2', 'chat.v1'] },
  admit: { admit: (req) => (req.url === '/full' ? 503 : undefined) },
  path: { path: '/ws' },
  slow: { handshakeTimeoutMs: 1500 },
  linger: { closeTimeoutMs: 10_000 },
  cutoff: { closeTimeoutMs: 500 },
};
before(async () => {
  for (const [name, options] of Object.entries(configs)) {
    servers.set(name, await startEchoServer({ port: 0, heartbeatIntervalMs: 0, ...options }));
  }
});
after(async () => {
  await Promise.all([...servers.values()].map((s) => s.close()));
});
const port = (name: keyof typeof configs): number => {
  const s = servers.get(name);
  assert.ok(s, `server ${name} not started`);
  return s.port;
};

const newKey = (): string => randomBytes(16).toString('base64');

/** Sends raw request bytes and returns the response head; the connection stays open for inspection. */
async function request(p: number, bytes: string | Buffer): Promise<{ c: RawClient; res: RawResponse }> {
  const c = await RawClient.tcp(p);
  c.write(bytes);
  const res = await c.readResponse();
  return { c, res };
}

/** Asserts a rejection with one of `statuses` and that the server then closes the connection. */
async function expectRejected(p: number, bytes: string, statuses: readonly number[]): Promise<RawResponse> {
  const { c, res } = await request(p, bytes);
  try {
    assert.ok(statuses.includes(res.status), `expected ${statuses.join(' or ')}, got ${res.statusLine}`);
    assert.equal(res.headers['sec-websocket-accept'], undefined, 'a rejection must not carry an accept key');
    await c.expectEnd(WAIT_MS); // never a hung socket
    return res;
  } finally {
    c.destroy();
  }
}

/** A GET upgrade request with headers replaced or removed ('' removes). */
const req = (extra: Record<string, string>, path = '/'): string => upgradeRequest(path, newKey(), extra);

describe('handshake: accepted', () => {
  test('H.1 a valid request on any path gets 101 with the right accept key, no extension, no protocol', async () => {
    for (const path of ['/', '/any/path', '/x?y=1&z=%20']) {
      const c = await RawClient.open(port('plain'), { path });
      try {
        assert.equal(c.response?.headers['sec-websocket-protocol'], undefined);
        await c.closeCleanly();
      } finally {
        c.destroy();
      }
    }
  });
  test('H.2 header names and tokens are case-insensitive; Connection may list several tokens', async () => {
    const key = newKey();
    const raw = `GET / HTTP/1.1\r\nhost: 127.0.0.1\r\nupgrade: WebSocket\r\nconnection: keep-alive, Upgrade\r\n` +
      `sec-websocket-key: ${key}\r\nsec-websocket-version: 13\r\n\r\n`;
    const { c, res } = await request(port('plain'), raw);
    try {
      assert.equal(res.status, 101, res.statusLine);
      assert.equal(res.headers['sec-websocket-accept'], expectedAccept(key));
      c.startFrames();
      await c.closeCleanly();
    } finally {
      c.destroy();
    }
  });
  test('H.3 a frame sent in the same TCP write as the request is not lost', async () => {
    const key = newKey();
    const { c, res } = await request(port('plain'), Buffer.concat([Buffer.from(upgradeRequest('/', key)), encodeFrame(Op.text, 'early bird')]));
    try {
      assert.equal(res.status, 101, res.statusLine);
      c.startFrames();
      await c.expectMessage(Op.text, 'early bird');
      await c.closeCleanly();
    } finally {
      c.destroy();
    }
  });
  test('H.4 permessage-deflate offered (as browsers do) is declined: no extension header, and RSV1 then fails', async () => {
    const c = await RawClient.open(port('plain'), {
      headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits' },
    });
    try {
      c.send(Op.text, 'plain text');
      await c.expectMessage(Op.text, 'plain text');
      c.send(Op.text, Buffer.from([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]), { rsv: 4 });
      await c.expectFail(1002);
    } finally {
      c.destroy();
    }
  });
});

describe('handshake: rejected with a proper HTTP response', () => {
  test('H.5 Sec-WebSocket-Version 8 or 14 gets 426 with Sec-WebSocket-Version: 13', async () => {
    for (const v of ['8', '14', '13, 8', 'thirteen']) {
      const res = await expectRejected(port('plain'), req({ 'Sec-WebSocket-Version': v }), [426]);
      assert.equal(res.headers['sec-websocket-version'], '13', `version ${v}`);
    }
  });
  test('H.6 a missing Sec-WebSocket-Version gets 426 (with the version header) or 400', async () => {
    const res = await expectRejected(port('plain'), req({ 'Sec-WebSocket-Version': '' }), [400, 426]);
    if (res.status === 426) assert.equal(res.headers['sec-websocket-version'], '13');
  });
  test('H.7 a key that is not base64 of 16 bytes gets 400', async () => {
    const bad = ['', 'abc', Buffer.alloc(15).toString('base64'), Buffer.alloc(17).toString('base64'),
      '!!!!!!!!!!!!!!!!!!!!!!==', 'AAAAAAAAAAAAAAAAAAAAAA', 'AAAAAAAAAAAAAAAAAAAAAA=='.replace('==', '=A')];
    for (const key of bad) {
      await expectRejected(port('plain'), req({ 'Sec-WebSocket-Key': key }), [400]);
    }
  });
  test('H.8 a request without Upgrade: websocket, or without the upgrade token in Connection, gets 400', async () => {
    await expectRejected(port('plain'), req({ Upgrade: '' }), [400]);
    await expectRejected(port('plain'), req({ Connection: 'keep-alive' }), [400]);
    await expectRejected(port('plain'), req({ Connection: '' }), [400]);
    await expectRejected(port('plain'), req({ Upgrade: 'h2c' }), [400]);
  });
  test('H.9 a non-GET upgrade request gets 405 or 400', async () => {
    const key = newKey();
    const raw = upgradeRequest('/', key).replace(/^GET /, 'POST ').replace('\r\n\r\n', '\r\nContent-Length: 0\r\n\r\n');
    const res = await expectRejected(port('plain'), raw, [400, 405]);
    if (res.status === 405) assert.match(res.headers['allow'] ?? '', /GET/);
  });
  test('H.10 an HTTP/1.0 upgrade request is refused', async () => {
    const raw = upgradeRequest('/', newKey()).replace(' HTTP/1.1\r\n', ' HTTP/1.0\r\n');
    const { c, res } = await request(port('plain'), raw);
    try {
      assert.ok(res.status >= 400, `expected a refusal, got ${res.statusLine}`);
    } finally {
      c.destroy();
    }
  });
  test('H.11 an origin outside the allowed list gets 403; an allowed one gets 101', async () => {
    await expectRejected(port('origin'), req({ Origin: 'https://evil.example' }), [403]);
    const c = await RawClient.open(port('origin'), { headers: { Origin: 'https://good.example' } });
    try {
      await c.closeCleanly();
    } finally {
      c.destroy();
    }
  });
  test('H.12 admission refused with the status admit() returns', async () => {
    await expectRejected(port('admit'), req({}, '/full'), [503]);
    const c = await RawClient.open(port('admit'), { path: '/ok' });
    c.destroy();
  });
  test('H.13 with a path option, another path gets 404', async () => {
    await expectRejected(port('path'), req({}, '/elsewhere'), [404]);
    const c = await RawClient.open(port('path'), { path: '/ws' });
    c.destroy();
  });
});

describe('handshake: subprotocols', () => {
  const open = async (offer: string | undefined, name: keyof typeof configs = 'protocols'): Promise<string | undefined> => {
    const c = await RawClient.open(port(name), { headers: offer === undefined ? {} : { 'Sec-WebSocket-Protocol': offer } });
    try {
      await c.closeCleanly();
      return c.response?.headers['sec-websocket-protocol'];
    } finally {
      c.destroy();
    }
  };
  test('H.14 the server selects a protocol the client offered', async () => {
    assert.equal(await open('chat.v1'), 'chat.v1');
    assert.equal(await open('other, chat.v1'), 'chat.v1');
    assert.equal(await open('chat.v2'), 'chat.v2');
  });
  test('H.15 with several offered, the server\'s preference order wins', async () => {
    assert.equal(await open('chat.v1, chat.v2'), 'chat.v2');
  });
  test('H.16 no common protocol, or none offered: no Sec-WebSocket-Protocol header', async () => {
    assert.equal(await open('other'), undefined);
    assert.equal(await open(undefined), undefined);
    assert.equal(await open('chat.v1', 'plain'), undefined);
  });
});

describe('handshake: slow clients', () => {
  // "a handshake that does not complete in a few seconds is dropped" (handshakeTimeoutMs 1500 here).
  test('H.17 a partial handshake that never completes is dropped within a few seconds', { timeout: 20_000 }, async () => {
    const c = await RawClient.tcp(port('slow'));
    try {
      c.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n');
      await c.expectEnd(5000);
    } finally {
      c.destroy();
    }
  });
  test('H.18 a connection that sends nothing at all is dropped within a few seconds', { timeout: 20_000 }, async () => {
    const c = await RawClient.tcp(port('slow'));
    try {
      await c.expectEnd(5000);
    } finally {
      c.destroy();
    }
  });
});

/** Sockets the server still holds (open or half-closed), refused upgrades included. */
const held = (name: keyof typeof configs): Promise<number> =>
  new Promise((resolve, reject) => servers.get(name)!.http.getConnections((err, n) => (err ? reject(err) : resolve(n))));

/** Waits (bounded) until the server holds no socket; returns how many it still holds. */
async function released(name: keyof typeof configs, withinMs: number): Promise<number> {
  const deadline = Date.now() + withinMs;
  let n = await held(name);
  while (n > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    n = await held(name);
  }
  return n;
}

describe('handshake: a refused socket is let go', () => {
  // Regression (found by the handshake-socket fuzz target): a refused upgrade's socket was ended
  // but never read again, so when the client sent more bytes after its request, the server never
  // saw the client's FIN and held the socket (and its file descriptor) forever.
  test('H.21 bytes after a refused request, then the client\'s FIN: the server closes its socket at once', { timeout: 20_000 }, async () => {
    const c = await RawClient.tcp(port('linger'));
    try {
      c.write(req({ 'Sec-WebSocket-Version': '' }));
      const res = await c.readResponse();
      assert.equal(res.status, 426);
      c.write('*=');
      c.socket.end();
      await c.expectEnd();
      // Well before the 10 s close timeout: the FIN closed it.
      assert.equal(await released('linger', 3000), 0, 'the server still holds the refused socket');
    } finally {
      c.destroy();
    }
  });
  test('H.22 a client that never closes after a refusal is cut off after the close timeout', { timeout: 20_000 }, async () => {
    // allowHalfOpen: our side stays open after the server's FIN, as a hostile client's would.
    const socket = net.connect({ port: port('cutoff'), host: '127.0.0.1', allowHalfOpen: true });
    socket.on('error', () => {});
    try {
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      let response = '';
      socket.on('data', (chunk: Buffer) => (response += chunk.toString('latin1')));
      socket.write(req({ Upgrade: 'h2c' }));
      await new Promise<void>((resolve) => socket.once('end', resolve));
      assert.match(response, /^HTTP\/1\.1 400 /);
      assert.equal(socket.writable, true, 'our side is still open');
      assert.equal(await released('cutoff', 5000), 0, 'the server still holds the refused socket');
    } finally {
      socket.destroy();
    }
  });
});

describe('handshake: our client (connect) reports refusals', () => {
  test('H.19 a refused upgrade rejects with handshake_failed and the HTTP status', async () => {
    const handler = { message() {}, close() {} };
    await assert.rejects(connect(`ws://127.0.0.1:${port('origin')}/`, { handler, headers: { Origin: 'https://evil.example' } }),
      (err: unknown) => err instanceof WebSocketError && err.code === 'handshake_failed' && err.status === 403);
    await assert.rejects(connect(`ws://127.0.0.1:${port('path')}/nope`, { handler }),
      (err: unknown) => err instanceof WebSocketError && err.code === 'handshake_failed' && err.status === 404);
  });
  test('H.20 an accepted upgrade resolves with the selected protocol', async () => {
    const conn = await connect(`ws://127.0.0.1:${port('protocols')}/`, { handler: { message() {}, close() {} }, protocols: ['x', 'chat.v1'] });
    assert.equal(conn.protocol, 'chat.v1');
    conn.terminate();
  });
});
