#!/usr/bin/env node
// `npm run bench:rolling`: a rolling restart under load. Two Strangers nodes on one Redis, a
// chat load whose every pair spans both nodes (`--cross-pairs`), clients that ack and resume
// (`--resume`); node A is restarted (SIGTERM: every WebSocket closed with 1012, each place held
// and handed over to the node its client resumes on; wait for the exit; start again on the same
// port), then, once A is back and a few seconds have passed, node B likewise. Reports
// conversations ended, messages lost, duplicated and misdelivered, resumes, failed resumes, and
// the delay of the messages sent or delivered during each restart against the steady state.
// Nodes and Redis are pinned to core 0, the load to core 1.
//
//   node bench/rolling.mjs [--pairs 300] [--rate 1] [--out bench/results]
//   node bench/rolling.mjs --render bench/results/rolling.json    # the .md again from the .json
//
// Writes bench/results/rolling.json and .md. About 40 s; stops by itself.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERVER_CPU, freePort, machine, pinSelf, runBench, sleep, startServer } from './lib/common.mjs';
import { renderRolling } from './lib/rolling-report.mjs';

if (process.argv.includes('--render')) {
  const file = process.argv[process.argv.indexOf('--render') + 1];
  const md = renderRolling(JSON.parse(readFileSync(file, 'utf8')));
  writeFileSync(file.replace(/\.json$/, '.md'), md);
  console.log(md);
  process.exit(0);
}
if (pinSelf()) await new Promise(() => {});

const args = process.argv.slice(2);
const opt = (name, def) => (args.includes(name) ? args[args.indexOf(name) + 1] : def);
const PAIRS = Number(opt('--pairs', '300'));
const RATE = Number(opt('--rate', '1'));
const outDir = opt('--out', 'bench/results');
/** Seconds of load once every pair is chatting before node A restarts, and between A listening again and B's restart. */
const BEFORE = 8;
const BETWEEN = 5;
/** The bench's duration: both restarts (about 2 s each) and more than 10 s of load after them. */
const DURATION = 30;
const SECRET = 'bench-rolling-secret-of-32-characters!';
const cli = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
const log = (s) => console.log(s);
const nowUs = () => Number(process.hrtime.bigint() / 1000n); // the clock the bench's windows use

mkdirSync(outDir, { recursive: true });
const results = { machine: machine(), startedAt: new Date().toISOString(), settings: { pairs: PAIRS, rate: RATE, duration: DURATION, before: BEFORE, between: BETWEEN, serverCpu: SERVER_CPU, resumeWindow: '20s (default)', drainTimeout: '25s (default)' }, restarts: [] };
log(`rolling restart bench on ${results.machine.cpu} x ${results.machine.nproc}, Node ${results.machine.node}; ${results.machine.uptime}`);

const redisPort = await freePort();
const redis = spawn('taskset', ['-c', SERVER_CPU, 'redis-server', '--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
await sleep(500);
if (redis.exitCode !== null) throw new Error('redis-server did not start (is it installed?)');

/** Starts (or restarts) the node on `port`; keeps its warnings, errors and stop line. */
async function startNode(name, port) {
  const n = await startServer(name, [cli, 'serve', '--host', '127.0.0.1', '--port', String(port), '--redis', `redis://127.0.0.1:${redisPort}`, '--gate', 'off', '--rate-limit', '0', '--max-per-ip', '0', '--max-connections', '0'], { env: { STRANGERS_SECRET: SECRET } });
  n.port = port;
  n.lines = [];
  let buf = '';
  const keep = (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      // pino levels: 40 warn, 50 error; and the drain's outcome.
      if (/"level":(4|5|6)0/.test(line) || /"event":"stop"/.test(line)) n.lines.length < 50 && n.lines.push(line);
    }
  };
  n.child.stdout.on('data', keep);
  n.child.stderr.on('data', keep);
  return n;
}

/** SIGTERM, wait for the exit (the drain hands every place over: at most --drain-timeout), then start again on the same port. */
async function restart(node) {
  const r = { node: node.name, sigtermUs: nowUs(), sigtermAt: new Date().toISOString() };
  const t = performance.now();
  const exited = new Promise((resolve) => node.child.once('exit', (code, signal) => resolve({ code, signal })));
  node.child.kill('SIGTERM');
  const kill = setTimeout(() => node.child.kill('SIGKILL'), 35_000);
  r.exit = await exited;
  clearTimeout(kill);
  r.exitMs = Math.round(performance.now() - t);
  r.log = node.lines;
  const fresh = await startNode(node.name, node.port);
  r.backMs = Math.round(performance.now() - t);
  r.backUs = nowUs();
  results.restarts.push(r);
  log(`${node.name}: exited ${JSON.stringify(r.exit)} ${r.exitMs} ms after SIGTERM, listening again after ${r.backMs} ms`);
  return fresh;
}

async function chatting(nodes) {
  let n = 0;
  for (const node of nodes) {
    try {
      const text = await (await fetch(`http://127.0.0.1:${node.port}/metrics`)).text();
      n += Number(/^strangers_users\{state="chatting"\} (\d+)/m.exec(text)?.[1] ?? 0);
    } catch {}
  }
  return n;
}

let nodes = [];
let bench;
try {
  nodes = [await startNode('node A', await freePort()), await startNode('node B', await freePort())];
  await sleep(1500); // both nodes heartbeating
  const urls = nodes.flatMap((n) => ['--url', `ws://127.0.0.1:${n.port}/ws`]);
  const file = join(outDir, '.rolling-bench.json');
  const benchArgs = ['chat', '--pairs', String(PAIRS), '--rate', String(RATE), '--cross-pairs', '--resume', ...urls, '--duration', String(DURATION), '--warmup', '3'];
  results.command = `strangers bench ${benchArgs.join(' ')}`;
  bench = runBench(cli, benchArgs, file);
  // Every pair matched (one side on each node) before the clock starts.
  const wait = performance.now();
  while ((await chatting(nodes)) < 2 * PAIRS) {
    if (performance.now() - wait > 30_000) throw new Error('the pairs did not all match within 30 s');
    await sleep(200);
  }
  results.matchedUs = nowUs();
  log(`${2 * PAIRS} clients chatting; restarting node A in ${BEFORE} s`);
  await sleep(BEFORE * 1000);
  nodes[0] = await restart(nodes[0]);
  await sleep(BETWEEN * 1000);
  nodes[1] = await restart(nodes[1]);
  log(`both nodes restarted; the load goes on until the bench's ${DURATION} s are over`);
  const { code, summary, result } = await bench;
  rmSync(file, { force: true });
  log(`\n== strangers bench (exit ${code}) ==\n${summary}`);
  results.exit = code;
  results.result = { ...result, latencyHistogram: undefined };
} finally {
  for (const n of nodes) await n.stop().catch(() => {});
  redis.kill('SIGTERM');
}
results.endedAt = new Date().toISOString();
results.machine.uptimeAtEnd = machine().uptime;

writeFileSync(join(outDir, 'rolling.json'), JSON.stringify(results, null, 2));
const md = renderRolling(results);
writeFileSync(join(outDir, 'rolling.md'), md);
log(`\n${md}\nwrote ${join(outDir, 'rolling.md')} and rolling.json`);
process.exit(results.result.ok ? 0 : 1);
