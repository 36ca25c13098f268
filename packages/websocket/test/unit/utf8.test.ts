/**
 * The incremental UTF-8 validator (src/ws/utf8.ts) against Markus Kuhn's stress test vectors
 * (as grouped by Autobahn 6.x), every code point, every surrogate, and random bytes checked
 * against Node's native validator; whole, byte by byte and cut at every offset.
 */
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { describe, test } from 'node:test';
import { UTF8_ACCEPT, UTF8_REJECT, utf8Step } from '@strangers/websocket';
import { FAIL_FAST, UTF8_VECTORS } from './utf8-vectors.js';

/** Validates `bytes` cut at `cuts`; returns whether the whole is valid (ACCEPT at the end). */
function validate(bytes: Uint8Array, cuts: readonly number[] = []): boolean {
  let state = UTF8_ACCEPT;
  let from = 0;
  for (const to of [...cuts, bytes.length]) {
    state = utf8Step(state, bytes, from, to);
    from = to;
  }
  return state === UTF8_ACCEPT;
}

describe('utf8Step: Kuhn / Autobahn 6.5-6.23 vectors', () => {
  for (const v of UTF8_VECTORS) {
    test(`${v.id} ${v.valid ? 'valid' : 'invalid'}: ${v.group} (${v.bytes.subarray(0, 12).toString('hex')})`, () => {
      assert.equal(isUtf8(v.bytes), v.valid, 'the vector itself agrees with Node\'s validator');
      assert.equal(validate(v.bytes), v.valid, 'whole');
      for (let i = 1; i < v.bytes.length; i++) assert.equal(validate(v.bytes, [i]), v.valid, `cut at ${i}`);
      assert.equal(validate(v.bytes, Array.from({ length: v.bytes.length }, (_, i) => i)), v.valid, 'byte by byte');
    });
  }
});

describe('utf8Step: exhaustive and random checks', () => {
  test('every Unicode scalar value U+0000..U+10FFFF (no surrogates) is valid, in one buffer and cut at random', () => {
    const parts: string[] = [];
    for (let cp = 0; cp <= 0x10ffff; cp++) if (cp < 0xd800 || cp > 0xdfff) parts.push(String.fromCodePoint(cp));
    const all = Buffer.from(parts.join(''), 'utf8');
    assert.equal(validate(all), true);
    let seed = 42;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const cuts = Array.from({ length: 5000 }, () => rand(all.length)).sort((a, b) => a - b);
    assert.equal(validate(all, cuts), true);
  });
  test('every surrogate U+D800..U+DFFF encoded as 3 bytes is invalid, alone and paired', () => {
    for (let cp = 0xd800; cp <= 0xdfff; cp++) {
      const b = Buffer.from([0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)]);
      assert.equal(validate(b), false, `U+${cp.toString(16)}`);
    }
    assert.equal(validate(Buffer.from('eda080edb080', 'hex')), false);
  });
  test('every overlong 2-, 3- and 4-byte form of U+0000..U+FFFF is invalid', () => {
    for (let cp = 0; cp < 0x80; cp++) assert.equal(validate(Buffer.from([0xc0 | (cp >> 6), 0x80 | (cp & 0x3f)])), false);
    for (let cp = 0; cp < 0x800; cp++) {
      assert.equal(validate(Buffer.from([0xe0, 0x80 | (cp >> 6), 0x80 | (cp & 0x3f)])), false, `3-byte ${cp}`);
    }
    for (let cp = 0; cp < 0x10000; cp += 7) {
      assert.equal(validate(Buffer.from([0xf0, 0x80 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)])), false);
    }
  });
  test('code points above U+10FFFF and bytes F5..FF are invalid', () => {
    assert.equal(validate(Buffer.from('f4908080', 'hex')), false);
    for (let b = 0xf5; b <= 0xff; b++) assert.equal(validate(Buffer.from([b, 0x80, 0x80, 0x80])), false, b.toString(16));
  });
  test('100 000 random byte strings agree with Node\'s isUtf8, whole and cut in three', () => {
    let seed = 7;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    // Bias toward bytes that make near-valid sequences, so both outcomes are common.
    const alphabet = [0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xef, 0xf0, 0xf1, 0xf4, 0xf5, 0xff];
    let valid = 0;
    for (let n = 0; n < 100_000; n++) {
      const len = 1 + rand(8);
      const b = Buffer.alloc(len);
      for (let i = 0; i < len; i++) b[i] = alphabet[rand(alphabet.length)];
      const want = isUtf8(b);
      if (want) valid++;
      const a = rand(len + 1);
      const c = a + rand(len - a + 1);
      assert.equal(validate(b), want, b.toString('hex'));
      assert.equal(validate(b, [a, c]), want, `${b.toString('hex')} cut ${a},${c}`);
    }
    assert.ok(valid > 1000, `the generator produced valid strings too (${valid})`);
  });
});

describe('utf8Step: states', () => {
  test('REJECT is absorbing and reported at the first invalid byte', () => {
    const { part1, part2, part3, invalidAt } = FAIL_FAST;
    const whole = Buffer.concat([part1, part2, part3]);
    let state = UTF8_ACCEPT;
    let rejectedAt = -1;
    for (let i = 0; i < whole.length; i++) {
      state = utf8Step(state, whole, i, i + 1);
      if (state === UTF8_REJECT && rejectedAt < 0) rejectedAt = i;
    }
    assert.equal(rejectedAt, invalidAt);
    assert.equal(utf8Step(UTF8_REJECT, Buffer.from('abc')), UTF8_REJECT);
  });
  test('mid-character states are neither ACCEPT nor REJECT, and an empty range keeps the state', () => {
    const s = utf8Step(UTF8_ACCEPT, Buffer.from([0xe2, 0x82]));
    assert.notEqual(s, UTF8_ACCEPT);
    assert.notEqual(s, UTF8_REJECT);
    assert.equal(utf8Step(s, Buffer.alloc(0)), s);
    assert.equal(utf8Step(s, Buffer.from([0xac])), UTF8_ACCEPT);
  });
  test('start/end bounds are honoured', () => {
    const b = Buffer.from([0xff, 0x41, 0x42, 0xff]);
    assert.equal(utf8Step(UTF8_ACCEPT, b, 1, 3), UTF8_ACCEPT);
    assert.equal(utf8Step(UTF8_ACCEPT, b, 0, 3), UTF8_REJECT);
  });
});
