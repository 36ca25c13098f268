/**
 * Frame encoding (src/ws/sender.ts): exact header bytes for every length form, masking, close
 * payloads; and a round trip through the Receiver for both roles.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { closePayload, encodeFrame, encodeHeader, headerSize } from '@strangers/websocket';
import { feed, hexOf } from './frames.js';

const Op = { cont: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

describe('encodeFrame: unmasked (server side)', () => {
  test('RFC 6455 5.7 examples byte for byte', () => {
    assert.equal(encodeFrame(Op.text, 'Hello').toString('hex'), '810548656c6c6f');
    assert.equal(encodeFrame(Op.text, 'Hel', false).toString('hex'), '010348656c');
    assert.equal(encodeFrame(Op.cont, 'lo').toString('hex'), '80026c6f');
    assert.equal(encodeFrame(Op.ping, 'Hello').toString('hex'), '890548656c6c6f');
    assert.equal(encodeFrame(Op.binary, Buffer.alloc(256)).subarray(0, 4).toString('hex'), '827e0100');
    assert.equal(encodeFrame(Op.binary, Buffer.alloc(65536)).subarray(0, 10).toString('hex'), '827f0000000000010000');
  });
  for (const [len, headerHex] of [[0, '8200'], [125, '827d'], [126, '827e007e'], [65535, '827effff'],
    [65536, '827f0000000000010000'], [70000, '827f0000000000011170']] as const) {
    test(`a ${len}-byte payload uses the shortest length form (${headerHex})`, () => {
      const payload = Buffer.alloc(len, 0xab);
      const f = encodeFrame(Op.binary, payload);
      const header = headerHex.length / 2;
      assert.equal(f.subarray(0, header).toString('hex'), headerHex);
      assert.equal(f.length, header + len);
      assert.equal(headerSize(len, false), header);
      assert.ok(f.subarray(header).equals(payload));
      assert.ok(Buffer.concat([encodeHeader(Op.binary, len), payload]).equals(f), 'encodeHeader + payload = encodeFrame');
    });
  }
  test('strings are encoded as UTF-8 and the length counts bytes', () => {
    const f = encodeFrame(Op.text, 'κόσμε 🙂');
    assert.equal(f[1], Buffer.byteLength('κόσμε 🙂'));
    assert.equal(f[1], 15);
    assert.equal(f.subarray(2).toString('utf8'), 'κόσμε 🙂');
    const long = 'é'.repeat(100); // 200 bytes: 16-bit form
    assert.equal(encodeFrame(Op.text, long).subarray(0, 4).toString('hex'), '817e00c8');
  });
  test('FIN clear for a non-final fragment; RSV always clear', () => {
    for (const opcode of [Op.text, Op.binary, Op.cont]) {
      assert.equal(encodeFrame(opcode, 'x', false)[0], opcode);
      assert.equal(encodeFrame(opcode, 'x', true)[0], 0x80 | opcode);
    }
  });
  test('the payload buffer is not modified', () => {
    const p = Buffer.from('do not touch');
    encodeFrame(Op.binary, p, true, true);
    assert.equal(p.toString(), 'do not touch');
  });
});

describe('encodeFrame: masked (client side)', () => {
  for (const len of [0, 1, 3, 4, 5, 125, 126, 65535, 65536]) {
    test(`a ${len}-byte payload: mask bit, 4-byte key, payload XORed`, () => {
      const payload = Buffer.alloc(len);
      for (let i = 0; i < len; i++) payload[i] = (i * 13) & 0xff;
      const f = encodeFrame(Op.binary, payload, true, true);
      const header = headerSize(len, true);
      assert.equal(f.length, header + len);
      assert.equal(f[1] & 0x80, 0x80);
      const key = f.subarray(header - 4, header);
      const body = Buffer.from(f.subarray(header));
      for (let i = 0; i < len; i++) body[i] ^= key[i & 3];
      assert.ok(body.equals(payload));
    });
  }
  test('every frame gets a fresh mask key (RFC 6455 5.3)', () => {
    const keys = new Set<string>();
    for (let i = 0; i < 3000; i++) keys.add(encodeFrame(Op.text, 'x', true, true).subarray(2, 6).toString('hex'));
    assert.ok(keys.size > 2990, `only ${keys.size} distinct keys in 3000 frames`);
  });
});

describe('closePayload', () => {
  test('code then UTF-8 reason', () => {
    assert.equal(closePayload(1000, '').toString('hex'), '03e8');
    assert.equal(closePayload(4001, 'bye').toString('hex'), '0fa1' + hexOf('bye'));
  });
  test('1005 (no status) is an empty payload', () => {
    assert.equal(closePayload(1005, 'ignored').length, 0);
  });
  test('a long reason is cut to 123 bytes without splitting a character', () => {
    for (const reason of ['x'.repeat(200), 'é'.repeat(100), '🙂'.repeat(50), 'a' + 'é'.repeat(100)]) {
      const p = closePayload(1000, reason);
      assert.ok(p.length <= 125, `${p.length} bytes`);
      assert.ok(p.length >= 121, `not cut more than needed (${p.length})`);
      assert.ok(reason.startsWith(p.subarray(2).toString('utf8')), 'a prefix of the reason');
      assert.equal(Buffer.from(p.subarray(2).toString('utf8')).length, p.length - 2, 'no broken character');
    }
  });
});

describe('round trip: encodeFrame -> Receiver', () => {
  for (const masked of [true, false]) {
    test(`${masked ? 'masked frames to a server' : 'unmasked frames to a client'} decode to the same messages`, () => {
      const sizes = [0, 1, 125, 126, 65535, 65536, 100_000];
      const frames: Buffer[] = [];
      const want: unknown[] = [];
      for (const n of sizes) {
        const bin = Buffer.alloc(n, n & 0xff);
        frames.push(encodeFrame(Op.binary, bin, true, masked));
        want.push(['message', 'binary', bin.toString('hex')]);
        const text = 'ü'.repeat(Math.floor(n / 2));
        frames.push(encodeFrame(Op.text, text, true, masked));
        want.push(['message', 'text', hexOf(text)]);
      }
      frames.push(encodeFrame(Op.text, 'frag-', false, masked), encodeFrame(Op.ping, 'p', true, masked),
        encodeFrame(Op.cont, 'ment', true, masked), encodeFrame(Op.close, closePayload(1000, 'done'), true, masked));
      want.push(['ping', hexOf('p')], ['message', 'text', hexOf('frag-ment')], ['close', 1000, 'done']);
      const all = Buffer.concat(frames);
      const rec = feed(all, [7, 1000, 70_000, 200_001], { isServer: masked, maxMessageSize: 1 << 20 });
      assert.deepEqual(rec.events, want);
    });
  }
});
