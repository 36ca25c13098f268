/**
 * The fuzz runner shared by every target: a fast-check property run either for a fixed number
 * of inputs (the short fixed-seed pass of `npm test`) or for a time budget (`npm run fuzz`).
 *
 * Property-based, not coverage-guided: `@jazzer.js/core` installs from npm but its native
 * libFuzzer addon does not load on this machine (see docs/security.md, "Fuzzing"). The
 * generators are therefore shaped by hand toward the interesting inputs (valid frames and
 * requests with mutations), and every failure is shrunk to a small counterexample.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';

// fast-check keeps lengths "small" (about 10) by default even where a target asks for more;
// here an explicit maxLength means what it says. Set when this module loads, before any target
// builds its arbitraries (fast-check reads it then).
fc.configureGlobal({ ...fc.readConfigureGlobal(), defaultSizeToMaxWhenMaxSpecified: true });

/** How much to run: a number of inputs, a time budget, or both (whichever ends first). */
export interface FuzzBudget {
  /** fast-check's seed: the same seed and budget replay the same inputs. */
  readonly seed: number;
  /** Stop after this many inputs. */
  readonly numRuns?: number;
  /** Stop after this many milliseconds. */
  readonly timeLimitMs?: number;
}

/** What one target run did. */
export interface FuzzReport {
  readonly target: string;
  readonly seed: number;
  /** Inputs run (each one checked in every way the target checks it). */
  readonly runs: number;
  readonly ms: number;
  readonly failed: boolean;
  /** On failure: fast-check's report (the shrunk counterexample, its path, the error). */
  readonly report: string | undefined;
}

/** One fuzz target: a parser, its inputs, and the invariants checked on each input. */
export interface FuzzTarget {
  readonly name: string;
  /** One line: what is fed to what. */
  readonly description: string;
  run(budget: FuzzBudget): Promise<FuzzReport>;
}

/** Runs a (sync or async) property within the budget; never throws on a failing input. */
export async function runProperty<Ts>(
  target: string,
  property: fc.IProperty<Ts> | fc.IAsyncProperty<Ts>,
  budget: FuzzBudget,
): Promise<FuzzReport> {
  const params: fc.Parameters<Ts> = {
    seed: budget.seed,
    numRuns: budget.numRuns ?? Number.MAX_SAFE_INTEGER,
    ...(budget.timeLimitMs === undefined ? {} : { interruptAfterTimeLimit: budget.timeLimitMs }),
    // Interrupted by the time budget is the normal end of a timed run, not a failure.
    markInterruptAsFailure: false,
  };
  const t0 = performance.now();
  const details = await fc.check(property as fc.IRawProperty<Ts>, params);
  const ms = performance.now() - t0;
  return {
    target,
    seed: budget.seed,
    runs: details.numRuns,
    ms,
    failed: details.failed,
    report: details.failed ? `${fc.defaultReportMessage(details)}\nError: ${describeError(details.errorInstance)}` : undefined,
  };
}

function describeError(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

/** `arb` once in `odds` draws, null otherwise (for what should be rare; `fc.option` makes null rare). */
export function rarely<T>(arb: fc.Arbitrary<T>, odds: number): fc.Arbitrary<T | null> {
  return fc.oneof({ weight: odds - 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb });
}

/** The seed of the fixed-seed pass in `npm test`: a failure there replays exactly. */
export const FIXED_SEED = 20_260_101;

/**
 * Registers the short fixed-seed pass of `targets` as node:test tests, `runs[name]` inputs each
 * (every target must have a budget). `npm run fuzz -- --seconds N` runs them for longer with a
 * random seed.
 */
export function fixedSeedPass(targets: readonly FuzzTarget[], runs: Readonly<Record<string, number>>): void {
  for (const target of targets) {
    const numRuns = runs[target.name];
    test(`fuzz ${target.name}: ${numRuns} inputs, seed ${FIXED_SEED} (${target.description})`, { timeout: 120_000 }, async (t) => {
      assert.ok(numRuns !== undefined, `no budget for target ${target.name}`);
      const report = await target.run({ seed: FIXED_SEED, numRuns });
      t.diagnostic(`${report.runs} inputs in ${(report.ms / 1000).toFixed(1)} s`);
      assert.equal(report.failed, false, report.report);
      assert.equal(report.runs, numRuns);
    });
  }
}
