// The in-memory gate store stays bounded whatever the traffic (engine.ts GateStore: every entry
// expires; memory-gate.ts: caps, counters forget their oldest, claims fail closed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryGateStore } from '../../src/engine/memory-gate.js';

test('a flood of distinct counter keys never holds more than the cap, and expired ones go', async () => {
  let now = 1_000_000;
  const store = new MemoryGateStore({ maxCounters: 1000, now: () => now });
  for (let i = 0; i < 50_000; i++) {
    assert.equal(await store.hit(`k${i}`, 60_000), 1);
    assert.ok(store.size.counters <= 1000);
  }
  assert.equal(store.size.counters, 1000);
  assert.equal(store.stats.countersEvicted, 49_000);
  // A key that is still counted keeps its count.
  assert.equal(await store.hit('k49999', 60_000), 2);
  // Once their window is over, entries leave as traffic goes on (a few per call).
  now += 60_001;
  for (let i = 0; i < 200; i++) await store.hit(`late${i}`, 60_000);
  assert.ok(store.size.counters <= 1000);
  assert.equal(await store.hit('k49999', 60_000), 1, 'a new window');
});

test('claims are bounded: expired marks are swept; at the cap a new claim fails closed', async () => {
  let now = 1_000_000;
  const store = new MemoryGateStore({ maxClaims: 1000, now: () => now });
  for (let i = 0; i < 1000; i++) assert.equal(await store.claimOnce(`c${i}`, 5000), true);
  assert.equal(await store.claimOnce('one-too-many', 5000), false, 'full: refused, never a second true');
  assert.equal(store.stats.claimsRefusedFull, 1);
  assert.equal(await store.claimOnce('c1', 5000), false, 'a live mark still holds');
  now += 5001;
  // The full sweep runs at most once a second: now it frees everything that expired.
  assert.equal(await store.claimOnce('after', 5000), true);
  for (let i = 0; i < 200; i++) await store.claimOnce(`more${i}`, 5000);
  assert.ok(store.size.claims <= 1000);
  assert.equal(await store.claimOnce('c1', 5000), true, 'the old mark is gone');
});

test('a flood of distinct claims with short lives never grows past the cap', async () => {
  let now = 0;
  const store = new MemoryGateStore({ maxClaims: 500, now: () => now });
  let accepted = 0;
  for (let i = 0; i < 100_000; i++) {
    now += 1; // 1 ms apart, each living 100 ms: about 100 live at any time
    if (await store.claimOnce(`f${i}`, 100)) accepted++;
  }
  assert.ok(store.size.claims <= 500, `held ${store.size.claims}`);
  assert.equal(accepted, 100_000, 'the front sweep keeps up: nothing refused');
});
