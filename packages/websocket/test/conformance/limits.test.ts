/**
 * Conformance, Autobahn TestSuite section 9 (limits: large messages, many small messages) and
 * 10 (auto-fragmentation), plus the message-size limit (1009). Sizes follow Autobahn (up to
 * 16 MiB, 1000 round trips for 9.7/9.8).
 */
import { after, before, describe } from 'node:test';
import { startEchoServer, type EchoServer } from '../echo-server.js';
import { useEchoServer, wsCase, type EchoFixture } from './harness.js';
import { encodeFrame, Op, type RawClient } from './raw-client.js';

const echo = useEchoServer();
const KiB = 1024;
const MiB = 1024 * KiB;
const BIG_WAIT = 30_000;

/** A payload of `size` bytes: printable ASCII for text (valid UTF-8), all byte values for binary. */
function payload(size: number, opcode: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  if (opcode === Op.text) b.fill('BAsd7&jh23');
  else for (let i = 0; i < size; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

/** Frames `data` as one message in fragments of `size` bytes. */
function fragmented(data: Buffer, opcode: number, size: number): Buffer {
  const frames: Buffer[] = [];
  for (let off = 0; off < data.length; off += size) {
    const end = Math.min(off + size, data.length);
    frames.push(encodeFrame(off === 0 ? opcode : Op.continuation, data.subarray(off, end), { fin: end === data.length }));
  }
  return Buffer.concat(frames);
}

const size = (n: number): string => (n >= MiB ? `${n / MiB} MiB` : `${n / KiB} KiB`);

describe('9.1/9.2 large messages in one frame', () => {
  const sizes = [64 * KiB, 256 * KiB, MiB, 4 * MiB, 8 * MiB, 16 * MiB];
  for (const [section, opcode] of [['9.1', Op.text], ['9.2', Op.binary]] as const) {
    sizes.forEach((n, i) => {
      wsCase(echo, `${section}.${i + 1}`, `${opcode === Op.text ? 'text' : 'binary'} message of ${size(n)}`, async (c) => {
        const data = payload(n, opcode);
        c.send(opcode, data);
        await c.expectMessage(opcode, data, BIG_WAIT);
        await c.closeCleanly();
      }, 60_000);
    });
  }
});

describe('9.3/9.4 a 4 MiB message in fragments of 64 B to 4 MiB', () => {
  const frags = [64, 256, KiB, 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, MiB, 4 * MiB];
  for (const [section, opcode] of [['9.3', Op.text], ['9.4', Op.binary]] as const) {
    const data = payload(4 * MiB, opcode);
    frags.forEach((f, i) => {
      const label = f < KiB ? `${f} B` : size(f);
      wsCase(echo, `${section}.${i + 1}`, `${opcode === Op.text ? 'text' : 'binary'} 4 MiB in fragments of ${label}`, async (c) => {
        c.write(fragmented(data, opcode, f));
        await c.expectMessage(opcode, data, BIG_WAIT);
        await c.closeCleanly();
      }, 60_000);
    });
  }
});

describe('9.5/9.6 a 1 MiB message written in chops of 64 B to 4 KiB', () => {
  const chops = [64, 128, 256, 512, KiB, 2 * KiB, 4 * KiB];
  for (const [section, opcode] of [['9.5', Op.text], ['9.6', Op.binary]] as const) {
    const data = payload(MiB, opcode);
    chops.forEach((chop, i) => {
      // Autobahn uses 1 MiB; the 64 B and 128 B chops cost 16k/8k writes each, fine on localhost.
      wsCase(echo, `${section}.${i + 1}`, `${opcode === Op.text ? 'text' : 'binary'} 1 MiB in chops of ${chop} B`, async (c) => {
        await c.writeChopped(encodeFrame(opcode, data), chop);
        await c.expectMessage(opcode, data, BIG_WAIT);
        await c.closeCleanly();
      }, 60_000);
    });
  }
});

describe('9.7/9.8 many small messages, one round trip each', () => {
  const COUNT = 1000; // as Autobahn: one round trip each
  const sizes = [0, 16, 64, 256, KiB, 4 * KiB];
  for (const [section, opcode] of [['9.7', Op.text], ['9.8', Op.binary]] as const) {
    sizes.forEach((n, i) => {
      wsCase(echo, `${section}.${i + 1}`, `${COUNT} ${opcode === Op.text ? 'text' : 'binary'} messages of ${n} B`, async (c) => {
        const data = payload(n, opcode);
        for (let k = 0; k < COUNT; k++) {
          c.send(opcode, data);
          await c.expectMessage(opcode, data);
        }
        await c.closeCleanly();
      }, 60_000);
    });
  }
});

describe('10 auto-fragmentation', () => {
  wsCase(echo, '10.1.1', '64 KiB text message in fragments of 1300 bytes is echoed', async (c) => {
    const data = payload(64 * KiB, Op.text);
    c.write(fragmented(data, Op.text, 1300));
    await c.expectMessage(Op.text, data);
    await c.closeCleanly();
  });
});

describe('maximum message size (1009)', () => {
  const LIMIT = 1024;
  let small: EchoServer | undefined;
  const fixture: EchoFixture = {
    get server(): EchoServer {
      if (small === undefined) throw new Error('not started');
      return small;
    },
    get port(): number {
      return this.server.port;
    },
  };
  before(async () => {
    small = await startEchoServer({ port: 0, maxMessageSize: LIMIT, closeTimeoutMs: 10_000, heartbeatIntervalMs: 0 });
  });
  after(async () => {
    await small?.close();
  });
  const exact = async (c: RawClient, opcode: number): Promise<void> => {
    const data = payload(LIMIT, opcode);
    c.send(opcode, data);
    await c.expectMessage(opcode, data);
    await c.closeCleanly();
  };
  wsCase(fixture, 'L.1', 'a text message of exactly the limit is echoed', (c) => exact(c, Op.text));
  wsCase(fixture, 'L.2', 'a binary message of exactly the limit is echoed', (c) => exact(c, Op.binary));
  wsCase(fixture, 'L.3', 'a frame header announcing limit+1 bytes fails with 1009 before any payload is sent', async (c) => {
    c.write(encodeFrame(Op.binary, Buffer.alloc(LIMIT + 1)).subarray(0, 8)); // header (4) + mask (4) only
    await c.expectFail(1009);
  });
  wsCase(fixture, 'L.4', 'a 64-bit length of 4 GiB fails with 1009 from the header alone', async (c) => {
    c.write(encodeFrame(Op.binary, Buffer.alloc(0), { lengthHigh: 1 }).subarray(0, 14));
    await c.expectFail(1009);
  });
  wsCase(fixture, 'L.5', 'fragments that add up to more than the limit fail with 1009 at the fragment that crosses it', async (c) => {
    c.write(Buffer.concat([encodeFrame(Op.text, payload(600, Op.text), { fin: false })]));
    await c.expectNothingPending();
    c.write(encodeFrame(Op.continuation, payload(600, Op.text), { fin: false }).subarray(0, 8)); // header only
    await c.expectFail(1009);
  });
  wsCase(fixture, 'L.6', 'control frames do not count toward the message limit (ping between fragments)', async (c) => {
    const a = payload(LIMIT - 100, Op.text);
    const b = payload(100, Op.text);
    c.write(Buffer.concat([encodeFrame(Op.text, a, { fin: false }), encodeFrame(Op.ping, Buffer.alloc(125, 1)),
      encodeFrame(Op.continuation, b)]));
    await c.expectPong(Buffer.alloc(125, 1));
    await c.expectMessage(Op.text, Buffer.concat([a, b]));
    await c.closeCleanly();
  });
});
