/**
 * What the application sees, over real sockets: close() is called exactly once with the peer's
 * code (1006 when no close frame came), protocol errors reach error() with their stable code,
 * and a handler that throws closes only its own connection with 1011.
 */
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import { WebSocketError, type ConnectionHandler, type WebSocketConnection } from '@strangers/websocket';
import { useHandlerServer } from './harness.js';
import { Op, RawClient } from './raw-client.js';

type Seen = ['open'] | ['message', string] | ['close', number, string] | ['error', string, number];
let seen: Seen[] = [];
let wake: (() => void) | undefined;
const push = (s: Seen): void => {
  seen.push(s);
  wake?.();
};

const handler: ConnectionHandler = {
  open() {
    push(['open']);
  },
  message(conn: WebSocketConnection, data: Buffer) {
    const text = data.toString();
    push(['message', text]);
    if (text === 'throw') throw new Error('handler bug');
    conn.send(data, false);
  },
  close(_conn, code, reason) {
    push(['close', code, reason]);
  },
  error(_conn, err) {
    push(['error', err instanceof WebSocketError ? err.code : err.message, err instanceof WebSocketError ? err.closeCode : 0]);
  },
};

const server = useHandlerServer(handler, { heartbeatIntervalMs: 0, closeTimeoutMs: 10_000 });
beforeEach(() => {
  seen = [];
});

/** Waits until a close was recorded (bounded). */
async function closed(): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!seen.some((s) => s[0] === 'close')) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no close event; saw ${JSON.stringify(seen)}`);
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, left);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }
}

test('a clean close from the peer: close(code, reason) exactly once', async () => {
  const c = await RawClient.open(server.port);
  try {
    c.send(Op.text, 'hi');
    await c.expectMessage(Op.text, 'hi');
    await c.closeCleanly(4000, 'see you');
    await closed();
    assert.deepEqual(seen, [['open'], ['message', 'hi'], ['close', 4000, 'see you']]);
  } finally {
    c.destroy();
  }
});

test('an empty close frame is reported as 1005', async () => {
  const c = await RawClient.open(server.port);
  try {
    c.send(Op.close);
    await c.expectClose([undefined, 1000]);
    await closed();
    assert.deepEqual(seen, [['open'], ['close', 1005, '']]);
  } finally {
    c.destroy();
  }
});

test('TCP lost without a close frame: close(1006) exactly once', async () => {
  const c = await RawClient.open(server.port);
  c.destroy();
  await closed();
  assert.deepEqual(seen, [['open'], ['close', 1006, '']]);
});

test('a protocol error reaches error() with its stable code, then close(1006) (the peer sent no close)', async () => {
  const c = await RawClient.open(server.port);
  try {
    c.send(Op.text, 'x', { rsv: 4 });
    await c.expectFail(1002);
    await closed();
    assert.deepEqual(seen, [['open'], ['error', 'reserved_bits', 1002], ['close', 1006, '']]);
  } finally {
    c.destroy();
  }
});

test('a handler that throws closes only that connection, with 1011', async () => {
  const other = await RawClient.open(server.port);
  const c = await RawClient.open(server.port);
  try {
    c.send(Op.text, 'throw');
    await c.expectFail(1011);
    other.send(Op.text, 'still fine');
    await other.expectMessage(Op.text, 'still fine');
    await other.closeCleanly();
    assert.ok(seen.some((s) => s[0] === 'error' && s[1] === 'handler bug'), JSON.stringify(seen));
  } finally {
    c.destroy();
    other.destroy();
  }
});

test('after our close(), what the peer sent before it saw our close frame is still delivered; after its close, nothing', async () => {
  const c = await RawClient.open(server.port);
  try {
    c.send(Op.text, 'before');
    await c.expectMessage(Op.text, 'before');
    const [conn] = server.wss.connections();
    conn!.close(1012, 'service restart');
    // The peer has not read our close frame yet and sends one more message (RFC 6455 5.5.1
    // forbids data after sending a close, not after receiving one it has not seen).
    c.send(Op.text, 'in flight');
    const deadline = Date.now() + 5000;
    while (!seen.some((s) => s[0] === 'message' && s[1] === 'in flight') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(seen.filter((s) => s[0] === 'message'), [['message', 'before'], ['message', 'in flight']]);
    await c.expectClose([1012]);
    c.sendClose(1012);
    c.send(Op.text, 'after its close'); // a broken peer: ignored
    await closed();
    assert.ok(!seen.some((s) => s[0] === 'message' && s[1] === 'after its close'));
  } finally {
    c.destroy();
  }
});
