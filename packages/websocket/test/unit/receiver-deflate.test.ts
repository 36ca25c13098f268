/**
 * The receiver with permessage-deflate negotiated (RFC 7692 6): RSV1 marks the first frame of a
 * compressed message, which is handed over whole and not UTF-8 checked; the receiver then parses
 * nothing until resume(). Every split of the input gives the same events.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Receiver, parseExtensions } from '@strangers/websocket';
import { close, everySplit, frame, hexOf, Recorder } from './frames.js';

/** A recorder that takes compressed messages and pauses on each (or not, with `pause: false`). */
class DeflateRecorder extends Recorder {
  pause = true;
  onCompressedMessage(data: Buffer, isBinary: boolean): boolean {
    this.events.push(['compressed', isBinary ? 'binary' : 'text', data.toString('hex')]);
    return this.pause;
  }
}

function run(bytes: Buffer, cuts: readonly number[], perMessageDeflate = true): { rec: DeflateRecorder; r: Receiver } {
  const rec = new DeflateRecorder();
  const r = new Receiver(rec, { isServer: true, maxMessageSize: 1 << 20, perMessageDeflate });
  let from = 0;
  for (const to of [...cuts, bytes.length]) {
    if (to < from) continue;
    r.push(Buffer.from(bytes.subarray(from, to)));
    from = to;
  }
  return { rec, r };
}

describe('Receiver with permessage-deflate', () => {
  // Not valid DEFLATE and not valid UTF-8: the receiver must check neither.
  const opaque = Buffer.from([0xff, 0xfe, 0x00, 0xc3]);

  test('RSV1 on a single frame: handed over whole, unchecked; parsing waits for resume()', () => {
    const bytes = Buffer.concat([frame(0x1, opaque, { rsv: 4 }), frame(0x9, 'p'), frame(0x1, 'after')]);
    for (const cuts of everySplit(bytes.length)) {
      const { rec, r } = run(bytes, cuts);
      assert.deepEqual(rec.events, [['compressed', 'text', opaque.toString('hex')]], `cuts ${cuts}`);
      assert.equal(r.paused, true);
      r.resume();
      assert.deepEqual(rec.events.slice(1), [['ping', hexOf('p')], ['message', 'text', hexOf('after')]], `cuts ${cuts}`);
      assert.equal(r.paused, false);
    }
  });

  test('a fragmented compressed message: RSV1 on the first frame only, a ping in between', () => {
    const bytes = Buffer.concat([frame(0x2, opaque.subarray(0, 2), { rsv: 4, fin: false }), frame(0x9, 'p'),
      frame(0x0, opaque.subarray(2)), frame(0x8, close(1000))]);
    for (const cuts of everySplit(bytes.length)) {
      const { rec, r } = run(bytes, cuts);
      r.resume();
      assert.deepEqual(rec.events, [['ping', hexOf('p')], ['compressed', 'binary', opaque.toString('hex')], ['close', 1000, '']], `cuts ${cuts}`);
    }
  });

  test('a sink that declines (returns false) lets parsing go on', () => {
    const rec = new DeflateRecorder();
    rec.pause = false;
    const r = new Receiver(rec, { isServer: true, maxMessageSize: 1 << 20, perMessageDeflate: true });
    r.push(Buffer.concat([frame(0x1, opaque, { rsv: 4 }), frame(0x1, 'next')]));
    assert.deepEqual(rec.events.map((e) => e[0]), ['compressed', 'message']);
    assert.equal(r.paused, false);
  });

  const errors: [string, Buffer][] = [
    ['RSV1 on a continuation frame', Buffer.concat([frame(0x1, 'a', { fin: false }), frame(0x0, 'b', { rsv: 4 })])],
    ['RSV1 on a ping', frame(0x9, 'p', { rsv: 4 })],
    ['RSV1 on a close', frame(0x8, close(1000), { rsv: 4 })],
    ['RSV2', frame(0x1, 'a', { rsv: 2 })],
    ['RSV3', frame(0x1, 'a', { rsv: 1 })],
    ['RSV1 and RSV2', frame(0x1, 'a', { rsv: 6 })],
  ];
  for (const [title, bytes] of errors) {
    test(`${title}: reserved_bits, 1002`, () => {
      for (const cuts of everySplit(bytes.length)) {
        const { rec } = run(bytes, cuts);
        assert.deepEqual(rec.events.at(-1), ['error', 'reserved_bits', 1002], `cuts ${cuts}`);
      }
    });
  }

  test('without perMessageDeflate in the options, RSV1 stays a protocol error', () => {
    const { rec } = run(frame(0x1, opaque, { rsv: 4 }), [], false);
    assert.deepEqual(rec.events, [['error', 'reserved_bits', 1002]]);
  });

  test('input pushed while paused is kept, in order, and stop() drops it', () => {
    const rec = new DeflateRecorder();
    const r = new Receiver(rec, { isServer: true, maxMessageSize: 1 << 20, perMessageDeflate: true });
    r.push(frame(0x1, opaque, { rsv: 4 }));
    r.push(frame(0x1, 'one'));
    r.push(frame(0x1, opaque, { rsv: 4 }));
    r.push(frame(0x1, 'two'));
    assert.equal(rec.events.length, 1);
    r.resume();
    assert.deepEqual(rec.events.map((e) => e[0]), ['compressed', 'message', 'compressed']);
    r.stop();
    r.resume();
    r.push(frame(0x1, 'three'));
    assert.deepEqual(rec.events.map((e) => e[0]), ['compressed', 'message', 'compressed']);
    assert.equal(r.retainedBytes, 0);
  });
});

describe('parseExtensions (RFC 6455 9.1)', () => {
  test('elements, parameters, quoted values, case, empty elements, broken elements', () => {
    assert.deepEqual(parseExtensions('permessage-deflate; client_max_window_bits, X-Foo ; A="b\\"c" ,, bar; k=v'), [
      { name: 'permessage-deflate', params: [['client_max_window_bits', true]] },
      { name: 'x-foo', params: [['a', 'b"c']] },
      { name: 'bar', params: [['k', 'v']] },
    ]);
    assert.deepEqual(parseExtensions('a;;b, c'), [null, { name: 'c', params: [] }]);
    assert.deepEqual(parseExtensions('a; k="x,y", b'), [{ name: 'a', params: [['k', 'x,y']] }, { name: 'b', params: [] }]);
    assert.deepEqual(parseExtensions('a; k="open, b'), [null]);
    assert.deepEqual(parseExtensions('a b, c=1, d; e='), [null, null, null]);
    assert.deepEqual(parseExtensions(''), []);
  });
});
