import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { durationHistogram, observe } from '../../src/chat/index.js';

test('duration histogram: a value on a bound is in that bucket, above the last in the overflow, negative as 0', () => {
  const h = durationHistogram([10, 100]);
  for (const v of [0, 10, 10.5, 100, 101, -5]) observe(h, v);
  assert.deepEqual(h.counts, [3, 2, 1]);
  assert.equal(h.count, 6);
  assert.equal(h.sumMs, 0 + 10 + 10.5 + 100 + 101 + 0);
  assert.throws(() => durationHistogram([10, 10]), RangeError);
});
