/**
 * The short fixed-seed pass of every fuzz target (`npm run fuzz -- --seconds N` runs them for
 * longer with a random seed). The seed is fixed so that a failure here replays exactly; inputs
 * that once found a bug are regression tests in the ordinary suites (see docs/security.md).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { targets } from './targets.js';

const SEED = 20_260_101;
/** Inputs per target: a few seconds in all on a 2-core machine. */
const RUNS: Readonly<Record<string, number>> = {
  codec: 10_000,
};

for (const target of targets) {
  const numRuns = RUNS[target.name];
  test(`fuzz ${target.name}: ${numRuns} inputs, seed ${SEED} (${target.description})`, { timeout: 120_000 }, async (t) => {
    assert.ok(numRuns !== undefined, `no budget for target ${target.name}`);
    const report = await target.run({ seed: SEED, numRuns });
    t.diagnostic(`${report.runs} inputs in ${(report.ms / 1000).toFixed(1)} s`);
    assert.equal(report.failed, false, report.report);
    assert.equal(report.runs, numRuns);
  });
}
