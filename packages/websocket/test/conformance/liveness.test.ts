/**
 * Heartbeat and backpressure over real sockets: a silent peer is pinged and, if it stays
 * silent, terminated; a peer that answers stays; a peer that does not read is cut off once the
 * server's outgoing buffer passes its cap (1008), so it cannot grow the server's memory.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startEchoServer, type EchoServer } from '../echo-server.js';
import { closeCodeOf, encodeFrame, Op, RawClient, type ServerFrame } from './raw-client.js';

describe('heartbeat', () => {
  const INTERVAL = 150;
  let server: EchoServer;
  before(async () => {
    server = await startEchoServer({ port: 0, heartbeatIntervalMs: INTERVAL, closeTimeoutMs: 10_000 });
  });
  after(async () => {
    await server.close();
  });

  test('a silent peer gets a ping, and is terminated (no close frame needed) if it never answers', { timeout: 10_000 }, async () => {
    const c = await RawClient.open(server.port);
    try {
      // Pinged after one silent interval, terminated one interval later: generous bounds for a busy box.
      const ping = await c.next(INTERVAL * 10);
      assert.equal(ping.opcode, Op.ping);
      await c.expectEnd(INTERVAL * 10);
    } finally {
      c.destroy();
    }
  });

  test('a peer that answers pings stays connected across many intervals', { timeout: 10_000 }, async () => {
    const c = await RawClient.open(server.port);
    try {
      for (let i = 0; i < 4; i++) {
        const ping = await c.next(INTERVAL * 10);
        assert.equal(ping.opcode, Op.ping);
        c.send(Op.pong, ping.payload);
      }
      assert.equal(c.ended, false);
      c.send(Op.text, 'still here');
      // Pings may interleave with the echo: skip them.
      let f: ServerFrame;
      do f = await c.next(); while (f.opcode === Op.ping);
      assert.equal(f.opcode, Op.text);
      assert.equal(f.payload.toString(), 'still here');
    } finally {
      c.destroy();
    }
  });
});

describe('heartbeat spread over the interval', () => {
  // 1 s interval = 10 ticks of 100 ms; 20 silent peers = 2 per tick. The first pings of one
  // sweep come over several ticks, not all at once (as one loop over everyone would send them).
  const INTERVAL = 1000;
  let server: EchoServer;
  before(async () => {
    server = await startEchoServer({ port: 0, heartbeatIntervalMs: INTERVAL, closeTimeoutMs: 10_000 });
  });
  after(async () => {
    await server.close();
  });

  test('one sweep pings its silent peers over several ticks, each peer once', { timeout: 20_000 }, async () => {
    const clients = await Promise.all(Array.from({ length: 20 }, () => RawClient.open(server.port)));
    try {
      const firstPingAt = await Promise.all(
        clients.map(async (c) => {
          const ping = await c.next(INTERVAL * 10);
          assert.equal(ping.opcode, Op.ping);
          const at = performance.now();
          c.send(Op.pong, ping.payload); // answered: stays
          return at;
        }),
      );
      const spread = Math.max(...firstPingAt) - Math.min(...firstPingAt);
      // All at once would be a spread of a few ms; ten ticks of two put ~900 ms between the first
      // and the last. Half a tick's worth is enough to tell the two apart on a busy machine.
      assert.ok(spread >= 250, `pings came within ${spread.toFixed(0)} ms of each other`);
      for (const c of clients) assert.equal(c.ended, false);
    } finally {
      for (const c of clients) c.destroy();
    }
  });
});

describe('backpressure', () => {
  const CAP = 256 * 1024;
  let server: EchoServer;
  before(async () => {
    server = await startEchoServer({ port: 0, heartbeatIntervalMs: 0, maxBufferedBytes: CAP, closeTimeoutMs: 1000 });
  });
  after(async () => {
    await server.close();
  });

  test('a peer that does not read is closed with 1008 once the buffer cap is passed; queued bytes stay bounded', { timeout: 30_000 }, async () => {
    const c = await RawClient.open(server.port);
    try {
      c.socket.pause(); // stop reading: the server's echoes pile up
      const message = Buffer.alloc(64 * 1024, 0x61);
      const COUNT = 400; // 25 MiB of echoes: far more than socket buffers plus the cap
      const frame = encodeFrame(Op.binary, message);
      let maxQueued = 0;
      for (let i = 0; i < COUNT && server.wss.size > 0; i++) {
        if (!c.socket.write(frame)) await new Promise((r) => setTimeout(r, 5));
        for (const conn of server.wss.connections()) maxQueued = Math.max(maxQueued, conn.bufferedAmount);
        if (i % 16 === 0) await new Promise((r) => setImmediate(r));
      }
      c.socket.resume();
      // Read everything up to the close frame: echoes, then close 1008.
      let echoes = 0;
      let f: ServerFrame;
      for (;;) {
        f = await c.next(10_000);
        if (f.opcode !== Op.binary) break;
        echoes++;
      }
      assert.equal(f.opcode, Op.close, `expected the close frame, got opcode ${f.opcode}`);
      assert.equal(closeCodeOf(f), 1008);
      assert.ok(echoes < COUNT, `all ${echoes} echoes arrived: the cap never applied`);
      // The cap is checked before each send, so at most one message beyond it is queued.
      assert.ok(maxQueued <= CAP + 2 * (message.length + 14), `queued ${maxQueued} bytes with a cap of ${CAP}`);
      await c.expectEnd(5000);
    } finally {
      c.destroy();
    }
  });
});
