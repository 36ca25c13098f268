/**
 * A message in progress holds only its own bytes, over real sockets: small fragments that each
 * arrive inside a large socket read do not keep those reads alive on the server.
 *
 * Regression: a fragment was kept as a view into the read it came in, so 127 one-byte fragments,
 * each in a 64 KiB read, held about 4.5 MB per connection against a 13 KB message limit.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { useEchoServer } from './harness.js';
import { encodeFrame, Op, RawClient } from './raw-client.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const MiB = 1024 * 1024;
const echo = useEchoServer({ maxMessageSize: 13 * 1024 });

/** Array buffers alive after a full collection (socket reads are array buffers). */
function arrayBuffers(): number {
  gc();
  gc();
  return process.memoryUsage().arrayBuffers;
}

test('10 connections each with 127 one-byte fragments, each in a write of 64 KiB: the server keeps no reads alive', { timeout: 60_000 }, async (t) => {
  const CONNECTIONS = 10;
  const FRAGMENTS = 127;
  // Padding the server ignores: unsolicited pongs, 125 bytes of payload each.
  const padding = Buffer.concat(Array.from({ length: 500 }, () => encodeFrame(Op.pong, Buffer.alloc(125, 0x70))));
  const clients: RawClient[] = [];
  try {
    for (let i = 0; i < CONNECTIONS; i++) clients.push(await RawClient.open(echo.port));
    const before = arrayBuffers();
    for (let f = 0; f < FRAGMENTS; f++) {
      for (const c of clients) {
        // The fragment first: it arrives at the start of a large read.
        const fragment = encodeFrame(f === 0 ? Op.binary : Op.continuation, Buffer.from([f]), { fin: false });
        c.write(Buffer.concat([fragment, padding]));
      }
      // Frames are ordered: the pong proves the server has read everything before the ping.
      await Promise.all(clients.map((c) => c.expectNothingPending()));
    }
    const held = arrayBuffers() - before;
    t.diagnostic(`array buffers grew by ${(held / MiB).toFixed(2)} MiB for ${CONNECTIONS} x ${FRAGMENTS} fragments`);
    // Views of the reads held about 64 KiB per fragment: 80 MiB here. Own copies hold 127 bytes each.
    assert.ok(held < 8 * MiB, `the server holds ${(held / MiB).toFixed(1)} MiB for ${CONNECTIONS} messages of ${FRAGMENTS} bytes`);
    for (const c of clients) {
      c.send(Op.continuation, Buffer.from([FRAGMENTS]));
      await c.expectMessage(Op.binary, Buffer.from(Array.from({ length: FRAGMENTS + 1 }, (_, i) => i)));
      await c.closeCleanly();
    }
  } finally {
    for (const c of clients) c.destroy();
  }
});
