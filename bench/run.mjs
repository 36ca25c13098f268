#!/usr/bin/env node
// `npm run bench` (issue 5): every scenario against our server and two reference servers, side by
// side in one run, with `strangers bench` as the load: `ws` (bench/reference-server.mjs) and
// uWebSockets.js (bench/reference-uws.mjs, issue 13; left out with a message when it cannot load).
// Servers are pinned to core 0 (`taskset -c 0`), the load and this script to core 1; each
// scenario gets a fresh server process.
//
//   node bench/run.mjs [--quick] [--only idle10k,idle19k,chat1,chat10,flood,churn,max] [--out bench/results]
//                      [--servers strangers,ws,uws[,floor]] [--cpu-prof DIR] [--before DIR]
// floor (bench/reference-floor.mjs, opt-in): the reference chat on a bare node:net transport,
// the least a Node server can spend on this load; a measuring stick, not a server.
// --before DIR: also runs the server built in DIR (an older checkout, or a copy of its `dist/`) as `before`,
// right after ours, so that a change is measured before/after in the same run as the references.
// --cpu-prof DIR: every server runs under `node --cpu-prof --cpu-prof-dir DIR/<scenario>-<server>`.
//
// Writes bench/results/run[-quick].json and .md (a table with ratios and the issue's targets).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { fmt, freePort, machine, pinSelf, ratio, runBench, sleep, startServer } from './lib/common.mjs';

if (pinSelf()) await new Promise(() => {});

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const outDir = args.includes('--out') ? args[args.indexOf('--out') + 1] : 'bench/results';
const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const cli = here('../dist/src/cli/main.js');
const log = (s) => console.log(s);

/** The scenarios of the record; --quick shrinks them to try things out. */
const SCENARIOS = {
  idle10k: { bench: ['idle', '--connections', quick ? '2000' : '10000', '--duration', '4'], label: quick ? 'idle 2,000' : 'idle 10,000' },
  idle19k: { bench: ['idle', '--connections', quick ? '4000' : '19000', '--duration', '4'], label: quick ? 'idle 4,000' : 'idle 19,000' },
  chat1: { bench: ['chat', '--pairs', quick ? '200' : '2000', '--rate', '1', '--duration', quick ? '6' : '25', '--warmup', quick ? '1' : '5'], label: `${quick ? 200 : 2000} pairs x 1 msg/s` },
  chat10: { bench: ['chat', '--pairs', quick ? '200' : '2000', '--rate', '10', '--duration', quick ? '6' : '25', '--warmup', quick ? '1' : '5'], label: `${quick ? 200 : 2000} pairs x 10 msg/s` },
  // Opt-in (--only chat5): chat x 10 saturates a core for every Node server on a slow machine, and
  // a saturated server's CPU share says nothing; at half the rate the CPU per message compares.
  chat5: { bench: ['chat', '--pairs', quick ? '200' : '2000', '--rate', '5', '--duration', quick ? '6' : '25', '--warmup', quick ? '1' : '5'], label: `${quick ? 200 : 2000} pairs x 5 msg/s` },
  flood: { bench: ['flood', '--pairs', '100', '--window', '16', '--duration', quick ? '5' : '15', '--warmup', quick ? '1' : '3'], label: 'flood 100 pairs' },
  churn: { bench: ['churn', '--connections', quick ? '200' : '1000', '--per-match', '2', '--duration', quick ? '5' : '15', '--warmup', quick ? '1' : '3'], label: `churn ${quick ? 200 : 1000} clients` },
};
const only = args.includes('--only') ? args[args.indexOf('--only') + 1].split(',') : Object.keys(SCENARIOS).filter((n) => n !== 'chat5');

const SERVERS = {
  strangers: (port) => [cli, 'serve', '--host', '127.0.0.1', '--port', String(port), '--rate-limit', '0', '--max-per-ip', '0', '--max-connections', '0', '--gate', 'off'],
  ws: (port) => [here('./reference-server.mjs'), '--port', String(port)],
  uws: (port) => [here('./reference-uws.mjs'), '--port', String(port)],
  // Opt-in (--servers ...,floor): what node:net costs by itself under the same chat logic.
  floor: (port) => [here('./reference-floor.mjs'), '--port', String(port)],
};
const LABEL = { strangers: 'strangers', before: 'strangers before', ws: 'ws reference', uws: 'uWS reference', floor: 'node:net floor' };
let kinds = args.includes('--servers') ? args[args.indexOf('--servers') + 1].split(',') : Object.keys(SERVERS).filter((k) => k !== 'floor');
if (args.includes('--before')) {
  const dir = args[args.indexOf('--before') + 1];
  const beforeCli = [resolve(dir, 'dist/src/cli/main.js'), resolve(dir, 'src/cli/main.js')].find((f) => existsSync(f)) ?? resolve(dir, 'src/cli/main.js');
  SERVERS.before = (port) => [beforeCli, ...SERVERS.strangers(port).slice(1)];
  kinds.splice(kinds.indexOf('strangers') + 1, 0, 'before');
}
if (kinds.includes('uws')) {
  try {
    createRequire(import.meta.url)('./lib/uws.cjs');
  } catch (err) {
    log(`uWebSockets.js reference left out: ${String(err).split('\n')[0]}`);
    kinds = kinds.filter((k) => k !== 'uws');
  }
}
const cpuProf = args.includes('--cpu-prof') ? args[args.indexOf('--cpu-prof') + 1] : null;

const bench = (benchArgs, jsonFile) => runBench(cli, benchArgs, jsonFile);

mkdirSync(outDir, { recursive: true });
const results = { machine: machine(), quick, startedAt: new Date().toISOString(), runs: {} };
log(`bench on ${results.machine.cpu} x ${results.machine.nproc}, Node ${results.machine.node}; ${results.machine.uptime}`);

let interrupted = false;
process.on('SIGINT', () => (interrupted = true));

for (const name of only.filter((n) => n in SCENARIOS)) {
  results.runs[name] = {};
  for (const kind of kinds) {
    if (interrupted) break;
    const port = await freePort();
    const prof = cpuProf ? ['--cpu-prof', '--cpu-prof-dir', resolve(cpuProf, `${name}-${kind}`)] : [];
    // A profile is written at exit: our server's drain must end before stop()'s 5 s SIGKILL.
    const drain = cpuProf && (kind === 'strangers' || kind === 'before') ? ['--drain-timeout', '2s'] : [];
    const server = await startServer(kind, [...prof, ...SERVERS[kind](port), ...drain]);
    await sleep(300);
    const file = join(outDir, `.${name}-${kind}.json`);
    await server.gc();
    const memBase = server.memory();
    let memFull;
    const running = bench([...SCENARIOS[name].bench, '--url', `ws://127.0.0.1:${port}/ws`, '--server-pid', String(server.pid)], file);
    if (name.startsWith('idle')) {
      // Collect the handshakes' garbage once everyone is in, before the bench reads the RSS
      // at the end of its hold (the same for both servers; see lib/gc-preload.cjs).
      const want = Number(SCENARIOS[name].bench[2]);
      await waitOnline(port, want, 120000);
      await server.gc();
      await server.gc();
      memFull = server.memory();
    }
    const { code, summary, result } = await running;
    const heapUsedPerConn = memBase && memFull ? (memFull.heapUsed - memBase.heapUsed) / Math.max(1, result.openAtEnd) : null;
    await server.stop();
    log(`\n== ${SCENARIOS[name].label} on ${kind} (exit ${code}) ==\n${summary}`);
    results.runs[name][kind] = { exit: code, loadavg: result.machine.loadavg, heapUsedPerConn, result: { ...result, latencyHistogram: undefined, timeline: result.timeline } };
  }
}

// ---- max users: our server on both cores ---------------------------------------------------
if (only.includes('max') && !interrupted) {
  results.max = await maxUsers();
}

results.endedAt = new Date().toISOString();
results.machine.uptimeAtEnd = machine().uptime;

// ---- the table -----------------------------------------------------------------------------
const rows = [];
const refs = kinds.slice(1); // ratios: the first server (ours) over each reference
const row = (scenario, metric, values, target, better) => {
  const [a, ...others] = values;
  const cells = [fmt(a)];
  for (const b of others) cells.push(fmt(b));
  for (const b of others) cells.push(ratio(a, b) === null ? '-' : `${fmt(ratio(a, b))}x`);
  const goals = [];
  for (const [i, ref] of refs.entries()) {
    const t = target?.[ref];
    const r = ratio(a, others[i]);
    if (t === undefined || r === null) continue;
    const met = better === 'lower' ? r <= t : r >= t;
    goals.push(`${better === 'lower' ? '≤' : '≥'} ${t}x ${ref} ${met ? 'met' : 'NOT met'}`);
  }
  rows.push(`| ${scenario} | ${metric} | ${cells.join(' | ')} | ${goals.join('; ')} |`);
};
const worstP99 = (r) => Math.max(0, ...r.timeline.map((p) => p.p99Us)) / 1000;
const get = (name, kind) => results.runs[name]?.[kind]?.result;
for (const name of Object.keys(results.runs)) {
  const rs = kinds.map((k) => get(name, k));
  if (rs.some((r) => !r)) continue;
  const all = (f) => rs.map((r) => f(r));
  const label = SCENARIOS[name].label;
  if (name.startsWith('idle')) {
    row(label, 'RSS per connection (KiB)', all((r) => r.server.rssPerConnectionBytes / 1024), { ws: 0.6 }, 'lower');
    row(label, 'JS heap used per connection after GC (KiB)', kinds.map((k) => results.runs[name][k].heapUsedPerConn / 1024), null);
    row(label, 'connections/s', all((r) => r.connect.perSec), null);
  } else if (name.startsWith('chat')) {
    row(label, 'latency p50 (ms)', all((r) => r.latencyMs.p50), null);
    row(label, 'latency p99 (ms)', all((r) => r.latencyMs.p99), name === 'chat10' ? { ws: 0.6 } : null, 'lower');
    row(label, 'worst one-second p99 incl. warm-up (ms)', all(worstP99), null);
    row(label, 'server CPU (% of a core)', all((r) => r.server.cpuPercent), name === 'chat10' ? { ws: 0.7 } : null, 'lower');
    row(label, 'server CPU µs per delivered message', all((r) => (r.server.cpuPercent * 1e4) / Math.max(1, r.messages.perSec)), null);
    row(label, 'msgs/s delivered', all((r) => r.messages.perSec), null);
  } else if (name === 'flood') {
    row(label, 'msgs/s delivered', all((r) => r.messages.perSec), null);
    row(label, 'msgs per server CPU-second', all((r) => r.server.messagesPerCpuSecond), { ws: 1.3 }, 'higher');
    row(label, 'latency p99 (ms)', all((r) => r.latencyMs.p99), null);
  } else if (name === 'churn') {
    row(label, 'matches/s', all((r) => r.matchesPerSec), null);
    row(label, 'matches per server CPU-second', all((r) => r.server.matchesPerCpuSecond), { ws: 1.5, uws: 1 }, 'higher');
  }
  row(label, 'lost + misdelivered', all((r) => r.messages.lost + r.messages.misdelivered), null);
  const gen = (r) => `${Math.max(...r.generator.workerCpuPercent).toFixed(0)}%${r.generator.bottleneck ? ' (bottleneck)' : ''}`;
  rows.push(`| ${label} | load generator CPU (busiest worker) | ${rs.map(gen).join(' | ')} | ${refs.map(() => '').join(' | ')} | |`);
}
const head = `| scenario | metric | ${kinds.map((k) => LABEL[k]).join(' | ')} | ${refs.map((k) => `ratio vs ${k}`).join(' | ')} | target |`;
const table = [head, `| ${head.split('|').slice(1, -1).map(() => '---').join(' | ')} |`, ...rows].join('\n');
let maxText = '';
if (results.max) {
  const m = results.max;
  maxText = `\nLargest number of concurrent users (${m.mode}): ${m.connected} connected of ${m.wanted} tried; failures: ${JSON.stringify(m.failures)}; server RSS ${fmt(m.serverRssMiB)} MiB.\n`;
}
log('\n' + table + '\n' + maxText);
const stamp = (quick ? 'run-quick' : 'run') + (process.env.STRANGERS_BENCH_NODE_FLAGS ? '-flags' : '');
writeFileSync(join(outDir, `${stamp}.json`), JSON.stringify(results, null, 2) + '\n');
writeFileSync(join(outDir, `${stamp}.md`), `Machine: ${results.machine.cpu} x ${results.machine.nproc}, Node ${results.machine.node}, server node flags: ${results.machine.serverNodeFlags.join(' ') || 'none'}\nStart: ${results.machine.uptime}\nEnd: ${results.machine.uptimeAtEnd}\n\n${table}\n${maxText}`);
log(`wrote ${join(outDir, stamp + '.json')} and .md`);
process.exit(0);

/**
 * Opens idle users against our server using both cores until something gives, and reports
 * the largest number held and what stopped it. With the Redis engine present: `--workers 2
 * --redis` (one redis-server started here); otherwise one process.
 */
async function maxUsers() {
  const wanted = quick ? 8000 : Number(args[args.indexOf('--max-users') + 1]) || 44000;
  let redis;
  let mode = 'one process';
  const serverArgs = ['serve', '--host', '127.0.0.1', '--rate-limit', '0', '--max-per-ip', '0', '--max-connections', '0', '--gate', 'off', '--log-level', 'warn'];
  if (!args.includes('--single')) {
    const rport = await freePort();
    redis = spawn('redis-server', ['--port', String(rport), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    await sleep(500);
    if (redis.exitCode === null) {
      serverArgs.push('--workers', '2', '--redis', `redis://127.0.0.1:${rport}`);
      mode = 'serve --workers 2 --redis';
    } else redis = undefined;
  }
  const port = await freePort();
  serverArgs.push('--port', String(port));
  // Both cores for the server: no taskset here.
  const child = spawn('taskset', ['-c', '0,1', process.execPath, cli, ...serverArgs], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, STRANGERS_SECRET: 'bench-max-users-secret-of-32-characters' } });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  // Wait until the port answers.
  for (let i = 0; i < 100; i++) {
    await sleep(200);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (r.ok) break;
    } catch {}
  }
  const pids = [child.pid, ...childPids(child.pid)];
  const file = join(outDir, '.max.json');
  const { result, summary } = await bench(['idle', '--connections', String(wanted), '--ramp', '4000', '--duration', '5', '--connect-timeout', '20000', '--url', `ws://127.0.0.1:${port}/ws`, '--server-pid', pids.join(',')], file);
  log(`\n== max users (${mode}) ==\n${summary}\n${out.split('\n').filter((l) => /error|EMFILE|limit/i.test(l)).slice(0, 5).join('\n')}`);
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  redis?.kill('SIGTERM');
  return {
    mode,
    wanted,
    connected: result.connect.connected,
    failures: result.connect.failures,
    unexpectedCloses: result.unexpectedCloses,
    serverRssMiB: (result.server?.rssEndBytes ?? 0) / 1048576,
    rssPerConnectionBytes: result.server?.rssPerConnectionBytes ?? null,
    connectPerSec: result.connect.perSec,
    serverPids: pids,
  };
}

/** Polls GET /stats (both servers have it) until `online` reaches `want`. */
async function waitOnline(port, want, timeoutMs) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      const r = await (await fetch(`http://127.0.0.1:${port}/stats`)).json();
      if ((r.online ?? 0) >= want) return true;
    } catch {}
    await sleep(250);
  }
  return false;
}

function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number).flatMap((p) => [p, ...childPids(p)]);
  } catch {
    return [];
  }
}
