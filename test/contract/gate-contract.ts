/**
 * The gate store's part of the engine contract (engine.ts `GateStore`), run by
 * engine-contract.ts on every engine: one-time claims atomic across nodes, fixed-window counters,
 * and expiry of both.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Engine } from '../../src/engine/engine.js';

type Cluster = (t: TestContext, n: number) => Promise<{ engines: Engine[] }>;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const fresh = (): string => randomBytes(8).toString('hex');

export function gateStoreContract(cluster: Cluster, maxNodes: number): void {
  describe('gate store', () => {
    test('claimOnce: true once, false while the mark lives, true again after it expired', async (t) => {
      const { engines: [e] } = await cluster(t, 1);
      const key = fresh();
      assert.equal(await e!.gate.claimOnce(key, 300), true);
      assert.equal(await e!.gate.claimOnce(key, 300), false);
      assert.equal(await e!.gate.claimOnce(fresh(), 300), true, 'another key is independent');
      await sleep(450);
      assert.equal(await e!.gate.claimOnce(key, 300), true, 'the mark expired');
    });

    test('claimOnce: of many concurrent claims of one key, exactly one wins', async (t) => {
      const { engines } = await cluster(t, Math.min(maxNodes, 3));
      const key = fresh();
      const results = await Promise.all(Array.from({ length: 60 }, (_, i) => engines[i % engines.length]!.gate.claimOnce(key, 10_000)));
      assert.equal(results.filter((r) => r).length, 1);
    });

    test('hit: counts within a fixed window, per key, and starts again after it', async (t) => {
      const { engines } = await cluster(t, Math.min(maxNodes, 2));
      const [a, b] = [engines[0]!, engines[engines.length - 1]!];
      const key = fresh();
      const counts = [];
      for (let i = 0; i < 5; i++) counts.push(await (i % 2 === 0 ? a : b).gate.hit(key, 400));
      assert.deepEqual(counts, [1, 2, 3, 4, 5], 'one count for the whole cluster');
      assert.equal(await a.gate.hit(fresh(), 400), 1, 'another key has its own count');
      await sleep(550);
      assert.equal(await b.gate.hit(key, 400), 1, 'a new window');
    });

    test('hit: concurrent hits are all counted', async (t) => {
      const { engines } = await cluster(t, Math.min(maxNodes, 2));
      const key = fresh();
      const counts = await Promise.all(Array.from({ length: 50 }, (_, i) => engines[i % engines.length]!.gate.hit(key, 10_000)));
      assert.deepEqual([...counts].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i + 1));
    });
  });
}
