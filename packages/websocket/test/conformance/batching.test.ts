/**
 * The frames a connection sends within one turn of the event loop: joined into one buffer and
 * written once while they stay under the socket's high-water mark, corked into one writev above
 * it; in order either way, with a ping between them, and counted by `bufferedAmount` meanwhile.
 * Real sockets: the server's socket is watched for its write and writev calls.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import type { ConnectionHandler, WebSocketConnection } from '@strangers/websocket';
import { useHandlerServer } from './harness.js';
import { Op, RawClient } from './raw-client.js';

/** Per server socket: write() calls and writev batches that reached the stream. */
const calls = new WeakMap<Socket, { writes: number; writevs: number }>();
let last: { writes: number; writevs: number } | undefined;
let buffered: number[] = [];

const handler: ConnectionHandler = {
  message(conn: WebSocketConnection, data: Buffer) {
    // "N SIZE [ping]": N text frames of SIZE bytes in this turn (a ping after the first, if asked).
    const [n, size, ping] = data.toString().split(' ');
    buffered = [];
    for (let i = 0; i < Number(n); i++) {
      conn.send(String(i % 10).repeat(Number(size)), false);
      buffered.push(conn.bufferedAmount);
      if (i === 0 && ping === 'ping') conn.ping(Buffer.from('p'));
    }
  },
  close() {},
};

const server = useHandlerServer(handler, { heartbeatIntervalMs: 0, closeTimeoutMs: 10_000 }, (socket: Socket) => {
  const c = { writes: 0, writevs: 0 };
  calls.set(socket, c);
  last = c;
  const write = socket.write;
  socket.write = function (this: Socket, ...args: unknown[]) {
    c.writes++;
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  } as typeof socket.write;
  const writev = (socket as unknown as { _writev: (...a: unknown[]) => void })._writev;
  (socket as unknown as { _writev: (...a: unknown[]) => void })._writev = function (this: Socket, ...args: unknown[]) {
    c.writevs++;
    return writev.apply(this, args);
  };
});

async function burst(ask: string): Promise<{ client: RawClient; writes: number; writevs: number; frames: Array<{ opcode: number; text: string }> }> {
  const client = await RawClient.open(server.port);
  const c = last!;
  const before = { ...c };
  client.send(Op.text, ask, { mask: true });
  const [n, , ping] = ask.split(' ');
  const frames: Array<{ opcode: number; text: string }> = [];
  for (let i = 0; i < Number(n) + (ping === 'ping' ? 1 : 0); i++) {
    const f = await client.next();
    frames.push({ opcode: f.opcode, text: f.payload.toString() });
  }
  return { client, writes: c.writes - before.writes, writevs: c.writevs - before.writevs, frames };
}

test('three small frames of one turn leave in one write of one buffer, in order; bufferedAmount counts them meanwhile', async () => {
  const { client, writes, writevs, frames } = await burst('3 100');
  try {
    assert.deepEqual(frames.map((f) => f.text[0]), ['0', '1', '2']);
    assert.ok(frames.every((f) => f.opcode === Op.text && f.text.length === 100));
    assert.equal(writes, 1, 'one socket.write for the turn');
    assert.equal(writevs, 0, 'no writev');
    // 100-byte payloads: a 2-byte header each.
    assert.deepEqual(buffered, [102, 204, 306]);
  } finally {
    client.destroy();
  }
});

test('frames of one turn past the high-water mark go out corked (one writev), all of them, in order', async () => {
  // 8 x 4 KiB = 32 KiB in one turn, over the socket's 16 KiB high-water mark.
  const { client, writevs, frames } = await burst('8 4096');
  try {
    assert.deepEqual(frames.map((f) => f.text[0]), ['0', '1', '2', '3', '4', '5', '6', '7']);
    assert.ok(frames.every((f) => f.text.length === 4096));
    assert.ok(writevs >= 1, 'the corked frames left in a writev');
  } finally {
    client.destroy();
  }
});

test('a ping sent between frames of one turn keeps its place', async () => {
  const { client, frames } = await burst('3 10 ping');
  try {
    assert.deepEqual(frames.map((f) => [f.opcode, f.text[0]]), [[Op.text, '0'], [Op.ping, 'p'], [Op.text, '1'], [Op.text, '2']]);
  } finally {
    client.destroy();
  }
});

// The frames held for the end of the turn count against the outgoing cap like written ones.
const results: string[] = [];
const capped = useHandlerServer(
  {
    message(conn: WebSocketConnection) {
      results.length = 0;
      for (let i = 0; i < 4; i++) results.push(conn.send('x'.repeat(400), false));
    },
    close() {},
  },
  { heartbeatIntervalMs: 0, closeTimeoutMs: 2000, maxBufferedBytes: 1000 },
);

test('held frames count against maxBufferedBytes: the send past the cap is dropped and the connection closed with 1008', async () => {
  const client = await RawClient.open(capped.port);
  try {
    client.send(Op.text, 'go', { mask: true });
    // 402 + 402 held (804 < 1000), the third brings 1206: sent, then the fourth is over the cap.
    const frames = [await client.next(), await client.next(), await client.next(), await client.next()];
    assert.deepEqual(results, ['sent', 'sent', 'sent', 'dropped']);
    assert.deepEqual(frames.map((f) => f.opcode), [Op.text, Op.text, Op.text, Op.close]);
    assert.equal(frames[3]!.payload.readUInt16BE(0), 1008);
  } finally {
    client.destroy();
  }
});
