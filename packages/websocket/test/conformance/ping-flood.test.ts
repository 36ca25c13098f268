/**
 * Everything the server queues for a peer counts against its outgoing cap, over real sockets:
 * a peer that floods pings and never reads gets a few pongs per turn (RFC 6455 5.5.3: the latest
 * ping is answered), so its queue and the server's memory stay bounded; once a peer is over the
 * cap, a pong, a ping, a close reply or a close of ours closes it with 1008 (`buffer_overflow`),
 * exactly like a message would.
 *
 * Regression of the ping flood (one connection that sent 24 MB of empty pings and never read
 * took the server from 57 to 451 MB RSS: a pong was written per ping, past the cap).
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { WebSocketError, type ConnectionHandler, type WebSocketConnection } from '@strangers/websocket';
import { useHandlerServer } from './harness.js';
import { closeCodeOf, encodeFrame, Op, RawClient, type ServerFrame } from './raw-client.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const KiB = 1024;
const MiB = 1024 * KiB;
/** The outgoing cap of the test server: small, so that the flood would pass it many times over. */
const CAP = 64 * KiB;
/** The largest frame this server writes past the cap: its close frame (2 + 2 + 123 bytes). */
const CLOSE_FRAME = 127;

const errors: string[] = [];
const handler: ConnectionHandler = {
  message(conn: WebSocketConnection, data: Buffer, isBinary: boolean) {
    conn.send(data, isBinary);
  },
  close() {},
  error(_conn, err) {
    errors.push(err instanceof WebSocketError ? err.code : err.message);
  },
};

const server = useHandlerServer(handler, { heartbeatIntervalMs: 0, closeTimeoutMs: 2000, maxBufferedBytes: CAP });
beforeEach(() => {
  errors.length = 0;
});

/** Bytes queued by the server for all its peers. */
function queued(): number {
  let sum = 0;
  for (const conn of server.wss.connections()) sum += conn.bufferedAmount;
  return sum;
}

/** The one server-side connection (each test opens one client at a time). */
function serverSide(): WebSocketConnection {
  const [conn] = [...server.wss.connections()];
  assert.ok(conn !== undefined, 'no server-side connection');
  return conn;
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Writes `chunk` `times` times, waiting for `drain` when the socket asks to. */
async function writeMany(c: RawClient, chunk: Buffer, times: number, each: () => void): Promise<void> {
  for (let i = 0; i < times && !c.socket.destroyed; i++) {
    if (!c.socket.write(chunk)) await new Promise<void>((resolve) => c.socket.once('drain', resolve));
    each();
  }
}

/** Reads frames until one matches `stop` (which is returned); `seen` gets every frame before it. */
async function readUntil(c: RawClient, stop: (f: ServerFrame) => boolean, seen: ServerFrame[] = []): Promise<ServerFrame> {
  for (;;) {
    const f = await c.next(10_000);
    if (stop(f)) return f;
    seen.push(f);
  }
}

/**
 * Makes the server queue at least CAP bytes for a paused client (messages the server sends it
 * itself, under the cap at each send), without going over through send(): at most one
 * message past the cap.
 */
async function fillToCap(c: RawClient): Promise<WebSocketConnection> {
  c.socket.pause();
  const conn = serverSide();
  const message = Buffer.alloc(16 * KiB, 0x62);
  for (let i = 0; i < 4096 && conn.bufferedAmount < CAP; i++) {
    assert.notEqual(conn.send(message), 'dropped');
    await turn(); // let the corked batch go: the kernel takes what it can, the rest stays queued
  }
  assert.ok(conn.bufferedAmount >= CAP, `only ${conn.bufferedAmount} bytes queued`);
  assert.equal(conn.state, 'open');
  return conn;
}

/** Resumes reading and expects the queued messages, then a close with 1008, then the end. */
async function expectOverflowClose(c: RawClient): Promise<void> {
  c.socket.resume();
  const before: ServerFrame[] = [];
  const close = await readUntil(c, (f) => f.opcode !== Op.binary, before);
  assert.equal(close.opcode, Op.close, `expected a close frame after ${before.length} messages, got opcode ${close.opcode}`);
  assert.equal(closeCodeOf(close), 1008);
  assert.equal(close.payload.subarray(2).toString(), 'slow consumer');
  assert.deepEqual(errors, ['buffer_overflow']);
  await c.expectEnd(5000);
}

describe('ping flood', () => {
  test('30 MB of empty pings from a peer that never reads: queue under the cap, memory bounded, latest ping answered', { timeout: 120_000 }, async (t) => {
    const c = await RawClient.open(server.port);
    try {
      c.socket.pause();
      const ping = encodeFrame(Op.ping); // 6 bytes, masked
      const chunk = Buffer.concat(Array.from({ length: Math.floor(64 * KiB / ping.length) }, () => ping));
      const TOTAL = 30 * MiB;
      gc();
      const rssBefore = process.memoryUsage().rss;
      let maxQueued = 0;
      let maxRss = rssBefore;
      let writes = 0;
      await writeMany(c, chunk, Math.ceil(TOTAL / chunk.length), () => {
        maxQueued = Math.max(maxQueued, queued());
        // Fail fast: without the fix the queue passes the cap within a few MB of pings.
        assert.ok(maxQueued <= CAP + CLOSE_FRAME, `the server queued ${maxQueued} bytes for one peer, cap ${CAP}`);
        if (++writes % 32 === 0) maxRss = Math.max(maxRss, process.memoryUsage().rss);
      });
      // Every ping has been parsed once a last ping with a token is answered: frames are ordered.
      c.send(Op.ping, 'last');
      c.socket.resume();
      const pongs: ServerFrame[] = [];
      const last = await readUntil(c, (f) => f.opcode === Op.pong && f.payload.toString() === 'last', pongs);
      assert.equal(last.opcode, Op.pong);
      maxRss = Math.max(maxRss, process.memoryUsage().rss);
      const pings = writes * (chunk.length / ping.length);
      assert.ok(pongs.every((f) => f.opcode === Op.pong && f.payload.length === 0), 'only empty pongs before the last one');
      assert.ok(pongs.length < pings / 100, `${pongs.length} pongs for ${pings} pings: pongs piled up`);
      // The flood is 30 MB; without the fix the server grew by hundreds of MB. Generous margin.
      const grew = maxRss - rssBefore;
      t.diagnostic(`${pings} pings, ${pongs.length + 1} pongs, at most ${maxQueued} bytes queued, RSS +${(grew / MiB).toFixed(1)} MiB`);
      assert.ok(grew < 96 * MiB, `RSS grew by ${Math.round(grew / MiB)} MiB during the flood`);
      assert.equal(server.wss.size, 1, 'the connection is still open');
      assert.deepEqual(errors, []);
      await c.closeCleanly();
    } finally {
      c.destroy();
    }
  });

  test('100 pings in one write: pongs for the first ones, then one for the latest, in order', { timeout: 15_000 }, async () => {
    const c = await RawClient.open(server.port);
    try {
      c.write(Buffer.concat(Array.from({ length: 100 }, (_, i) => encodeFrame(Op.ping, `p${i}`))));
      const pongs: ServerFrame[] = [];
      const last = await readUntil(c, (f) => f.payload.toString() === 'p99', pongs);
      assert.equal(last.opcode, Op.pong);
      const numbers = pongs.map((f) => {
        assert.equal(f.opcode, Op.pong);
        return Number(f.payload.toString().slice(1));
      });
      assert.ok(numbers.length < 99, `${numbers.length + 1} pongs for 100 pings in one read`);
      assert.ok(numbers.every((n, i) => i === 0 || n > numbers[i - 1]!), `pongs out of order: ${numbers.join(',')}`);
      await c.expectNothingPending();
      await c.closeCleanly();
    } finally {
      c.destroy();
    }
  });

  test('an ordinary ping still gets its pong at once, and one owed while the socket drains is sent after', { timeout: 30_000 }, async () => {
    const c = await RawClient.open(server.port);
    try {
      c.send(Op.ping, 'hello');
      await c.expectPong('hello');
      // Queue more than the socket's high-water mark (but under the cap), then ping: the pong
      // waits for `drain` and carries the latest ping's payload.
      c.socket.pause();
      const conn = serverSide();
      const message = Buffer.alloc(4 * KiB, 0x63);
      let sent = 0;
      while (conn.bufferedAmount < 32 * KiB && sent < 4096) {
        conn.send(message);
        sent++;
        await turn();
      }
      assert.ok(conn.bufferedAmount >= 32 * KiB && conn.bufferedAmount < CAP, `${conn.bufferedAmount} bytes queued`);
      const queuedBefore = conn.bufferedAmount;
      for (let i = 0; i < 50; i++) c.send(Op.ping, `q${i}`);
      // A message after the pings: once its echo is queued, the server has read every ping.
      c.send(Op.text, 'marker');
      const deadline = Date.now() + 5000;
      while (conn.bufferedAmount < queuedBefore + 8 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      c.socket.resume();
      const frames: ServerFrame[] = [];
      await readUntil(c, (f) => f.opcode === Op.pong && f.payload.toString() === 'q49', frames);
      const pongs = frames.filter((f) => f.opcode === Op.pong).map((f) => f.payload.toString());
      assert.deepEqual(pongs, [], 'pongs were queued while the socket was full');
      assert.equal(frames.length, sent + 1, 'every message arrived, then the marker, then the pong');
      assert.equal(frames.at(-1)?.payload.toString(), 'marker');
      await c.expectNothingPending();
      await c.closeCleanly();
    } finally {
      c.destroy();
    }
  });
});

describe('a peer over the cap is closed with 1008, whatever the server would queue next', () => {
  test('its ping (no pong is queued)', { timeout: 30_000 }, async () => {
    const c = await RawClient.open(server.port);
    try {
      await fillToCap(c);
      c.send(Op.ping, 'are you there?');
      await expectOverflowClose(c);
    } finally {
      c.destroy();
    }
  });

  test('its close frame (the reply says 1008, not the echo)', { timeout: 30_000 }, async () => {
    const c = await RawClient.open(server.port);
    try {
      await fillToCap(c);
      c.sendClose(1000);
      await expectOverflowClose(c);
    } finally {
      c.destroy();
    }
  });

  test('a ping of ours (the heartbeat\'s)', { timeout: 30_000 }, async () => {
    const c = await RawClient.open(server.port);
    try {
      const conn = await fillToCap(c);
      conn.ping();
      assert.equal(conn.state, 'closing');
      await expectOverflowClose(c);
    } finally {
      c.destroy();
    }
  });

  test('a close of ours', { timeout: 30_000 }, async () => {
    const c = await RawClient.open(server.port);
    try {
      const conn = await fillToCap(c);
      conn.close(1000, 'bye');
      await expectOverflowClose(c);
    } finally {
      c.destroy();
    }
  });

  test('and the socket of a peer that never reads again is destroyed after the close timeout', { timeout: 30_000 }, async () => {
    const c = await RawClient.open(server.port);
    try {
      await fillToCap(c);
      c.send(Op.ping);
      const deadline = Date.now() + 10_000;
      while (server.wss.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal(server.wss.size, 0, 'the connection is still there');
      assert.deepEqual(errors, ['buffer_overflow']);
    } finally {
      c.destroy();
    }
  });
});
