/**
 * Byte-level tests of the Receiver (no sockets): frames cut at every offset and fed byte by
 * byte give the same events; every protocol error has its stable code and close code.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Receiver, isValidCloseCode, type ReceiverSink, type WebSocketError } from '@strangers/websocket';
import { FAIL_FAST, KOSME, hex } from './utf8-vectors.js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// A full collection on demand, without running the whole suite under --expose-gc.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
import { close, everySplit, feed, feedBytewise, frame, hexOf, Recorder, type Event, type FeedOptions } from './frames.js';

const Op = { cont: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

/** Asserts every cut of `bytes` (whole, each 2-way split, byte by byte) reports `expected`. */
function assertAllSplits(bytes: Buffer, expected: readonly Event[], opts: FeedOptions = {}): void {
  for (const cuts of everySplit(bytes.length)) {
    const rec = feed(bytes, cuts, opts);
    assert.deepEqual(rec.events, expected, `cut at [${cuts.length > 3 ? 'every byte' : cuts.join(',')}]`);
  }
}

describe('Receiver: RFC 6455 5.7 examples', () => {
  test('a single-frame unmasked text message (client side)', () => {
    assertAllSplits(hex('81 05 48 65 6c 6c 6f'), [['message', 'text', hexOf('Hello')]], { isServer: false });
  });
  test('a single-frame masked text message (server side)', () => {
    assertAllSplits(hex('81 85 37 fa 21 3d 7f 9f 4d 51 58'), [['message', 'text', hexOf('Hello')]]);
  });
  test('a fragmented unmasked text message', () => {
    assertAllSplits(hex('01 03 48 65 6c 80 02 6c 6f'), [['message', 'text', hexOf('Hello')]], { isServer: false });
  });
  test('unmasked ping and masked pong', () => {
    assertAllSplits(hex('89 05 48 65 6c 6c 6f'), [['ping', hexOf('Hello')]], { isServer: false });
    assertAllSplits(hex('8a 85 37 fa 21 3d 7f 9f 4d 51 58'), [['pong', hexOf('Hello')]]);
  });
  test('256 bytes and 64 KiB binary messages in one unmasked frame (16- and 64-bit lengths)', () => {
    const p256 = Buffer.alloc(256, 7);
    assert.deepEqual(feed(Buffer.concat([hex('82 7e 01 00'), p256]), [], { isServer: false }).events,
      [['message', 'binary', p256.toString('hex')]]);
    const p64k = Buffer.alloc(65536, 9);
    assert.deepEqual(feed(Buffer.concat([hex('82 7f 00 00 00 00 00 01 00 00'), p64k]), [3, 7, 11, 40000], { isServer: false }).events,
      [['message', 'binary', p64k.toString('hex')]]);
  });
});

describe('Receiver: lengths and masking', () => {
  for (const len of [0, 1, 125, 126, 127, 128, 65535, 65536, 70000]) {
    test(`a masked binary frame of ${len} bytes (shortest length form), whole and cut`, () => {
      const p = Buffer.alloc(len);
      for (let i = 0; i < len; i++) p[i] = (i * 7 + 3) & 0xff;
      const bytes = frame(Op.binary, p, { mask: Buffer.from([0xde, 0xad, 0xbe, 0xef]) });
      const want: Event[] = [['message', 'binary', p.toString('hex')]];
      // Every split for small frames; for large ones a sample of cuts across header, key and payload.
      if (len <= 300) assertAllSplits(bytes, want);
      else for (const cuts of [[], [1], [2], [3], [5], [9], [10], [13], [14], [15], [bytes.length >> 1], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]]) {
        assert.deepEqual(feed(bytes, cuts).events, want, `cuts ${cuts.join(',')}`);
      }
    });
  }
  test('non-minimal length forms are accepted (16-bit for 5 bytes, 64-bit for 5 bytes)', () => {
    assertAllSplits(frame(Op.text, 'hello', { lengthForm: 16 }), [['message', 'text', hexOf('hello')]]);
    assertAllSplits(frame(Op.text, 'hello', { lengthForm: 64 }), [['message', 'text', hexOf('hello')]]);
  });
  test('every mask key alignment across pieces unmasks correctly', () => {
    const p = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz');
    const bytes = frame(Op.binary, p, { mask: Buffer.from([1, 2, 4, 8]) });
    // Cut into 3 pieces at every pair of offsets inside the payload.
    for (let a = 6; a < bytes.length; a++) {
      for (let b = a + 1; b < bytes.length; b++) {
        assert.deepEqual(feed(bytes, [a, b]).events, [['message', 'binary', p.toString('hex')]], `cuts ${a},${b}`);
      }
    }
  });
  test('a zero mask key is valid', () => {
    assertAllSplits(frame(Op.text, 'abc', { mask: Buffer.alloc(4) }), [['message', 'text', hexOf('abc')]]);
  });
});

describe('Receiver: multi-frame inputs, every split', () => {
  test('fragmented text with a ping in the middle, a binary message, a pong, then close', () => {
    const bytes = Buffer.concat([
      frame(Op.text, 'frag1-κό', { fin: false }),
      frame(Op.ping, 'are you there?'),
      frame(Op.cont, 'σμε-frag2', { fin: false }),
      frame(Op.cont, '', { fin: false }),
      frame(Op.cont, '-end'),
      frame(Op.binary, Buffer.from([0, 255, 1, 254])),
      frame(Op.pong, ''),
      frame(Op.text, ''),
      frame(Op.close, close(1000, 'bye')),
    ]);
    assertAllSplits(bytes, [
      ['ping', hexOf('are you there?')],
      ['message', 'text', hexOf('frag1-κόσμε-frag2-end')],
      ['message', 'binary', '00ff01fe'],
      ['pong', ''],
      ['message', 'text', ''],
      ['close', 1000, 'bye'],
    ]);
  });
  test('a message split into 1-byte fragments, and code points split across fragments', () => {
    const text = Buffer.from('κόσμε 🙂 ok', 'utf8');
    const frames = Array.from(text, (b, i) => frame(i === 0 ? Op.text : Op.cont, Buffer.from([b]), { fin: i === text.length - 1 }));
    assertAllSplits(Buffer.concat(frames), [['message', 'text', text.toString('hex')]]);
  });
  test('200 frames in one chunk are each reported, in order', () => {
    const msgs = Array.from({ length: 200 }, (_, i) => `m${i}`);
    const rec = feed(Buffer.concat(msgs.map((m) => frame(Op.text, m))));
    assert.deepEqual(rec.events, msgs.map((m) => ['message', 'text', hexOf(m)]));
  });
  test('nothing after a close frame is parsed', () => {
    const bytes = Buffer.concat([frame(Op.close, close(1001)), frame(Op.text, 'late'), hex('ff ff ff')]);
    assertAllSplits(bytes, [['close', 1001, '']]);
  });
  test('an empty close frame is reported as 1005 (no status)', () => {
    assertAllSplits(frame(Op.close), [['close', 1005, '']]);
  });
  test('a message delivered is not changed by later input (the callee owns it)', () => {
    const rec = new Recorder();
    const r = new Receiver(rec, { isServer: true, maxMessageSize: 1 << 20 });
    r.push(Buffer.concat([frame(Op.binary, 'first'), frame(Op.text, 'sec', { fin: false })]));
    r.push(Buffer.concat([frame(Op.cont, 'ond'), frame(Op.binary, 'third')]));
    assert.deepEqual(rec.messages.map((m) => m.toString()), ['first', 'second', 'third']);
  });
});

/** An error case: the bytes, the stable code and the close code; also fed byte by byte. */
function errorCase(name: string, bytes: Buffer, code: string, closeCode: number, opts: FeedOptions = {}, before: Event[] = []): void {
  test(`${name} -> ${code} (${closeCode})`, () => {
    const expected: Event[] = [...before, ['error', code, closeCode]];
    assertAllSplits(bytes, expected, opts);
    // Input after an error is ignored.
    const rec = new Recorder();
    const r = new Receiver(rec, { isServer: opts.isServer ?? true, maxMessageSize: opts.maxMessageSize ?? 1 << 20 });
    r.push(Buffer.from(bytes));
    r.push(frame(Op.text, 'after the error', { mask: opts.isServer === false ? false : true }));
    assert.deepEqual(rec.events, expected);
    assert.equal(r.done, true);
  });
}

describe('Receiver: protocol errors have a stable code and close code', () => {
  errorCase('unmasked client frame (server side)', frame(Op.text, 'hi', { mask: false }), 'unmasked_frame', 1002);
  errorCase('masked server frame (client side)', frame(Op.text, 'hi'), 'masked_frame', 1002, { isServer: false });
  for (const rsv of [1, 2, 3, 4, 5, 6, 7]) {
    errorCase(`RSV=${rsv} on a text frame`, frame(Op.text, 'hi', { rsv }), 'reserved_bits', 1002);
  }
  errorCase('RSV1 on a ping', frame(Op.ping, 'hi', { rsv: 4 }), 'reserved_bits', 1002);
  errorCase('RSV2 on a continuation', Buffer.concat([frame(Op.text, 'a', { fin: false }), frame(Op.cont, 'b', { rsv: 2 })]),
    'reserved_bits', 1002);
  for (const opcode of [3, 4, 5, 6, 7, 11, 12, 13, 14, 15]) {
    errorCase(`reserved opcode ${opcode}`, frame(opcode, 'x'), 'reserved_opcode', 1002);
  }
  errorCase('reserved opcode after a valid message', Buffer.concat([frame(Op.text, 'ok'), frame(5)]), 'reserved_opcode', 1002,
    {}, [['message', 'text', hexOf('ok')]]);
  for (const opcode of [Op.close, Op.ping, Op.pong]) {
    errorCase(`fragmented control frame (opcode ${opcode})`, frame(opcode, '', { fin: false }), 'fragmented_control', 1002);
    errorCase(`control frame of 126 bytes (opcode ${opcode})`, frame(opcode, Buffer.alloc(126)), 'control_too_long', 1002);
  }
  errorCase('control frame announcing 126 bytes, header only', frame(Op.ping, '', { announce: 126 }).subarray(0, 2),
    'control_too_long', 1002);
  errorCase('continuation (FIN) without a message in progress', frame(Op.cont, 'x'), 'unexpected_continuation', 1002);
  errorCase('continuation (no FIN) without a message in progress', frame(Op.cont, 'x', { fin: false }), 'unexpected_continuation', 1002);
  errorCase('continuation after a complete message', Buffer.concat([frame(Op.text, 'done'), frame(Op.cont, 'x')]),
    'unexpected_continuation', 1002, {}, [['message', 'text', hexOf('done')]]);
  errorCase('text frame inside a fragmented text message', Buffer.concat([frame(Op.text, 'a', { fin: false }), frame(Op.text, 'b')]),
    'expected_continuation', 1002);
  errorCase('binary frame inside a fragmented text message', Buffer.concat([frame(Op.text, 'a', { fin: false }), frame(Op.binary, 'b')]),
    'expected_continuation', 1002);
  errorCase('text frame inside a fragmented binary message', Buffer.concat([frame(Op.binary, 'a', { fin: false }), frame(Op.text, 'b')]),
    'expected_continuation', 1002);
  errorCase('64-bit length with the most significant bit set', frame(Op.binary, '', { lengthHigh: 0x80000000 }).subarray(0, 10),
    'invalid_length', 1002);
  errorCase('64-bit length of 2^53 (beyond any limit)', frame(Op.binary, '', { lengthHigh: 0x200000 }).subarray(0, 10),
    'message_too_big', 1009);
  errorCase('close payload of 1 byte', frame(Op.close, Buffer.from([0x03])), 'invalid_close_payload', 1002);
  errorCase('close reason that is not UTF-8', frame(Op.close, close(1000, hex('ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80'))),
    'invalid_utf8', 1007);
  errorCase('close reason with a truncated code point', frame(Op.close, close(1000, hex('ce'))), 'invalid_utf8', 1007);
  errorCase('invalid UTF-8 in a single-frame text message', frame(Op.text, hex('ff')), 'invalid_utf8', 1007);
  errorCase('text message ending inside a code point', Buffer.concat([frame(Op.text, hex('ce'), { fin: false }), frame(Op.cont, '')]),
    'invalid_utf8', 1007);
  errorCase('invalid UTF-8 after a complete text message', Buffer.concat([frame(Op.text, 'fine'), frame(Op.text, hex('c0 80'))]),
    'invalid_utf8', 1007, {}, [['message', 'text', hexOf('fine')]]);
});

describe('Receiver: close codes', () => {
  const reference = (code: number): boolean =>
    (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
  test('every code 0..65535: valid ones are reported, the others fail with invalid_close_code (1002)', () => {
    for (let code = 0; code <= 0xffff; code++) {
      const rec = feed(frame(Op.close, close(code, 'r')));
      const want: Event[] = reference(code) ? [['close', code, 'r']] : [['error', 'invalid_close_code', 1002]];
      assert.deepEqual(rec.events, want, `close code ${code}`);
      assert.equal(isValidCloseCode(code), reference(code), `isValidCloseCode(${code})`);
    }
  });
  test('the brief\'s classes: 0-999, 1004, 1005, 1006, 1015, 1016-2999 invalid; 1000-1003, 1007-1014, 3000-4999 valid', () => {
    for (const code of [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]) assert.equal(isValidCloseCode(code), false, `${code}`);
    for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]) {
      assert.equal(isValidCloseCode(code), true, `${code}`);
    }
  });
  test('a reason of 123 bytes (payload 125) with multi-byte characters is reported whole', () => {
    const reason = 'é'.repeat(61) + 'x'; // 123 bytes
    assertAllSplits(frame(Op.close, close(4000, reason)), [['close', 4000, reason]]);
  });
});

describe('Receiver: maximum message size (1009) is checked from the header', () => {
  const opts = { maxMessageSize: 100 };
  test('exactly the limit passes, whole and fragmented', () => {
    assertAllSplits(frame(Op.binary, Buffer.alloc(100)), [['message', 'binary', '00'.repeat(100)]], opts);
    assertAllSplits(Buffer.concat([frame(Op.text, 'a'.repeat(60), { fin: false }), frame(Op.cont, 'b'.repeat(40))]),
      [['message', 'text', hexOf('a'.repeat(60) + 'b'.repeat(40))]], opts);
  });
  test('a 7-bit length over the limit fails after the 2 header bytes, before mask key and payload', () => {
    const rec = feedBytewise(frame(Op.binary, Buffer.alloc(101)), opts);
    assert.deepEqual(rec.events, [['error', 'message_too_big', 1009]]);
    assert.equal(rec.errorAt, 2);
  });
  test('a 16-bit length over the limit fails after the 4 header bytes, before mask key and payload', () => {
    const rec = feedBytewise(frame(Op.binary, Buffer.alloc(300)), opts);
    assert.deepEqual(rec.events, [['error', 'message_too_big', 1009]]);
    assert.equal(rec.errorAt, 4);
  });
  test('a 64-bit length over the limit fails after the 10 header bytes', () => {
    const rec = feedBytewise(frame(Op.binary, Buffer.alloc(0), { announce: 1 << 30, lengthForm: 64 }).subarray(0, 14), opts);
    assert.deepEqual(rec.events, [['error', 'message_too_big', 1009]]);
    assert.equal(rec.errorAt, 10);
  });
  test('fragments adding up past the limit fail at the header of the fragment that crosses it', () => {
    const first = frame(Op.text, 'a'.repeat(60), { fin: false });
    const second = frame(Op.cont, 'b'.repeat(41));
    const rec = feedBytewise(Buffer.concat([first, second]), opts);
    assert.deepEqual(rec.events, [['error', 'message_too_big', 1009]]);
    assert.equal(rec.errorAt, first.length + 2);
  });
  test('control frames do not count toward the message size', () => {
    const bytes = Buffer.concat([frame(Op.text, 'a'.repeat(90), { fin: false }), frame(Op.ping, Buffer.alloc(125)), frame(Op.cont, 'b'.repeat(10))]);
    assertAllSplits(bytes, [['ping', '00'.repeat(125)], ['message', 'text', hexOf('a'.repeat(90) + 'b'.repeat(10))]], opts);
  });
  test('the size counter restarts with each message', () => {
    const bytes = Buffer.concat([frame(Op.binary, Buffer.alloc(100)), frame(Op.binary, Buffer.alloc(100))]);
    assert.deepEqual(feed(bytes, [], opts).events, [['message', 'binary', '00'.repeat(100)], ['message', 'binary', '00'.repeat(100)]]);
  });
});

describe('Receiver: UTF-8 fails fast, on the piece where the bad byte appears', () => {
  const { part1, part2, part3, invalidAt } = FAIL_FAST;
  const whole = Buffer.concat([part1, part2, part3]);
  test('one frame fed byte by byte: the error comes with the first invalid byte', () => {
    const bytes = frame(Op.text, whole);
    const header = bytes.length - whole.length;
    const rec = feedBytewise(bytes);
    assert.deepEqual(rec.events, [['error', 'invalid_utf8', 1007]]);
    assert.equal(rec.errorAt, header + invalidAt + 1);
  });
  test('three fragments: the error comes with the second fragment, the third is never needed', () => {
    const f1 = frame(Op.text, part1, { fin: false });
    const f2 = frame(Op.cont, part2, { fin: false });
    const rec = feed(Buffer.concat([f1, f2]), [f1.length]);
    assert.deepEqual(rec.events, [['error', 'invalid_utf8', 1007]]);
    assert.equal(rec.errorAt, f1.length + f2.length);
  });
  test('a truncated sequence at a fragment boundary is fine until the next fragment breaks it', () => {
    const f1 = frame(Op.text, hex('ce'), { fin: false }); // first byte of κ
    const ok = frame(Op.cont, hex('ba'));
    assertAllSplits(Buffer.concat([f1, ok]), [['message', 'text', 'ceba']]);
    const bad = frame(Op.cont, hex('41'), { fin: false });
    const rec = feed(Buffer.concat([f1, bad]), [f1.length]);
    assert.deepEqual(rec.events, [['error', 'invalid_utf8', 1007]]);
    assert.equal(rec.errorAt, f1.length + bad.length);
  });
  test('a valid message of many code points cut at every offset stays valid', () => {
    const text = Buffer.concat([KOSME, Buffer.from(' 🙂 ✓ '), KOSME]);
    assertAllSplits(frame(Op.text, text), [['message', 'text', text.toString('hex')]]);
  });
});

describe('Receiver: randomized streams', () => {
  test('300 random valid streams (fragments, pings, every length form) cut at random offsets give the expected events', () => {
    let seed = 1234;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const pieces = ['a', 'κό', 'σμε', '🙂', '', 'x'.repeat(130), 'y'.repeat(70_000)];
    for (let run = 0; run < 300; run++) {
      const frames: Buffer[] = [];
      const want: Event[] = [];
      const messages = 1 + rand(5);
      for (let m = 0; m < messages; m++) {
        const binary = rand(2) === 0;
        const parts = Array.from({ length: 1 + rand(4) }, () => Buffer.from(pieces[rand(pieces.length - (run % 10 === 0 ? 0 : 1))]));
        parts.forEach((p, i) => {
          frames.push(frame(i === 0 ? (binary ? Op.binary : Op.text) : Op.cont, p, {
            fin: i === parts.length - 1,
            mask: Buffer.from([rand(256), rand(256), rand(256), rand(256)]),
            lengthForm: p.length <= 125 && rand(4) === 0 ? 16 : undefined,
          }));
          if (i === parts.length - 1) want.push(['message', binary ? 'binary' : 'text', Buffer.concat(parts).toString('hex')]);
          if (rand(3) === 0) {
            const ping = Buffer.from(`ping ${run}.${m}.${i}`);
            frames.push(frame(Op.ping, ping));
            want.push(['ping', ping.toString('hex')]);
          }
        });
      }
      const bytes = Buffer.concat(frames);
      const cuts = Array.from({ length: rand(12) }, () => rand(bytes.length)).sort((a, b) => a - b);
      assert.deepEqual(feed(bytes, cuts).events, want, `run ${run}, cuts ${cuts.join(',')}`);
    }
  });
});

describe('Receiver: memory', () => {
  // Without joining runs of pieces, 64 KiB sent as 1-byte fragments (~450 KB on the wire)
  // held ~7 MB of heap per connection: a Buffer view per piece until the message ended.
  test('a message of 65 535 one-byte fragments holds at most ~4x its size per receiver', () => {
    const one = (first: boolean): Buffer => Buffer.from([first ? 0x02 : 0x00, 0x81, 1, 2, 3, 4, 0x61]);
    const wire = Buffer.concat(Array.from({ length: 65535 }, (_, i) => one(i === 0)));
    const receivers: Receiver[] = [];
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let k = 0; k < 20; k++) {
      const r = new Receiver(new Recorder(), { isServer: true, maxMessageSize: 65536 });
      for (let off = 0; off < wire.length; off += 65536) r.push(Buffer.from(wire.subarray(off, off + 65536)));
      receivers.push(r);
    }
    gc(); // count what the receivers hold, not the garbage of joining
    const perReceiver = (process.memoryUsage().heapUsed - before) / receivers.length;
    assert.ok(perReceiver < 4 * 65536, `${Math.round(perReceiver / 1024)} KiB of heap per receiver for a 64 KiB message`);
  });
});

/** A sink that keeps messages and errors, and only counts control frames (padding). */
class Counter implements ReceiverSink {
  readonly messages: Buffer[] = [];
  readonly errors: string[] = [];
  controls = 0;
  onMessage(data: Buffer): void {
    this.messages.push(data);
  }
  onPing(): void {
    this.controls++;
  }
  onPong(): void {
    this.controls++;
  }
  onCloseFrame(): void {
    this.controls++;
  }
  onProtocolError(error: WebSocketError): void {
    this.errors.push(error.code);
  }
}

const READ = 64 * 1024;

/** Masked pongs (ignored padding) that fill exactly `bytes` bytes (bytes >= 6 or 0). */
function pongPadding(bytes: number): Buffer {
  const frames: Buffer[] = [];
  while (bytes > 0) {
    // 6 bytes of header and key; keep what is left either 0 or at least 6 bytes.
    let payload = Math.min(125, bytes - 6);
    if (bytes - 6 - payload > 0 && bytes - 6 - payload < 6) payload -= 6;
    frames.push(frame(Op.pong, Buffer.alloc(payload, 0x70)));
    bytes -= 6 + payload;
  }
  return Buffer.concat(frames);
}

/** One 64 KiB socket read: `frames` at `at` ('start' or 'end'), masked pongs for the rest. */
function read64k(frames: Buffer, at: 'start' | 'end'): Buffer {
  const padding = pongPadding(READ - frames.length);
  const chunk = Buffer.allocUnsafeSlow(READ); // a store of its own, as a socket read has
  (at === 'start' ? Buffer.concat([frames, padding]) : Buffer.concat([padding, frames])).copy(chunk);
  return chunk;
}

describe('Receiver: a message in progress holds only its own bytes', () => {
  // Regression: each piece was kept as a view into the read it came in, so 127 one-byte
  // fragments (one fewer than a joined run), each in a 64 KiB read, pinned 8 MiB.
  for (const at of ['start', 'end'] as const) {
    test(`127 one-byte fragments, each inside its own 64 KiB read (fragment at the ${at}), retain about 127 bytes`, () => {
      const sink = new Counter();
      const r = new Receiver(sink, { isServer: true, maxMessageSize: 13 * 1024 });
      for (let i = 0; i < 127; i++) {
        r.push(read64k(frame(i === 0 ? Op.binary : Op.cont, Buffer.from([i]), { fin: false }), at));
        assert.ok(r.retainedBytes <= 64 * (i + 1) + 256, `after ${i + 1} fragments the receiver retains ${r.retainedBytes} bytes`);
      }
      assert.ok(r.retainedBytes <= 4096, `127 one-byte fragments retain ${r.retainedBytes} bytes`);
      r.push(read64k(frame(Op.cont, Buffer.from([127])), at));
      assert.deepEqual(sink.errors, []);
      assert.equal(sink.messages.length, 1);
      assert.deepEqual([...sink.messages[0]!], Array.from({ length: 128 }, (_, i) => i));
      assert.equal(r.retainedBytes, 0);
    });
  }
  test('a partial frame header or control frame left at the end of a read is kept without the read', () => {
    const sink = new Counter();
    const r = new Receiver(sink, { isServer: true, maxMessageSize: 1024 });
    const ping = frame(Op.ping, Buffer.alloc(125, 0x71));
    for (const keep of [1, 2, 5, 13, 14, 100, ping.length - 1]) {
      const chunk = Buffer.allocUnsafeSlow(READ);
      const padding = pongPadding(READ - keep);
      padding.copy(chunk);
      ping.copy(chunk, padding.length, 0, keep);
      r.push(chunk);
      assert.ok(r.retainedBytes <= 2 * keep + 64, `${keep} leftover bytes retain ${r.retainedBytes}`);
      r.push(Buffer.from(ping.subarray(keep)));
      assert.equal(r.retainedBytes, 0);
    }
    assert.deepEqual(sink.errors, []);
  });
  // Found by the receiver fuzz target (seed 1) against the receiver before this rule: a ping
  // arriving one byte per read, each byte inside a 68-byte store, kept every store it had seen.
  test('fuzz regression: a ping fed one byte per read keeps only its own bytes', () => {
    const bytes = Buffer.from([137, 138, 0, 0, 0, 0, 32, 240, 144, 128, 128, 194, 160, 224, 160, 128]);
    const sink = new Counter();
    const r = new Receiver(sink, { isServer: true, maxMessageSize: 16 });
    let most = 0;
    for (let i = 0; i < bytes.length; i++) {
      const store = Buffer.allocUnsafeSlow(68);
      store[32] = bytes[i]!;
      r.push(store.subarray(32, 33));
      most = Math.max(most, r.retainedBytes);
    }
    assert.equal(sink.controls, 1);
    assert.ok(most <= 2 * 16, `a partial ping of at most 15 bytes retained ${most} bytes`);
  });
  test('a single-frame message inside one read is handed over as a view of it (zero copy)', () => {
    const sink = new Counter();
    const r = new Receiver(sink, { isServer: true, maxMessageSize: 1 << 20 });
    const chunk = read64k(frame(Op.binary, Buffer.alloc(1000, 0x61)), 'start');
    r.push(chunk);
    assert.equal(sink.messages.length, 1);
    assert.equal(sink.messages[0]!.buffer, chunk.buffer, 'the message was copied');
  });
  test('a large piece of a message in progress stays a view; what it pins is at most twice its bytes', () => {
    const sink = new Counter();
    const r = new Receiver(sink, { isServer: true, maxMessageSize: 1 << 20 });
    const payload = Buffer.alloc(200_000, 0x62);
    const bytes = frame(Op.binary, payload);
    let kept = 0;
    for (let off = 0; off < bytes.length; off += READ) {
      const chunk = Buffer.allocUnsafeSlow(Math.min(READ, bytes.length - off));
      bytes.copy(chunk, 0, off, off + chunk.length);
      r.push(chunk);
      kept = Math.min(bytes.length, off + chunk.length) - 14;
      if (sink.messages.length === 0) assert.ok(r.retainedBytes <= 2 * kept, `${kept} bytes of a message retain ${r.retainedBytes}`);
    }
    assert.equal(sink.messages.length, 1);
    assert.ok(sink.messages[0]!.equals(payload));
  });
});
