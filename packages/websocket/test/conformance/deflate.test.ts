/**
 * Conformance, permessage-deflate (RFC 7692), server side, strict, with the raw client doing
 * the compression by hand (node:zlib, no library code):
 * - negotiation: the exact answer to single offers, to lists of alternatives, to invalid ones
 *   (declined, RFC 7692 7.1), on a server with the defaults and on one that allows context takeover;
 * - the Autobahn TestSuite's sections 12 (payload kinds and sizes) and 13 (window sizes and
 *   context takeover combinations) in spirit, with fewer messages so that the file runs in seconds;
 * - RSV1 rules (RFC 7692 6), corrupt data (1007), and inflate bombs (1009 before the memory is spent).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { connect, type WebSocketConnection } from '@strangers/websocket';
import { startEchoServer, type EchoServer, type EchoServerOptions } from '../echo-server.js';
import { encodeFrame, Op, RawClient } from './raw-client.js';

const servers: Record<string, EchoServer> = {};
const configs: Record<string, EchoServerOptions> = {
  /** The defaults: no context takeover either way. */
  pmd: { perMessageDeflate: true },
  /** Context takeover allowed both ways unless the client asks otherwise. */
  takeover: { perMessageDeflate: { serverNoContextTakeover: false, clientNoContextTakeover: false } },
  /** Asks clients that allow it for a 10-bit window. */
  clientbits: { perMessageDeflate: { clientMaxWindowBits: 10 } },
  /** A 64 KiB message limit, for the bombs. */
  small: { perMessageDeflate: true, maxMessageSize: 64 * 1024 },
  /** permessage-deflate off (the default). */
  plain: {},
};
before(async () => {
  for (const [name, options] of Object.entries(configs)) {
    servers[name] = await startEchoServer({ port: 0, closeTimeoutMs: 10_000, heartbeatIntervalMs: 0, ...options });
  }
});
after(async () => {
  for (const server of Object.values(servers)) await server.close();
});

const DEFAULT_ANSWER = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';

/** One case on a fresh connection that offers `offer` to server `name` and expects the answer `answer`. */
function pmdCase(name: string, id: string, title: string, offer: string, answer: string | undefined,
  body: (c: RawClient) => Promise<void>, timeoutMs = 15_000): void {
  test(`${id} ${title}`, { timeout: timeoutMs }, async () => {
    const c = await RawClient.open(servers[name]!.port, { deflate: offer, expectExtensions: answer });
    try {
      await body(c);
    } finally {
      c.destroy();
    }
  });
}

/** An echo through the codec both ways: sent compressed, read back (compressed or not, as `compressed` says). */
async function roundTrip(c: RawClient, opcode: number, data: Buffer | string, compressed?: boolean): Promise<void> {
  await c.sendCompressed(opcode, data);
  await c.expectMessage(opcode, data, 10_000, compressed);
}

/** 2 KiB of random bytes, repeated: its matches lie 2048 bytes back, out of reach of a 9- or 10-bit window. */
function farRepeats(size: number): Buffer {
  const block = randomBytes(2048);
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i += block.length) block.copy(out, i);
  return out;
}

describe('negotiation: the server with the defaults', () => {
  pmdCase('pmd', 'N.1', 'a bare offer gets no context takeover both ways', 'permessage-deflate', DEFAULT_ANSWER, async (c) => {
    await roundTrip(c, Op.text, 'x'.repeat(5000), true);
    await c.closeCleanly();
  });
  pmdCase('pmd', 'N.2', 'client_max_window_bits without a value is accepted (the client keeps 15)',
    'permessage-deflate; client_max_window_bits', DEFAULT_ANSWER, async (c) => {
      await roundTrip(c, Op.binary, farRepeats(8192), true);
      await c.closeCleanly();
    });
  pmdCase('pmd', 'N.3', 'server_max_window_bits=10 is granted and the server compresses within 1 KiB',
    'permessage-deflate; server_max_window_bits=10', `${DEFAULT_ANSWER}; server_max_window_bits=10`, async (c) => {
      // Inflated with a 10-bit window in 64-byte steps: a match 2 KiB back would fail.
      await roundTrip(c, Op.binary, Buffer.concat([farRepeats(16384), Buffer.alloc(4096, 0x61)]), true);
      await c.closeCleanly();
    });
  pmdCase('pmd', 'N.4', 'a quoted value is read after unquoting (RFC 7692 7.1)',
    'permessage-deflate; server_max_window_bits="12"', `${DEFAULT_ANSWER}; server_max_window_bits=12`, async (c) => {
      await roundTrip(c, Op.text, 'quoted '.repeat(500), true);
      await c.closeCleanly();
    });
  pmdCase('pmd', 'N.5', 'server_max_window_bits=8 alone is declined (zlib cannot deflate with a 256-byte window)',
    'permessage-deflate; server_max_window_bits=8', undefined, async (c) => {
      c.send(Op.text, 'plain');
      await c.expectMessage(Op.text, 'plain', undefined, false);
      await c.closeCleanly();
    });
  pmdCase('pmd', 'N.6', 'of several alternatives the first one supported is taken',
    'permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=9; client_max_window_bits, permessage-deflate',
    `${DEFAULT_ANSWER}; server_max_window_bits=9`, async (c) => {
      // Compressible within 512 bytes (the random part alone would go uncompressed).
      await roundTrip(c, Op.binary, Buffer.concat([farRepeats(4096), Buffer.alloc(4096, 0x61)]), true);
      await c.closeCleanly();
    });
  pmdCase('pmd', 'N.7', 'other extensions in the list are ignored, names are case-insensitive',
    'x-webkit-deflate-frame; no_context_takeover, Permessage-Deflate; Client_No_Context_Takeover', DEFAULT_ANSWER, async (c) => {
      await roundTrip(c, Op.text, 'case '.repeat(400), true);
      await c.closeCleanly();
    });

  // RFC 7692 7: "A server MUST decline an extension negotiation offer for this extension if ...
  // an extension parameter not defined for use in an offer ... an invalid value ... multiple
  // extension parameters with the same name".
  const invalid = [
    'permessage-deflate; foo',
    'permessage-deflate; server_no_context_takeover; server_no_context_takeover',
    'permessage-deflate; client_max_window_bits; client_max_window_bits=10',
    'permessage-deflate; server_no_context_takeover=1',
    'permessage-deflate; client_no_context_takeover="x"',
    'permessage-deflate; server_max_window_bits',
    'permessage-deflate; server_max_window_bits=16',
    'permessage-deflate; server_max_window_bits=7',
    'permessage-deflate; server_max_window_bits=010',
    'permessage-deflate; server_max_window_bits=1 0',
    'permessage-deflate; client_max_window_bits=abc',
    'permessage-deflate; client_max_window_bits=0',
    'permessage-deflate;; server_no_context_takeover',
    'permessage-deflate; server_max_window_bits="10',
    'permessage-deflate server_no_context_takeover',
  ];
  invalid.forEach((offer, i) => {
    pmdCase('pmd', `N.8.${i + 1}`, `invalid offer declined: ${offer}`, offer, undefined, async (c) => {
      // Declined: RSV1 is a protocol error again.
      c.send(Op.text, 'x', { rsv: 4 });
      await c.expectFail(1002);
    });
    // An unterminated quote runs to the end of the header: nothing after it can be read.
    if (offer.includes('"10')) return;
    pmdCase('pmd', `N.9.${i + 1}`, `invalid offer skipped for the valid one after it: ${offer}`,
      `${offer}, permessage-deflate; server_max_window_bits=11`, `${DEFAULT_ANSWER}; server_max_window_bits=11`, async (c) => {
        await roundTrip(c, Op.text, 'ok '.repeat(1000), true);
        await c.closeCleanly();
      });
  });

  test('N.10 a server without perMessageDeflate declines every offer', async () => {
    const c = await RawClient.open(servers.plain!.port, { deflate: 'permessage-deflate; client_max_window_bits', expectExtensions: undefined });
    try {
      c.send(Op.text, 'x', { rsv: 4 });
      await c.expectFail(1002);
    } finally {
      c.destroy();
    }
  });
});

describe('negotiation: a server that allows context takeover', () => {
  pmdCase('takeover', 'N.11', 'a bare offer gets a bare answer', 'permessage-deflate', 'permessage-deflate', async (c) => {
    for (let i = 0; i < 5; i++) await roundTrip(c, Op.text, `message ${i} `.repeat(200), true);
    await c.closeCleanly();
  });
  pmdCase('takeover', 'N.12', 'no context takeover is granted when asked, each way',
    'permessage-deflate; server_no_context_takeover; client_no_context_takeover', DEFAULT_ANSWER, async (c) => {
      for (let i = 0; i < 3; i++) await roundTrip(c, Op.text, 'again '.repeat(300), true);
      await c.closeCleanly();
    });
  pmdCase('clientbits', 'N.13', 'client_max_window_bits is answered with the server\'s smaller value',
    'permessage-deflate; client_max_window_bits', `${DEFAULT_ANSWER}; client_max_window_bits=10`, async (c) => {
      await roundTrip(c, Op.text, 'bits '.repeat(1000), true);
      await c.closeCleanly();
    });
  pmdCase('clientbits', 'N.14', 'but not when the offer does not carry client_max_window_bits (RFC 7692 7.1.2.2)',
    'permessage-deflate', DEFAULT_ANSWER, async (c) => {
      await roundTrip(c, Op.text, 'bits '.repeat(1000), true);
      await c.closeCleanly();
    });
  pmdCase('clientbits', 'N.15', 'nor above a value the client offered',
    'permessage-deflate; client_max_window_bits=9', DEFAULT_ANSWER, async (c) => {
      await roundTrip(c, Op.text, 'bits '.repeat(1000), true);
      await c.closeCleanly();
    });
});

// ---- Autobahn 12 and 13 in spirit -----------------------------------------------------------

const SIZES = [16, 64, 256, 1024, 4096, 16384, 65536, 131072];
const text = 'Die Sonne tönt nach alter Weise in Brudersphären Wettgesang, und ihre vorgeschriebne Reise vollendet sie mit Donnergang. ';
const kinds = {
  /** Autobahn 12.1: JSON, utf-8. */
  json: (n: number): Buffer => {
    const items: string[] = [];
    for (let i = 0; items.join(',').length < n; i++) items.push(JSON.stringify({ id: i, name: `user-${i % 97}`, tags: ['a', 'bb', 'ccc'], score: (i * 7919) % 1000 }));
    return Buffer.from(`[${items.join(',')}]`.slice(0, n).padEnd(n, ' '));
  },
  /** Autobahn 12.3: human-readable text (German, non-ASCII), cut on a character boundary. */
  prose: (n: number): Buffer => {
    let b = Buffer.from(text.repeat(Math.ceil(n / text.length) + 1)).subarray(0, n);
    while (b.length > 0 && (b[b.length - 1]! & 0xc0) === 0x80) b = b.subarray(0, b.length - 1);
    const last = b[b.length - 1];
    if (last !== undefined && last >= 0xc0) b = b.subarray(0, b.length - 1);
    return Buffer.concat([b, Buffer.alloc(n - b.length, 0x20)]);
  },
  /** Autobahn 12.2/12.5: binary; half of it random, half a pattern. */
  binary: (n: number): Buffer => {
    const b = Buffer.alloc(n);
    randomBytes(n >> 1).copy(b);
    for (let i = n >> 1; i < n; i++) b[i] = (i * 31) & 0xff;
    return b;
  },
  /** Incompressible. */
  random: (n: number): Buffer => randomBytes(n),
} as const;

/** Autobahn 13.1-13.7: the client's offers (13.3/13.5 use 9 bits: 8 is declined here, see N.5). */
const offers: [string, string, string][] = [
  ['13.1', 'permessage-deflate', ''],
  ['13.2', 'permessage-deflate; client_no_context_takeover', ''],
  ['13.3', 'permessage-deflate; server_max_window_bits=9', '; server_max_window_bits=9'],
  ['13.4', 'permessage-deflate; server_max_window_bits=15', '; server_max_window_bits=15'],
  ['13.5', 'permessage-deflate; client_no_context_takeover; server_max_window_bits=9', '; server_max_window_bits=9'],
  ['13.6', 'permessage-deflate; client_no_context_takeover; server_max_window_bits=15', '; server_max_window_bits=15'],
  ['13.7', 'permessage-deflate; server_max_window_bits=8; client_no_context_takeover, permessage-deflate; client_no_context_takeover, permessage-deflate', ''],
];

/** The answer server `name` gives to `offer`. */
function answerTo(name: 'pmd' | 'takeover', offer: string, bits: string): string {
  const first = offer.split(',').find((o) => !o.includes('=8')) ?? offer;
  const snct = name === 'pmd' || first.includes('server_no_context_takeover');
  const cnct = name === 'pmd' || first.includes('client_no_context_takeover');
  return `permessage-deflate${snct ? '; server_no_context_takeover' : ''}${cnct ? '; client_no_context_takeover' : ''}${bits}`;
}

for (const name of ['pmd', 'takeover'] as const) {
  describe(`13 window and context takeover combinations, ${name === 'pmd' ? 'default server' : 'server allowing context takeover'}`, () => {
    for (const [id, offer, bits] of offers) {
      const answer = answerTo(name, offer, bits);
      pmdCase(name, `${id}`, `${offer} -> ${answer}: 4 kinds x ${SIZES.length} sizes x 2 messages`, offer, answer, async (c) => {
        const serverNct = answer.includes('server_no_context_takeover');
        const windowBits = Number(/server_max_window_bits=(\d+)/.exec(answer)?.[1] ?? 15);
        for (const [kind, make] of Object.entries(kinds)) {
          for (const size of SIZES) {
            const data = make(size);
            const opcode = kind === 'json' || kind === 'prose' ? Op.text : Op.binary;
            // Below the 1 KiB threshold the server sends as is; data that deflate would not shrink
            // too, unless its context is taken over (then the peer's window must see every byte).
            const shrinks = zlib.deflateRawSync(data, { windowBits, finishFlush: zlib.constants.Z_SYNC_FLUSH }).length - 4 < size;
            const compressed = size >= 1024 && (shrinks || !serverNct);
            // Two in a row (context takeover carries over between them), then the echoes.
            for (let i = 0; i < 2; i++) await c.sendCompressed(opcode, data);
            for (let i = 0; i < 2; i++) await c.expectMessage(opcode, data, 10_000, compressed);
          }
        }
        await c.closeCleanly();
      }, 60_000);
    }
  });
}

describe('12 messages in other shapes', () => {
  pmdCase('pmd', '12.a', 'a compressed message in fragments of 100 bytes (RSV1 on the first only)', 'permessage-deflate', DEFAULT_ANSWER, async (c) => {
    const data = kinds.prose(50_000);
    await c.sendCompressed(Op.text, data, { fragment: 100 });
    await c.expectMessage(Op.text, data, undefined, true);
    await c.closeCleanly();
  });
  pmdCase('pmd', '12.b', 'a message ending with a final (BFINAL) block (RFC 7692 7.2.3.3), then another', 'permessage-deflate', DEFAULT_ANSWER, async (c) => {
    await c.sendCompressed(Op.text, 'final '.repeat(500), { final: true });
    await c.expectMessage(Op.text, 'final '.repeat(500), undefined, true);
    await c.sendCompressed(Op.text, 'after '.repeat(500), { final: true });
    await c.expectMessage(Op.text, 'after '.repeat(500), undefined, true);
    await c.closeCleanly();
  });
  pmdCase('pmd', '12.c', 'an empty compressed message', 'permessage-deflate', DEFAULT_ANSWER, async (c) => {
    await c.sendCompressed(Op.text, '');
    await c.expectMessage(Op.text, '', undefined, false);
    await c.closeCleanly();
  });
  pmdCase('pmd', '12.d', 'compressed and uncompressed messages in one write keep their order (a pong may pass them)', 'permessage-deflate', DEFAULT_ANSWER, async (c) => {
    const big = kinds.json(100_000);
    const compressed = Buffer.concat([await c.codec!.compress(big)]);
    c.write(Buffer.concat([
      encodeFrame(Op.text, compressed, { rsv: 4 }),
      encodeFrame(Op.text, 'second, plain'),
      encodeFrame(Op.ping, 'third'),
      encodeFrame(Op.binary, await c.codec!.compress(Buffer.alloc(3000, 7)), { rsv: 4 }),
    ]));
    // RFC 6455 5.5.3: a pong goes "as soon as practical": it may overtake echoes still being compressed.
    const seen: string[] = [];
    while (seen.length < 4) {
      const f = await c.next();
      if (f.opcode === Op.pong) {
        assert.equal(f.payload.toString(), 'third');
        seen.push('pong');
        continue;
      }
      assert.ok(f.fin, 'the echo server sends whole messages');
      const payload = f.rsv === 4 ? await c.codec!.decompress(f.payload) : f.payload;
      seen.push(`${f.opcode}:${payload.length}:${f.rsv === 4}`);
    }
    assert.deepEqual(seen.filter((s) => s !== 'pong'), [`1:${big.length}:true`, '1:13:false', '2:3000:true']);
    assert.ok(seen.includes('pong'));
    await c.closeCleanly();
  });
  pmdCase('pmd', '12.e', 'a close right behind a compressed message: the echo comes before the close', 'permessage-deflate', DEFAULT_ANSWER, async (c) => {
    const data = kinds.prose(40_000);
    const payload = await c.codec!.compress(data);
    c.sentClose = true;
    c.write(Buffer.concat([encodeFrame(Op.text, payload, { rsv: 4 }), encodeFrame(Op.close, Buffer.from([0x03, 0xe8]))]));
    await c.expectMessage(Op.text, data, undefined, true);
    await c.expectClose([1000]);
  });
});

describe('RSV1 and compressed data errors', () => {
  pmdCase('pmd', 'E.1', 'RSV1 on a continuation frame: 1002', 'permessage-deflate', DEFAULT_ANSWER, async (c) => {
    const payload = await c.codec!.compress(Buffer.from('fragmented '.repeat(20)));
    c.write(Buffer.concat([encodeFrame(Op.text, payload.subarray(0, 10), { fin: false, rsv: 4 }),
      encodeFrame(Op.continuation, payload.subarray(10), { rsv: 4 })]));
    await c.expectFail(1002);
  });
  pmdCase('pmd', 'E.2', 'RSV1 on a ping: 1002', 'permessage-deflate', DEFAULT_ANSWER, async (c) => {
    c.send(Op.ping, 'x', { rsv: 4 });
    await c.expectFail(1002);
  });
  pmdCase('pmd', 'E.3', 'RSV1 on a close: 1002', 'permessage-deflate', DEFAULT_ANSWER, async (c) => {
    c.write(encodeFrame(Op.close, Buffer.from([0x03, 0xe8]), { rsv: 4 }));
    await c.expectFail(1002);
  });
  for (const rsv of [1, 2, 3, 5, 6, 7]) {
    pmdCase('pmd', `E.4.${rsv}`, `RSV = ${rsv} on a text frame with deflate negotiated: 1002`, 'permessage-deflate', DEFAULT_ANSWER, async (c) => {
      c.send(Op.text, await c.codec!.compress(Buffer.from('hello')), { rsv });
      await c.expectFail(1002);
    });
  }
  pmdCase('pmd', 'E.5', 'data that is not DEFLATE: 1007', 'permessage-deflate', DEFAULT_ANSWER, async (c) => {
    c.send(Op.binary, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x01]), { rsv: 4 });
    await c.expectFail(1007);
  });
  pmdCase('pmd', 'E.6', 'compressed text that inflates to invalid UTF-8: 1007', 'permessage-deflate', DEFAULT_ANSWER, async (c) => {
    await c.sendCompressed(Op.text, Buffer.concat([Buffer.from('valid, then '), Buffer.from([0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80])]));
    await c.expectFail(1007);
  });
  pmdCase('pmd', 'E.7', 'a valid message after the server dropped the context (no takeover) still inflates', 'permessage-deflate', DEFAULT_ANSWER, async (c) => {
    for (let i = 0; i < 20; i++) await roundTrip(c, Op.text, `${i} `.repeat(700), true);
    await c.closeCleanly();
  });
});

describe('inflate limits: maxMessageSize counts inflated bytes (server with a 64 KiB limit)', () => {
  pmdCase('small', 'L.1', 'exactly 64 KiB inflated passes', 'permessage-deflate', DEFAULT_ANSWER, async (c) => {
    await roundTrip(c, Op.binary, Buffer.alloc(64 * 1024, 1), true);
    await c.closeCleanly();
  });
  pmdCase('small', 'L.2', 'one byte more closes with 1009', 'permessage-deflate', DEFAULT_ANSWER, async (c) => {
    await c.sendCompressed(Op.binary, Buffer.alloc(64 * 1024 + 1, 1));
    await c.expectFail(1009);
  });
  pmdCase('small', 'L.3', 'a fragmented message that inflates past the limit: 1009', 'permessage-deflate', DEFAULT_ANSWER, async (c) => {
    await c.sendCompressed(Op.text, 'a'.repeat(200_000), { fragment: 50 });
    await c.expectFail(1009);
  });
  pmdCase('small', 'L.4', 'a compressed frame over the limit on the wire: 1009 from its header', 'permessage-deflate', DEFAULT_ANSWER, async (c) => {
    const header = encodeFrame(Op.binary, Buffer.alloc(0), { rsv: 4 }).subarray(0, 2);
    header[1] = 0x80 | 127;
    const length = Buffer.alloc(8);
    length.writeUInt32BE(70 * 1024, 4);
    c.write(Buffer.concat([header, length, randomBytes(4)]));
    await c.expectFail(1009);
  });
  pmdCase('small', 'L.5', 'a 47 KiB frame that inflates to 48 MiB: 1009, and the server never holds more than the limit', 'permessage-deflate', DEFAULT_ANSWER, async (c) => {
    // The echo server runs in this process: its buffers show in this process's arrayBuffers.
    const bomb = zlib.deflateRawSync(Buffer.alloc(48 * 1024 * 1024), { level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    assert.ok(bomb.length < 64 * 1024, `the bomb fits the wire limit (${bomb.length} bytes)`);
    global.gc?.();
    const before = process.memoryUsage().arrayBuffers;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    }, 1);
    try {
      c.send(Op.binary, bomb.subarray(0, bomb.length - 4), { rsv: 4 });
      await c.expectFail(1009);
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    assert.ok(peak - before < 16 * 1024 * 1024, `the server held ${((peak - before) / 1048576).toFixed(1)} MiB inflating a 48 MiB bomb`);
  });
});

describe('fairness: one connection cannot monopolise inflate and deflate', () => {
  test('F.1 a client sending 100 messages that inflate to 1 MiB each does not hold up another client\'s echoes', { timeout: 60_000 }, async (t) => {
    const port = servers.pmd!.port;
    const hog = await RawClient.open(port, { deflate: 'permessage-deflate', expectExtensions: DEFAULT_ANSWER });
    const light = await RawClient.open(port, { deflate: 'permessage-deflate', expectExtensions: DEFAULT_ANSWER });
    try {
      const MiB = Buffer.alloc(1024 * 1024, 0x20);
      const payload = await hog.codec!.compress(MiB);
      const COUNT = 100;
      // All at once: the server reads them as fast as it inflates them, one at a time.
      hog.write(Buffer.concat(Array.from({ length: COUNT }, () => encodeFrame(Op.binary, payload, { rsv: 4 }))));
      let hogEchoes = 0;
      const hogDone = (async () => {
        while (hogEchoes < COUNT) {
          const f = await hog.next(30_000);
          assert.equal(f.opcode, Op.binary);
          hogEchoes++;
        }
      })();
      // Meanwhile 20 round trips on the other connection.
      for (let i = 0; i < 20; i++) await roundTrip(light, Op.text, `light ${i} `.repeat(200), true);
      const atLightDone = hogEchoes;
      t.diagnostic(`the hog had ${atLightDone} of ${COUNT} echoes when the light client was done`);
      await hogDone;
      assert.ok(atLightDone < COUNT / 2, `the light client finished while the hog still waited for ${COUNT - atLightDone} of its ${COUNT} echoes`);
      await light.closeCleanly();
      await hog.closeCleanly();
    } finally {
      hog.destroy();
      light.destroy();
    }
  });
});

describe('backpressure with compression (our client against the default server)', () => {
  test('B.1 send() says queued past the high-water mark and drain follows; queued bytes count against maxBufferedBytes', { timeout: 30_000 }, async () => {
    const got: number[] = [];
    let drains = 0;
    let closed: number | undefined;
    const errors: string[] = [];
    let wake = (): void => {};
    const conn: WebSocketConnection = await connect(servers.pmd!.url, {
      perMessageDeflate: true,
      handler: {
        message(_c, data) {
          got.push(data.length);
          wake();
        },
        drain() {
          drains++;
          wake();
        },
        close(_c, code) {
          closed = code;
          wake();
        },
        error(_c, error) {
          errors.push((error as { code?: string }).code ?? error.message);
        },
      },
    });
    const until = async (cond: () => boolean): Promise<void> => {
      const deadline = Date.now() + 10_000;
      while (!cond()) {
        assert.ok(Date.now() < deadline, 'timeout');
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 100);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
    };
    const results = Array.from({ length: 8 }, (_, i) => conn.send(Buffer.alloc(100_000, i)));
    assert.deepEqual(results, Array(8).fill('queued'), 'each 100 kB message waits for compression past the 16 KiB high-water mark');
    assert.ok(conn.bufferedAmount >= 700_000, `bufferedAmount counts the queue (${conn.bufferedAmount})`);
    await until(() => got.length === 8 && drains >= 1);
    assert.deepEqual(got, Array(8).fill(100_000));
    // 1 MiB of messages waiting for compression: the next send() is over the cap.
    const burst = Array.from({ length: 12 }, (_, i) => conn.send(Buffer.alloc(100_000, i)));
    assert.equal(burst.at(-1), 'dropped');
    await until(() => closed !== undefined);
    assert.ok(errors.includes('buffer_overflow'), `errors: ${errors.join(', ')}`);
  });
});
