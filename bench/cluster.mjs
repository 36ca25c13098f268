#!/usr/bin/env node
// `npm run bench:cluster` (issue 6): two Strangers nodes on one Redis. The same chat and flood
// loads run twice: every client on node A (pairs on one node), then clients spread over both
// nodes round-robin (pairs within and across nodes). The nodes' /metrics tell how many chat
// lines crossed nodes. Nodes and Redis are pinned to core 0, the load to core 1.
//
//   node bench/cluster.mjs [--quick] [--out bench/results]
//
// Writes bench/results/cluster[-quick].json and .md.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERVER_CPU, fmt, freePort, machine, pinSelf, ratio, runBench, sleep, startServer } from './lib/common.mjs';

if (pinSelf()) await new Promise(() => {});

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const outDir = args.includes('--out') ? args[args.indexOf('--out') + 1] : 'bench/results';
const cli = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
const log = (s) => console.log(s);

const LOADS = {
  chat: ['chat', '--pairs', quick ? '200' : '1000', '--rate', '10', '--duration', quick ? '6' : '20', '--warmup', quick ? '1' : '5'],
  flood: ['flood', '--pairs', '100', '--window', '16', '--duration', quick ? '5' : '12', '--warmup', quick ? '1' : '3'],
};

/** Sum of a metric's samples in a Prometheus text body (one label set, or all of them). */
function metric(text, name, labels = '') {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}${labels} `) || (labels === '' && line.startsWith(`${name}{`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function scrape(ports) {
  const texts = await Promise.all(ports.map(async (p) => (await fetch(`http://127.0.0.1:${p}/metrics`)).text()));
  const sum = (name, labels) => texts.reduce((n, t) => n + metric(t, name, labels), 0);
  return { local: sum('strangers_messages_total', '{path="local"}'), remote: sum('strangers_messages_total', '{path="remote"}') };
}

const bench = (benchArgs, jsonFile) => runBench(cli, benchArgs, jsonFile);

mkdirSync(outDir, { recursive: true });
const results = { machine: machine(), quick, startedAt: new Date().toISOString(), runs: {} };
log(`cluster bench on ${results.machine.cpu} x ${results.machine.nproc}, Node ${results.machine.node}; ${results.machine.uptime}`);

const redisPort = await freePort();
const redis = spawn('taskset', ['-c', SERVER_CPU, 'redis-server', '--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
await sleep(500);
if (redis.exitCode !== null) throw new Error('redis-server did not start (is it installed?)');

try {
  for (const [load, loadArgs] of Object.entries(LOADS)) {
    results.runs[load] = {};
    for (const layout of ['one node', 'two nodes']) {
      // Fresh nodes for every run, so that no queue or JIT state carries over.
      const ports = [await freePort(), await freePort()];
      const nodes = [];
      for (const port of ports) {
        nodes.push(
          await startServer(`node ${port}`, [cli, 'serve', '--host', '127.0.0.1', '--port', String(port), '--redis', `redis://127.0.0.1:${redisPort}`, '--rate-limit', '0', '--max-per-ip', '0', '--max-connections', '0', '--gate', 'off'], { env: { STRANGERS_SECRET: 'bench-cluster-secret-of-32-characters' } }),
        );
      }
      await sleep(1500); // both nodes heartbeating
      const urls = (layout === 'one node' ? ports.slice(0, 1) : ports).flatMap((p) => ['--url', `ws://127.0.0.1:${p}/ws`]);
      const before = await scrape(ports);
      const file = join(outDir, `.cluster-${load}-${layout.replace(' ', '-')}.json`);
      // Each client has a partner chosen in advance (--cross-pairs): on one node, or across two.
      const { code, summary, result } = await bench([...loadArgs, '--cross-pairs', ...urls, '--server-pid', nodes.map((n) => n.pid).join(',')], file);
      const after = await scrape(ports);
      for (const n of nodes) await n.stop();
      const local = after.local - before.local;
      const remote = after.remote - before.remote;
      log(`\n== ${load}, ${layout} (exit ${code}); chat lines local ${local}, across nodes ${remote} ==\n${summary}`);
      results.runs[load][layout] = { exit: code, local, remote, result: { ...result, latencyHistogram: undefined } };
    }
  }
} finally {
  redis.kill('SIGTERM');
}
results.endedAt = new Date().toISOString();
results.machine.uptimeAtEnd = machine().uptime;

const rows = [];
for (const [load, runs] of Object.entries(results.runs)) {
  const a = runs['one node']?.result;
  const b = runs['two nodes']?.result;
  if (!a || !b) continue;
  const share = (r) => (r.local + r.remote > 0 ? (100 * r.remote) / (r.local + r.remote) : 0);
  const add = (metricName, x, y) => rows.push(`| ${load} | ${metricName} | ${fmt(x)} | ${fmt(y)} | ${fmt(ratio(y, x))}x |`);
  add('chat lines across nodes (%)', share(runs['one node']), share(runs['two nodes']));
  add('msgs/s delivered', a.messages.perSec, b.messages.perSec);
  add('latency p50 (ms)', a.latencyMs.p50, b.latencyMs.p50);
  add('latency p99 (ms)', a.latencyMs.p99, b.latencyMs.p99);
  add('servers CPU (% of a core, both nodes)', a.server?.cpuPercent, b.server?.cpuPercent);
  add('msgs per server CPU-second', a.server?.messagesPerCpuSecond, b.server?.messagesPerCpuSecond);
  add('lost + misdelivered', a.messages.lost + a.messages.misdelivered, b.messages.lost + b.messages.misdelivered);
  const busiest = (r) => Math.max(0, ...(r.generator?.workerCpuPercent ?? []));
  add('load generator CPU, busiest worker (%)', busiest(a), busiest(b));
}
const md = [
  `Machine: ${results.machine.cpu} x ${results.machine.nproc}, Node ${results.machine.node}`,
  `Start: ${results.machine.uptime}`,
  `End: ${results.machine.uptimeAtEnd}`,
  '',
  '| load | metric | pairs on one node | spread over two nodes | ratio |',
  '| --- | --- | --- | --- | --- |',
  ...rows,
  '',
].join('\n');
const base = join(outDir, quick ? 'cluster-quick' : 'cluster');
writeFileSync(`${base}.json`, JSON.stringify(results, null, 2));
writeFileSync(`${base}.md`, md);
log(`\n${md}\nwrote ${base}.md and ${base}.json`);
