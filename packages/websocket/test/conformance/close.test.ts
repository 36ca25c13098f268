/**
 * Conformance, Autobahn TestSuite section 7 (close handling), over real sockets against the
 * echo server: the server answers a close once, sends nothing after it, and closes TCP itself;
 * invalid close payloads fail with 1002 (or 1007 for a reason that is not UTF-8).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startEchoServer } from '../echo-server.js';
import { useEchoServer, wsCase } from './harness.js';
import { closeCodeOf, closePayload, encodeFrame, Op, RawClient } from './raw-client.js';
import { hex } from '../unit/utf8-vectors.js';

const echo = useEchoServer();

describe('7.1 basic close behaviour', () => {
  wsCase(echo, '7.1.1', 'text message, then close: echo, then close 1000, then TCP end', async (c) => {
    c.send(Op.text, 'Hello World!');
    await c.expectMessage(Op.text, 'Hello World!');
    await c.closeCleanly(1000);
  });
  wsCase(echo, '7.1.2', 'two closes: answered once', async (c) => {
    c.write(Buffer.concat([encodeFrame(Op.close, closePayload(1000)), encodeFrame(Op.close, closePayload(1000))]));
    c.sentClose = true;
    await c.expectClose([1000]);
  });
  wsCase(echo, '7.1.3', 'close, then ping: no pong after the close', async (c) => {
    c.write(Buffer.concat([encodeFrame(Op.close, closePayload(1000)), encodeFrame(Op.ping, 'Hello World!')]));
    c.sentClose = true;
    await c.expectClose([1000]);
  });
  wsCase(echo, '7.1.4', 'close, then text: no echo after the close', async (c) => {
    c.write(Buffer.concat([encodeFrame(Op.close, closePayload(1000)), encodeFrame(Op.text, 'Hello World!')]));
    c.sentClose = true;
    await c.expectClose([1000]);
  });
  wsCase(echo, '7.1.5', 'text fragment, close, continuation: only the close is answered', async (c) => {
    c.write(Buffer.concat([encodeFrame(Op.text, 'fragment1', { fin: false }), encodeFrame(Op.close, closePayload(1000)),
      encodeFrame(Op.continuation, 'fragment2')]));
    c.sentClose = true;
    await c.expectClose([1000]);
  });
  wsCase(echo, '7.1.6', '256 KiB text, close, ping back to back: echo, close, no pong', async (c) => {
    const big = Buffer.alloc(256 * 1024, 'BAsd7&jh23');
    c.write(Buffer.concat([encodeFrame(Op.text, big), encodeFrame(Op.close, closePayload(1000)), encodeFrame(Op.ping, 'Hello World!')]));
    c.sentClose = true;
    await c.expectMessage(Op.text, big);
    await c.expectClose([1000]);
  });
});

describe('7.3 close frame structure', () => {
  wsCase(echo, '7.3.1', 'close without payload: answered with no code or 1000', async (c) => {
    c.send(Op.close);
    await c.expectClose([undefined, 1000]);
  });
  wsCase(echo, '7.3.2', 'close with a 1-byte payload fails (1002)', async (c) => {
    c.send(Op.close, Buffer.from([0x03]));
    await c.expectFail(1002);
  });
  wsCase(echo, '7.3.3', 'close 1000 without reason: answered 1000', async (c) => {
    c.sendClose(1000);
    await c.expectClose([1000]);
  });
  wsCase(echo, '7.3.4', 'close 1000 with a reason: answered 1000', async (c) => {
    c.sendClose(1000, 'Hello World!');
    await c.expectClose([1000]);
  });
  wsCase(echo, '7.3.5', 'close 1000 with a 123-byte reason (payload 125): answered 1000', async (c) => {
    c.sendClose(1000, '*'.repeat(123));
    await c.expectClose([1000]);
  });
  wsCase(echo, '7.3.6', 'close 1000 with a 124-byte reason (payload 126) fails (1002)', async (c) => {
    c.sendClose(1000, '*'.repeat(124));
    await c.expectFail(1002);
  });
  wsCase(echo, '7.5.1', 'close 1000 with a reason that is not UTF-8 fails (1007)', async (c) => {
    c.sendClose(1000, hex('cebae1bdb9cf83cebcceb5eda080656469746564'));
    await c.expectFail(1007);
  });
});

describe('7.7 valid close codes are answered with the same code or 1000', () => {
  const valid = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
  valid.forEach((code, i) => {
    wsCase(echo, `7.7.${i + 1}`, `close ${code}`, async (c) => {
      c.sendClose(code);
      await c.expectClose([code, 1000]);
    });
  });
});

describe('7.9 and 7.13 invalid close codes fail with 1002', () => {
  const invalid = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999];
  invalid.forEach((code, i) => {
    wsCase(echo, `7.9.${i + 1}`, `close ${code}`, async (c) => {
      c.sendClose(code);
      await c.expectFail(1002);
    });
  });
  [5000, 65535].forEach((code, i) => {
    wsCase(echo, `7.13.${i + 1}`, `close ${code} (out of range)`, async (c) => {
      c.sendClose(code);
      await c.expectFail(1002);
    });
  });
});

describe('closing handshake details', () => {
  wsCase(echo, 'C.1', 'a client that never answers the server-initiated close is dropped', async (c) => {
    // The server fails the connection and closes TCP even though we never send a close.
    c.send(Op.text, hex('ff'));
    await c.expectFail(1007);
  });
  wsCase(echo, 'C.2', 'close reason with valid multi-byte UTF-8 is accepted', async (c) => {
    c.sendClose(1000, 'κόσμε ✓');
    await c.expectClose([1000]);
  });
  test('C.3 server shutdown closes open connections with 1001 and ends TCP', { timeout: 15_000 }, async () => {
    const server = await startEchoServer({ port: 0, closeTimeoutMs: 10_000, heartbeatIntervalMs: 0 });
    const c = await RawClient.open(server.port);
    try {
      c.send(Op.text, 'before shutdown');
      await c.expectMessage(Op.text, 'before shutdown');
      const closing = server.close();
      const f = await c.next();
      assert.equal(f.opcode, Op.close);
      assert.equal(closeCodeOf(f), 1001);
      // A ping before our close answer must not be answered: nothing is written after a close.
      c.send(Op.ping, 'late ping');
      c.sendClose(1001);
      await c.expectEnd();
      await closing;
      assert.equal(server.wss.size, 0);
    } finally {
      c.destroy();
    }
  });
  test('C.4 a peer that closes TCP without a close frame is cleaned up', { timeout: 15_000 }, async () => {
    const c = await RawClient.open(echo.port);
    const before = echo.server.wss.size;
    assert.ok(before >= 1);
    c.socket.destroy();
    const deadline = Date.now() + 5000;
    while (echo.server.wss.size >= before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.ok(echo.server.wss.size < before, 'connection still counted after TCP was closed');
  });
  wsCase(echo, 'C.5', 'a peer that half-closes TCP without a close frame gets the TCP end back', async (c) => {
    c.send(Op.text, 'then FIN');
    await c.expectMessage(Op.text, 'then FIN');
    c.socket.end();
    await c.expectEnd();
  });
});
