import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Histogram, bucketHigh, bucketLow, bucketOf } from '../../src/bench/histogram.js';

/** Exact percentile by sorting, the definition the histogram approximates (nearest rank). */
function exact(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)];
}

describe('histogram buckets', () => {
  test('values below 32 have their own bucket', () => {
    for (let v = 0; v < 32; v++) {
      assert.equal(bucketOf(v), v);
      assert.equal(bucketLow(v), v);
      assert.equal(bucketHigh(v), v);
    }
  });

  test('every value lies inside its bucket, and bucket width is at most 1/32 of its low end', () => {
    const samples = [32, 33, 63, 64, 65, 100, 1000, 1023, 1024, 65535, 65536, 123456789, 2 ** 31, 2 ** 32 - 1];
    for (let k = 0; k < 2000; k++) samples.push(Math.floor(Math.random() * 2 ** 32));
    for (const v of samples) {
      const i = bucketOf(v);
      assert.ok(bucketLow(i) <= v && v <= bucketHigh(i), `${v} in [${bucketLow(i)}, ${bucketHigh(i)}]`);
      assert.ok(bucketHigh(i) - bucketLow(i) + 1 <= bucketLow(i) / 32 + 1e-9, `bucket of ${v} too wide`);
    }
  });

  test('buckets are contiguous and increasing', () => {
    for (let i = 1; i < 896; i++) assert.equal(bucketLow(i), bucketHigh(i - 1) + 1, `bucket ${i}`);
  });
});

describe('Histogram', () => {
  test('empty histogram reports zeros', () => {
    const h = new Histogram();
    assert.equal(h.count, 0);
    assert.equal(h.percentile(99), 0);
    assert.equal(h.min, 0);
    assert.equal(h.max, 0);
  });

  test('percentiles are within 1/32 of the exact nearest-rank percentile', () => {
    const h = new Histogram();
    const values: number[] = [];
    // A long-tailed distribution, like latencies.
    for (let k = 0; k < 50000; k++) {
      const v = Math.floor(200 * Math.exp(Math.random() * 6));
      values.push(v);
      h.record(v);
    }
    for (const p of [50, 90, 99, 99.9, 100]) {
      const e = exact(values, p);
      const got = h.percentile(p);
      assert.ok(got >= e && got <= e * (1 + 1 / 32) + 1, `p${p}: ${got} vs exact ${e}`);
    }
    assert.equal(h.max, Math.max(...values));
    assert.equal(h.min, Math.min(...values));
    assert.equal(h.count, 50000);
  });

  test('a single value is reported exactly (clamped to min/max)', () => {
    const h = new Histogram();
    h.record(12345);
    assert.equal(h.percentile(50), 12345);
    assert.equal(h.percentile(99.9), 12345);
  });

  test('merging equals recording everything in one histogram', () => {
    const a = new Histogram();
    const b = new Histogram();
    const all = new Histogram();
    for (let k = 0; k < 10000; k++) {
      const v = Math.floor(Math.random() * 1e6);
      (k % 3 === 0 ? a : b).record(v);
      all.record(v);
    }
    const merged = new Histogram().merge(a).merge(b.toJSON());
    assert.deepEqual(merged.toJSON(), all.toJSON());
    for (const p of [50, 99, 99.9]) assert.equal(merged.percentile(p), all.percentile(p));
  });

  test('survives a JSON round trip (worker to coordinator)', () => {
    const h = new Histogram();
    for (const v of [1, 5, 500, 5000, 5e6]) h.record(v);
    const back = Histogram.fromJSON(JSON.parse(JSON.stringify(h.toJSON())));
    assert.deepEqual(back.toJSON(), h.toJSON());
    assert.equal(back.mean, h.mean);
  });

  test('negative values count as 0 and huge values are clamped', () => {
    const h = new Histogram();
    h.record(-5);
    h.record(1e12);
    assert.equal(h.min, 0);
    assert.equal(h.max, Histogram.MAX_VALUE);
    assert.equal(h.count, 2);
  });

  test('reset forgets everything', () => {
    const h = new Histogram();
    h.record(10);
    h.reset();
    assert.equal(h.count, 0);
    assert.deepEqual(h.buckets(), []);
  });
});
