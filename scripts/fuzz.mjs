// `npm run fuzz -- [--seconds N] [--seed S] [--target NAME]...`: runs every fuzz target of
// test/fuzz and packages/websocket/test/fuzz (built into dist/test and packages/websocket/build/test) for N seconds each (default 60), one after the other,
// with a random seed unless one is given. Prints per target the inputs run, the seconds, the
// failures and the seed; on a failure prints the counterexample and the seed to replay it, and
// exits 1. Replay: `npm run fuzz -- --target NAME --seed S --seconds N`.
import { parseArgs } from 'node:util';
import { randomInt } from 'node:crypto';
import os from 'node:os';

const USAGE = 'usage: npm run fuzz -- [--seconds N] [--seed S] [--target NAME]...';
let values;
try {
  ({ values } = parseArgs({
    args: process.argv.slice(2),
    strict: true,
    options: {
      seconds: { type: 'string', default: '60' },
      seed: { type: 'string' },
      target: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (err) {
  console.error(`${err.message}\n${USAGE}`);
  process.exit(2);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const seconds = Number(values.seconds);
if (!Number.isFinite(seconds) || seconds <= 0) {
  console.error(`invalid --seconds '${values.seconds}'\n${USAGE}`);
  process.exit(2);
}
const seed = values.seed === undefined ? randomInt(2 ** 31) : Number(values.seed);
if (!Number.isSafeInteger(seed)) {
  console.error(`invalid --seed '${values.seed}'\n${USAGE}`);
  process.exit(2);
}

const targets = [
  ...(await import('../packages/websocket/build/test/fuzz/targets.js')).targets,
  ...(await import('../dist/test/fuzz/targets.js')).targets,
];
const chosen = values.target === undefined ? targets : targets.filter((t) => values.target.includes(t.name));
const unknown = (values.target ?? []).filter((name) => !targets.some((t) => t.name === name));
if (unknown.length > 0 || chosen.length === 0) {
  console.error(`unknown target(s): ${unknown.join(', ')}; targets: ${targets.map((t) => t.name).join(', ')}`);
  process.exit(2);
}

console.log(`fuzzing ${chosen.length} target(s) for ${seconds} s each, seed ${seed}`);
console.log(`node ${process.version}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown cpu'}), ${new Date().toISOString()}`);
console.log('| target | inputs | seconds | inputs/s | failures | seed |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
const failures = [];
for (const target of chosen) {
  const report = await target.run({ seed, timeLimitMs: seconds * 1000 });
  const s = report.ms / 1000;
  console.log(`| ${target.name} | ${report.runs} | ${s.toFixed(1)} | ${Math.round(report.runs / s)} | ${report.failed ? 1 : 0} | ${seed} |`);
  if (report.failed) failures.push(report);
}
for (const report of failures) {
  console.log(`\nFAILED: ${report.target} (seed ${report.seed}); replay with npm run fuzz -- --target ${report.target} --seed ${report.seed} --seconds ${seconds}\n${report.report}`);
}
process.exit(failures.length > 0 ? 1 : 0);
