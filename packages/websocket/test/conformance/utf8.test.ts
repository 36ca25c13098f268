/**
 * Conformance, Autobahn TestSuite section 6 (UTF-8 handling), over real sockets against the
 * echo server: valid text is echoed byte for byte, invalid text fails with 1007, as early as
 * the first fragment (or chop) that makes it invalid.
 */
import { describe } from 'node:test';
import { useEchoServer, wsCase } from './harness.js';
import { encodeFrame, Op, type RawClient } from './raw-client.js';
import { FAIL_FAST, hex, KOSME, UTF8_VECTORS } from '../unit/utf8-vectors.js';

const echo = useEchoServer();

/** One frame per slice of `bytes` (text, then continuations); sizes cycle through `sizes`. */
function fragments(bytes: Buffer, sizes: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  let i = 0;
  do {
    const n = sizes[i++ % sizes.length];
    const part = bytes.subarray(off, off + n);
    off += part.length;
    out.push(encodeFrame(out.length === 0 ? Op.text : Op.continuation, part, { fin: off >= bytes.length }));
  } while (off < bytes.length);
  return out;
}

async function expectEchoOrFail(c: RawClient, valid: boolean, bytes: Buffer): Promise<void> {
  if (valid) {
    await c.expectMessage(Op.text, bytes);
    await c.closeCleanly();
  } else {
    await c.expectFail(1007);
  }
}

describe('6.1 empty text messages', () => {
  wsCase(echo, '6.1.1', 'empty text message is echoed', async (c) => {
    c.send(Op.text, '');
    await c.expectMessage(Op.text, '');
    await c.closeCleanly();
  });
  wsCase(echo, '6.1.2', 'text message in 3 empty fragments is echoed empty', async (c) => {
    c.write(Buffer.concat([encodeFrame(Op.text, '', { fin: false }), encodeFrame(Op.continuation, '', { fin: false }),
      encodeFrame(Op.continuation, '')]));
    await c.expectMessage(Op.text, '');
    await c.closeCleanly();
  });
  wsCase(echo, '6.1.3', 'text in 3 fragments, first and last empty, is echoed', async (c) => {
    c.write(Buffer.concat([encodeFrame(Op.text, '', { fin: false }), encodeFrame(Op.continuation, 'middle frame payload', { fin: false }),
      encodeFrame(Op.continuation, '')]));
    await c.expectMessage(Op.text, 'middle frame payload');
    await c.closeCleanly();
  });
});

describe('6.2 valid UTF-8 whole, fragmented and chopped', () => {
  const hello = Buffer.from('Hello-µ@ßöäüàá-UTF-8!!', 'utf8');
  wsCase(echo, '6.2.1', 'valid UTF-8 in one fragment', async (c) => {
    c.send(Op.text, hello);
    await expectEchoOrFail(c, true, hello);
  });
  wsCase(echo, '6.2.2', 'valid UTF-8 fragmented on code point boundaries', async (c) => {
    const pieces = ['Hello-µ@', 'ßöä', 'üàá-UTF-8!!'].map((s) => Buffer.from(s, 'utf8'));
    c.write(Buffer.concat(pieces.map((p, i) => encodeFrame(i === 0 ? Op.text : Op.continuation, p, { fin: i === 2 }))));
    await expectEchoOrFail(c, true, hello);
  });
  wsCase(echo, '6.2.3', 'valid UTF-8 in fragments of 1 byte (frames end inside code points)', async (c) => {
    c.write(Buffer.concat(fragments(hello, [1])));
    await expectEchoOrFail(c, true, hello);
  });
  wsCase(echo, '6.2.4', 'valid multi-byte UTF-8 (κόσμε x3) in fragments of 1 byte', async (c) => {
    const p = Buffer.concat([KOSME, KOSME, KOSME]);
    c.write(Buffer.concat(fragments(p, [1])));
    await expectEchoOrFail(c, true, p);
  });
});

describe('6.3 invalid UTF-8 whole and fragmented', () => {
  const invalid = hex('cebae1bdb9cf83cebcceb5eda080656469746564');
  wsCase(echo, '6.3.1', 'invalid UTF-8 (a surrogate) in one fragment fails (1007)', async (c) => {
    c.send(Op.text, invalid);
    await expectEchoOrFail(c, false, invalid);
  });
  wsCase(echo, '6.3.2', 'invalid UTF-8 in fragments of 1 byte fails (1007)', async (c) => {
    c.write(Buffer.concat(fragments(invalid, [1])));
    await expectEchoOrFail(c, false, invalid);
  });
});

describe('6.4 fail fast on invalid UTF-8', () => {
  const { part1, part2, part3, invalidAt } = FAIL_FAST;
  const whole = Buffer.concat([part1, part2, part3]);
  wsCase(echo, '6.4.1', '3 fragments: fails on the 2nd (U+110000), before the 3rd is sent', async (c) => {
    c.write(encodeFrame(Op.text, part1, { fin: false }));
    await c.expectNothingPending(); // the first fragment is accepted
    c.write(encodeFrame(Op.continuation, part2, { fin: false }));
    await c.expectFail(1007); // part3 is never sent: the server must not wait for it
  });
  wsCase(echo, '6.4.2', '3 fragments split at the invalid byte: fails on the 2nd (1 byte), before the 3rd', async (c) => {
    c.write(encodeFrame(Op.text, whole.subarray(0, invalidAt), { fin: false }));
    await c.expectNothingPending();
    c.write(encodeFrame(Op.continuation, whole.subarray(invalidAt, invalidAt + 1), { fin: false }));
    await c.expectFail(1007);
  });
  // One frame whose payload arrives in chops: the server must validate bytes as they come.
  const oneFrame = encodeFrame(Op.text, whole);
  const headerLen = oneFrame.length - whole.length;
  wsCase(echo, '6.4.3', 'one frame in 3 chops: fails on the 2nd chop, before the frame is complete', async (c) => {
    await c.writeChopped(oneFrame.subarray(0, headerLen + part1.length), 1 << 16);
    await c.writeChopped(oneFrame.subarray(headerLen + part1.length, headerLen + part1.length + part2.length), 1 << 16);
    await c.expectFail(1007);
  });
  wsCase(echo, '6.4.4', 'one frame in 3 chops split at the invalid byte: fails on the 1-byte chop', async (c) => {
    await c.writeChopped(oneFrame.subarray(0, headerLen + invalidAt), 1 << 16);
    await c.writeChopped(oneFrame.subarray(headerLen + invalidAt, headerLen + invalidAt + 1), 1 << 16);
    await c.expectFail(1007);
  });
});

describe('6.5-6.23 UTF-8 decoder stress test (Markus Kuhn), whole and in 1-byte fragments', () => {
  for (const v of UTF8_VECTORS) {
    const what = `${v.valid ? 'valid' : 'invalid'} ${v.group.toLowerCase()}: ${v.bytes.subarray(0, 16).toString('hex')}`;
    wsCase(echo, v.id, `${what} (one frame)`, async (c) => {
      c.send(Op.text, v.bytes);
      await expectEchoOrFail(c, v.valid, v.bytes);
    });
    wsCase(echo, `${v.id}f`, `${what} (1-byte fragments)`, async (c) => {
      c.write(Buffer.concat(fragments(v.bytes, [1])));
      await expectEchoOrFail(c, v.valid, v.bytes);
    });
  }
});
