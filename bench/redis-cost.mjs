#!/usr/bin/env node
// `npm run bench:redis-cost` (issue 13, the capacity model): what each user costs Redis, and
// where the matching queue saturates. Every figure is a delta of Redis's own counters
// (`INFO commandstats`, `INFO cpu`: used_cpu_user + used_cpu_sys) over a measured window.
//
//   users   two `strangers serve --redis` nodes and one redis-server on core 0, `strangers bench`
//           on core 1: no users (the nodes' own cost), idle users, chatting users (every line
//           crosses nodes: the worst case), churning users, then a mix of the three whose Redis
//           CPU is predicted from the per-event costs before it is measured (the model's check).
//   queue   redis-server alone on core 0; queue drivers (bench/lib/queue-driver.mjs, engines
//           calling pairOrEnqueue without WebSocket nodes) on core 1: matches per Redis
//           CPU-second, i.e. where one Redis (one core) stops taking more matches.
//   shards  the same drivers on a Redis Cluster of three masters (core 0), first with one queue,
//           then with three queues partitioned over the three shards (e.g. by language): how the
//           queue's work spreads.
//
//   node bench/redis-cost.mjs [--quick] [--only users,queue,shards] [--out bench/results]
//
// Writes bench/results/redis-cost[-quick].json and .md. Bounded: about 4 minutes (--quick: 1).
// Run it under the machine's benchmark lock: flock /work/bench.lock npm run bench:redis-cost
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { SERVER_CPU, fmt, freePort, machine, pinSelf, sleep, startServer } from './lib/common.mjs';

if (pinSelf()) await new Promise(() => {});

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const outDir = args.includes('--out') ? args[args.indexOf('--out') + 1] : 'bench/results';
const only = args.includes('--only') ? args[args.indexOf('--only') + 1].split(',') : ['users', 'queue', 'shards'];
const cli = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
const driver = fileURLToPath(new URL('./lib/queue-driver.mjs', import.meta.url));
const log = (s) => console.log(s);
const SECRET = 'bench-redis-cost-secret-of-32-characters';

/** Commands a client sends; everything else in commandstats was called from inside a script. */
const CLIENT_COMMANDS = new Set(['evalsha', 'eval', 'publish', 'spublish', 'subscribe', 'ssubscribe', 'info', 'client', 'hello', 'ping', 'quit', 'cluster', 'select', 'auth', 'flushall', 'command', 'readonly']);

// ---- Redis counters ----

async function redisCounters(r) {
  const stats = String(await r.info('commandstats'));
  const cpu = String(await r.info('cpu'));
  const calls = {};
  const usec = {};
  for (const m of stats.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    calls[m[1]] = Number(m[2]);
    usec[m[1]] = Number(m[3]);
  }
  const num = (name) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(cpu)?.[1] ?? 0);
  return { calls, usec, cpu: num('used_cpu_user') + num('used_cpu_sys'), at: Date.now() };
}

function diff(a, b) {
  const calls = {};
  const usec = {};
  for (const k of new Set([...Object.keys(a.calls), ...Object.keys(b.calls)])) {
    const d = (b.calls[k] ?? 0) - (a.calls[k] ?? 0);
    if (d > 0) {
      calls[k] = d;
      usec[k] = (b.usec[k] ?? 0) - (a.usec[k] ?? 0);
    }
  }
  let sent = 0;
  let inScripts = 0;
  for (const [k, n] of Object.entries(calls)) {
    if (k === 'info' || k === 'flushall') continue; // this script's own
    if (CLIENT_COMMANDS.has(k)) sent += n;
    else inScripts += n;
  }
  return { seconds: (b.at - a.at) / 1000, cpu: b.cpu - a.cpu, calls, usec, sent, inScripts };
}

/** Sums of several deltas (the masters of a cluster). */
function sumDiffs(ds) {
  const calls = {};
  for (const d of ds) for (const [k, n] of Object.entries(d.calls)) calls[k] = (calls[k] ?? 0) + n;
  return { seconds: ds[0].seconds, cpu: ds.reduce((s, d) => s + d.cpu, 0), calls, sent: ds.reduce((s, d) => s + d.sent, 0), inScripts: ds.reduce((s, d) => s + d.inScripts, 0) };
}

// ---- nodes ----

function metric(text, name, labels = '') {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}${labels} `) || (labels === '' && line.startsWith(`${name}{`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function nodeCounters(ports) {
  const texts = await Promise.all(ports.map(async (p) => (await fetch(`http://127.0.0.1:${p}/metrics`)).text()));
  const sum = (name, labels) => texts.reduce((n, t) => n + metric(t, name, labels), 0);
  return { matches: sum('strangers_matched_total') / 2, local: sum('strangers_messages_total', '{path="local"}'), remote: sum('strangers_messages_total', '{path="remote"}') };
}

async function online(port) {
  return Number((await (await fetch(`http://127.0.0.1:${port}/stats`)).json()).online);
}

function startBench(benchArgs) {
  const child = spawn(process.execPath, [cli, 'bench', ...benchArgs, '--quiet'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const done = new Promise((resolve) => child.on('exit', (code) => resolve({ code, out })));
  return { done, kill: () => child.kill('SIGINT') };
}

/**
 * One users scenario on fresh nodes and a flushed Redis: the loads run together, the window
 * starts once `users` are connected (plus a settle time) and lasts `window` seconds.
 */
async function usersScenario(redis, redisPort, key, name, users, loads, window) {
  await redis.flushall();
  const ports = [await freePort(), await freePort()];
  const nodes = [];
  for (const port of ports) {
    nodes.push(
      await startServer(`node ${port}`, [cli, 'serve', '--host', '127.0.0.1', '--port', String(port), '--redis', `redis://127.0.0.1:${redisPort}`, '--rate-limit', '0', '--max-per-ip', '0', '--max-connections', '0', '--gate', 'off'], { env: { STRANGERS_SECRET: SECRET } }),
    );
  }
  await sleep(1500); // both nodes heartbeating
  const urls = ports.flatMap((p) => ['--url', `ws://127.0.0.1:${p}/ws`]);
  const benches = loads.map((l) => startBench([...l, ...urls, '--duration', String(window + 30)]));
  const deadline = Date.now() + 60_000;
  while ((await online(ports[0])) < users) {
    if (Date.now() > deadline) throw new Error(`${name}: ${await online(ports[0])} of ${users} users connected after 60 s`);
    await sleep(200);
  }
  await sleep(3000); // settle: initial matching done, rates steady
  const a = await redisCounters(redis);
  const na = await nodeCounters(ports);
  await sleep(window * 1000);
  const b = await redisCounters(redis);
  const nb = await nodeCounters(ports);
  for (const x of benches) x.kill();
  const outs = await Promise.all(benches.map((x) => x.done));
  for (const n of nodes) await n.stop();
  const d = diff(a, b);
  const events = { matches: nb.matches - na.matches, remote: nb.remote - na.remote, local: nb.local - na.local };
  log(`\n== ${name}: ${users} users, ${d.seconds.toFixed(1)} s: Redis CPU ${(100 * d.cpu / d.seconds).toFixed(2)} %, ${d.sent} commands sent (${d.inScripts} more inside scripts); matches ${events.matches}, lines across nodes ${events.remote}, on one node ${events.local}`);
  log(`   ${Object.entries(d.calls).sort((x, y) => y[1] - x[1]).slice(0, 10).map(([k, n]) => `${k} ${n}`).join(', ')}`);
  // The loads are stopped (SIGINT) after the window: their partial reports are not used.
  void outs;
  return { key, name, users, nodes: 2, ...d, events };
}

// ---- queue drivers ----

function runDrivers(cfg, processes) {
  return Promise.all(
    Array.from({ length: processes }, () =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [driver, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.on('exit', (code) => {
          try {
            resolve(JSON.parse(out.trim().split('\n').at(-1)));
          } catch {
            reject(new Error(`queue driver exited ${code}: ${out}`));
          }
        });
      }),
    ),
  );
}

/** Runs the drivers from `startAt` for `seconds`, reading the counters of `conns` at both ends. */
async function queueRun(name, conns, cfg, processes) {
  const startAt = Date.now() + 4000; // engines connect first
  const run = runDrivers({ ...cfg, startAt }, processes);
  await sleep(startAt - Date.now());
  const a = await Promise.all(conns.map(redisCounters));
  await sleep(cfg.seconds * 1000);
  const b = await Promise.all(conns.map(redisCounters));
  const res = await run;
  const per = conns.map((_, i) => diff(a[i], b[i]));
  const d = sumDiffs(per);
  const calls = res.reduce((s, r) => s + r.calls, 0);
  const matches = res.reduce((s, r) => s + r.matches, 0);
  const errors = res.reduce((s, r) => s + r.errors, 0);
  const out = {
    name,
    seconds: d.seconds,
    calls,
    matches,
    errors,
    matchesPerSec: matches / d.seconds,
    redisCpuPercent: (100 * d.cpu) / d.seconds,
    perShardCpuPercent: per.map((x) => (100 * x.cpu) / x.seconds),
    matchesPerRedisCpuSecond: d.cpu > 0 ? matches / d.cpu : null,
    redisCpuUsPerMatch: matches > 0 ? (1e6 * d.cpu) / matches : null,
    scriptUsPerCall: d.calls.evalsha ? (per.reduce((s, x) => s + (x.usec.evalsha ?? 0), 0) / d.calls.evalsha) : null,
    commands: d.calls,
  };
  log(`\n== ${name}: ${fmt(out.matchesPerSec)} matches/s (${calls} pairOrEnqueue, ${errors} errors), Redis CPU ${out.perShardCpuPercent.map((p) => `${fmt(p)} %`).join(' + ')}; ${fmt(out.matchesPerRedisCpuSecond)} matches per Redis CPU-second; ${fmt(out.scriptUsPerCall)} µs inside the pairing script per call`);
  return out;
}

/** redis-benchmark PUBLISH: commands per second and Redis CPU per command, at saturation. */
async function publishRun(redis, port, n) {
  const a = await redisCounters(redis);
  const out = await new Promise((resolve, reject) => {
    const child = spawn('redis-benchmark', ['-p', String(port), '-c', '50', '-n', String(n), '-q', 'publish', 'strangers:relay:{bench}', 'x'.repeat(200)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`redis-benchmark exited ${code}: ${text}`))));
    child.on('error', reject);
  });
  const b = await redisCounters(redis);
  const d = diff(a, b);
  const perSec = Number(/([\d.]+) requests per second/.exec(out.split('\r').at(-1) ?? out)?.[1] ?? /([\d.]+) requests per second/.exec(out)?.[1]);
  const r = { publishes: d.calls.publish ?? 0, perSec, redisCpuPercent: (100 * d.cpu) / d.seconds, redisCpuUsPerPublish: d.calls.publish ? (1e6 * d.cpu) / d.calls.publish : null };
  log(`\n== relay: ${fmt(r.perSec)} PUBLISH/s of 200 bytes (redis-benchmark, 50 connections), Redis CPU ${fmt(r.redisCpuPercent)} %, ${fmt(r.redisCpuUsPerPublish)} µs of Redis CPU per PUBLISH`);
  return r;
}

/** The heartbeat script with `nodes` live entries in the liveness and presence hashes: Redis CPU per run. */
async function heartbeatRun(redis, nodes, runs) {
  const { heartbeatScript } = await import(fileURLToPath(new URL('../dist/src/engine/redis-scripts.js', import.meta.url)));
  const P = '{strangers}';
  const far = String(Date.now() + 3_600_000);
  for (let i = 0; i < nodes; i++) {
    await redis.hset(`${P}:nodes`, `node-${i}`, far);
    await redis.hset(`${P}:presence`, `node-${i}`, '100,5,80');
  }
  await redis.script('LOAD', heartbeatScript.lua);
  const a = await redisCounters(redis);
  for (let i = 0; i < runs; i += 20) {
    await Promise.all(Array.from({ length: 20 }, (_, j) => redis.evalsha(heartbeatScript.sha, 2, `${P}:nodes`, `${P}:presence`, P, `node-${(i + j) % nodes}`, '3000', '100,5,80', '30000')));
  }
  const d = diff(a, await redisCounters(redis));
  const r = { nodes, runs: d.calls.evalsha ?? 0, redisCpuUsPerHeartbeat: (1e6 * d.cpu) / Math.max(1, d.calls.evalsha ?? 0) };
  log(`\n== heartbeat with ${nodes} nodes: ${fmt(r.redisCpuUsPerHeartbeat)} µs of Redis CPU each (${r.runs} runs)`);
  await redis.flushall();
  return r;
}

function pin(pid) {
  return new Promise((resolve) => spawn('taskset', ['-pc', SERVER_CPU, String(pid)], { stdio: 'ignore' }).on('exit', resolve));
}

// ---- run ----

mkdirSync(outDir, { recursive: true });
const base = join(outDir, quick ? 'redis-cost-quick' : 'redis-cost');
const results = { machine: machine(), quick, startedAt: new Date().toISOString(), users: [], queue: [], shards: [] };
// --only: the sections not run now keep their figures from the last run (named in `sections`).
let earlier;
try {
  earlier = JSON.parse(readFileSync(`${base}.json`, 'utf8'));
} catch {}
results.sections = Object.fromEntries(['users', 'queue', 'shards'].map((k) => [k, only.includes(k) ? results.startedAt : (earlier?.sections?.[k] ?? earlier?.startedAt ?? null)]));
log(`redis-cost bench on ${results.machine.cpu} x ${results.machine.nproc}, Node ${results.machine.node}; ${results.machine.uptime}`);

const W = quick ? 6 : 15; // measured window, seconds
if (only.includes('users') || only.includes('queue')) {
  const redisPort = await freePort();
  const proc = spawn('taskset', ['-c', SERVER_CPU, 'redis-server', '--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await sleep(500);
  if (proc.exitCode !== null) throw new Error('redis-server did not start (is it installed?)');
  const redis = new Redis({ port: redisPort, lazyConnect: true });
  await redis.connect();
  try {
    if (only.includes('users')) {
      // Churners skip each other (each new partner avoided for an hour, up to 200): a population
      // much larger than what one churner meets in the window keeps avoid lists sparse, as with
      // real users; a small one would measure pairings that scan past avoided waiters.
      const n = quick ? { idle: 400, pairs: 100, churn: 400 } : { idle: 2000, pairs: 500, churn: 1000 };
      // Redis's own cost when nobody uses it (its timers), then the two nodes' (heartbeats).
      const alone0 = await redisCounters(redis);
      await sleep(W * 1000);
      results.redisAlone = diff(alone0, await redisCounters(redis));
      log(`\n== Redis alone: ${fmt((100 * results.redisAlone.cpu) / results.redisAlone.seconds)} % of a core`);
      results.users.push(await usersScenario(redis, redisPort, 'none', 'no users (the two nodes alone)', 0, [], W));
      results.users.push(await usersScenario(redis, redisPort, 'idle', 'idle', n.idle, [['idle', '--connections', String(n.idle)]], W));
      results.users.push(await usersScenario(redis, redisPort, 'chat', 'chatting, 1 msg/s, every pair across the nodes', 2 * n.pairs, [['chat', '--pairs', String(n.pairs), '--rate', '1', '--cross-pairs']], W));
      results.users.push(await usersScenario(redis, redisPort, 'churn', 'churning (find, 2 lines each, next)', n.churn, [['churn', '--connections', String(n.churn), '--per-match', '2']], W));
      // The model's check: a mix, predicted from the costs above, then measured.
      const m = quick ? { idle: 200, pairs: 50, churn: 400 } : { idle: 1000, pairs: 200, churn: 1000 };
      results.users.push(
        await usersScenario(redis, redisPort, 'mix', 'mix (idle + chatting + churning at once)', m.idle + 2 * m.pairs + m.churn, [
          ['idle', '--connections', String(m.idle)],
          ['chat', '--pairs', String(m.pairs), '--rate', '1', '--cross-pairs'],
          ['churn', '--connections', String(m.churn), '--per-match', '2'],
        ], W),
      );
    }
    if (only.includes('queue')) {
      await redis.flushall();
      const base = { target: `redis://127.0.0.1:${redisPort}`, prefixes: ['{strangers}'], engines: 4, loops: 32, seconds: quick ? 4 : 10, tags: 30 };
      results.queue.push(await queueRun('queue, no interests', [redis], { ...base, interests: 0 }, 2));
      await redis.flushall();
      results.queue.push(await queueRun('queue, 3 interests of 30 each', [redis], { ...base, interests: 3 }, 2));
      // Relay's wall: PUBLISH of a 200-byte line, 50 connections, redis-benchmark on core 1.
      results.relay = await publishRun(redis, redisPort, quick ? 100_000 : 400_000);
      // Liveness: every node's heartbeat reads every node's entries. Its cost with 10 and 1,000 nodes.
      await redis.flushall();
      results.heartbeat = [await heartbeatRun(redis, 10, quick ? 2000 : 5000), await heartbeatRun(redis, 1000, quick ? 500 : 1000)];
    }
  } finally {
    redis.disconnect();
    proc.kill('SIGTERM');
  }
}

if (only.includes('shards')) {
  const { RedisCluster } = await import(fileURLToPath(new URL('../dist/test/contract/redis-cluster-server.js', import.meta.url)));
  const cluster = await RedisCluster.start({ masters: 3 });
  try {
    for (const n of cluster.nodes) await pin(n.pid);
    const conns = cluster.nodes.map((n) => cluster.admin(n.port));
    for (const c of conns) await c.connect();
    // Three namespaces whose queues live on three different masters (one per shard).
    const names = [];
    const owners = new Set();
    for (let i = 0; names.length < 3 && i < 200; i++) {
      const owner = (await cluster.masterOf(`{bucket${i}:q}:w`)).port;
      if (!owners.has(owner)) {
        owners.add(owner);
        names.push(`{bucket${i}}`);
      }
    }
    const base = { target: { cluster: cluster.seeds }, engines: 3, loops: 32, seconds: quick ? 4 : 10, tags: 30, interests: 0 };
    results.shards.push(await queueRun('cluster, one queue', conns, { ...base, prefixes: [names[0]] }, 2));
    results.shards.push(await queueRun('cluster, three queues (one per shard)', conns, { ...base, prefixes: names }, 2));
    for (const c of conns) c.disconnect();
  } finally {
    await cluster.stop();
  }
}

if (earlier !== undefined) {
  if (!only.includes('users')) Object.assign(results, { users: earlier.users ?? [], redisAlone: earlier.redisAlone });
  if (!only.includes('queue')) Object.assign(results, { queue: earlier.queue ?? [], relay: earlier.relay, heartbeat: earlier.heartbeat });
  if (!only.includes('shards')) results.shards = earlier.shards ?? [];
}
results.endedAt = new Date().toISOString();
results.machine.uptimeAtEnd = machine().uptime;

// ---- derived figures and the report ----

const per = {};
const u = Object.fromEntries(results.users.map((s) => [s.key, s]));
const md = [`Machine: ${results.machine.cpu} x ${results.machine.nproc}, Node ${results.machine.node}`, `Start: ${results.machine.uptime}`, `End: ${results.machine.uptimeAtEnd}`, ''];
if (results.users.length > 0) {
  const baseline = u.none;
  const alone = results.redisAlone ?? { cpu: 0, seconds: 1 };
  const nodeCpuPerSec = Math.max(0, baseline.cpu / baseline.seconds - alone.cpu / alone.seconds) / 2;
  const nodeCmdsPerSec = baseline.sent / baseline.seconds / 2;
  const net = (s) => ({ cpu: s.cpu - nodeCpuPerSec * 2 * s.seconds, sent: s.sent - nodeCmdsPerSec * 2 * s.seconds, inScripts: s.inScripts - (baseline.inScripts / baseline.seconds) * s.seconds });
  const idle = net(u.idle);
  const chat = net(u.chat);
  const churn = net(u.churn);
  per.node = { redisCpuUsPerSecond: 1e6 * nodeCpuPerSec, commandsPerSecond: nodeCmdsPerSec, heartbeatScriptUs: (baseline.usec.evalsha ?? 0) / Math.max(1, baseline.calls.evalsha ?? 0), redisAloneCpuPercent: (100 * alone.cpu) / alone.seconds };
  per.idleUserMinute = { redisCpuUs: (1e6 * idle.cpu) / u.idle.users / (u.idle.seconds / 60), commands: idle.sent / u.idle.users / (u.idle.seconds / 60) };
  per.crossNodeMessage = { redisCpuUs: (1e6 * chat.cpu) / u.chat.events.remote, commands: chat.sent / u.chat.events.remote };
  per.chattingUserMinute = { redisCpuUs: (1e6 * chat.cpu) / u.chat.users / (u.chat.seconds / 60), commands: chat.sent / u.chat.users / (u.chat.seconds / 60), messagesPerMinute: u.chat.events.remote / u.chat.users / (u.chat.seconds / 60) };
  per.match = { waitersExaminedPerPairing: (u.churn.calls.hget ?? 0) / Math.max(1, (u.churn.calls.zrange ?? 0)), redisCpuUs: (1e6 * churn.cpu) / u.churn.events.matches, commands: churn.sent / u.churn.events.matches, inScripts: churn.inScripts / u.churn.events.matches, crossNodeMessages: u.churn.events.remote / u.churn.events.matches };
  per.churningUserMinute = { redisCpuUs: (1e6 * churn.cpu) / u.churn.users / (u.churn.seconds / 60), commands: churn.sent / u.churn.users / (u.churn.seconds / 60), matchesPerMinute: u.churn.events.matches / u.churn.users / (u.churn.seconds / 60) };
  // The mix, predicted: nodes + matches x cost per match + lines across nodes beyond those of the matches x cost per line.
  const mix = u.mix;
  const linesBeyond = Math.max(0, mix.events.remote - mix.events.matches * per.match.crossNodeMessages);
  const predictedCpu = nodeCpuPerSec * 2 * mix.seconds + (mix.events.matches * per.match.redisCpuUs + linesBeyond * per.crossNodeMessage.redisCpuUs) / 1e6;
  per.mixCheck = { predictedRedisCpuPercent: (100 * predictedCpu) / mix.seconds, measuredRedisCpuPercent: (100 * mix.cpu) / mix.seconds, ratio: mix.cpu / predictedCpu };
  md.push('### What users cost Redis (one Redis, two nodes)', '', '| load | users | window | Redis CPU | commands sent per s | inside scripts per s | matches | lines across nodes |', '| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const s of results.users) md.push(`| ${s.name} | ${s.users} | ${fmt(s.seconds)} s | ${fmt((100 * s.cpu) / s.seconds)} % | ${fmt(s.sent / s.seconds)} | ${fmt(s.inScripts / s.seconds)} | ${s.events.matches} | ${s.events.remote} |`);
  md.push('', '| unit | Redis CPU | commands sent (round trips) |', '| --- | --- | --- |');
  md.push(`| Redis alone (its own timers), per second | ${fmt(1e4 * per.node.redisAloneCpuPercent)} µs | 0 |`);
  md.push(`| one node, per second (heartbeat: ${fmt(per.node.heartbeatScriptUs)} µs inside the script, 2 nodes) | ${fmt(per.node.redisCpuUsPerSecond)} µs | ${fmt(per.node.commandsPerSecond)} |`);
  md.push(`| idle user, per minute | ${fmt(per.idleUserMinute.redisCpuUs)} µs (noise: the difference of two small figures) | ${fmt(Math.max(0, per.idleUserMinute.commands), 3)} |`);
  md.push(`| chatting user at 1 msg/s, per minute (every line across nodes) | ${fmt(per.chattingUserMinute.redisCpuUs)} µs | ${fmt(per.chattingUserMinute.commands)} |`);
  md.push(`| one line across nodes | ${fmt(per.crossNodeMessage.redisCpuUs)} µs | ${fmt(per.crossNodeMessage.commands, 3)} |`);
  md.push(`| churning user, per minute (${fmt(per.churningUserMinute.matchesPerMinute)} matches) | ${fmt(per.churningUserMinute.redisCpuUs)} µs | ${fmt(per.churningUserMinute.commands)} |`);
  md.push(`| one match (find, 2 lines each, next: all of it) | ${fmt(per.match.redisCpuUs)} µs | ${fmt(per.match.commands)} (+${fmt(per.match.inScripts)} inside scripts) |`);
  md.push('', `Churn: about ${fmt(per.match.waitersExaminedPerPairing)} HGET per ZRANGE inside the scripts (waiters examined per queue scanned: 1 when avoid lists are sparse).`);
  md.push('', `Model check (the mix): predicted ${fmt(per.mixCheck.predictedRedisCpuPercent)} % of Redis's core, measured ${fmt(per.mixCheck.measuredRedisCpuPercent)} % (measured / predicted = ${fmt(per.mixCheck.ratio)}).`, '');
}
if (results.queue.length + results.shards.length > 0) {
  md.push('### The matching queue alone', '', '| run | matches/s | Redis CPU (per shard) | matches per Redis CPU-second | Redis CPU per match | in the pairing script per call |', '| --- | --- | --- | --- | --- | --- |');
  for (const q of [...results.queue, ...results.shards]) {
    md.push(`| ${q.name} | ${fmt(q.matchesPerSec)} | ${q.perShardCpuPercent.map((p) => `${fmt(p)} %`).join(' + ')} | ${fmt(q.matchesPerRedisCpuSecond)} | ${fmt(q.redisCpuUsPerMatch)} µs | ${fmt(q.scriptUsPerCall)} µs |`);
  }
  md.push('');
}
if (results.relay) {
  md.push('### Relay', '', `PUBLISH of a 200-byte line (redis-benchmark, 50 connections, no pipelining): ${fmt(results.relay.perSec)} per second at ${fmt(results.relay.redisCpuPercent)} % of Redis's core, ${fmt(results.relay.redisCpuUsPerPublish)} µs of Redis CPU each.`, '');
}
if (results.heartbeat) {
  md.push('### Liveness', '', ...results.heartbeat.map((h) => `Heartbeat script with ${h.nodes} nodes in the liveness and presence hashes: ${fmt(h.redisCpuUsPerHeartbeat)} µs of Redis CPU per run (${h.runs} runs).`), '');
}
md.push('', `Sections measured: ${Object.entries(results.sections).map(([k, v]) => `${k} ${v}`).join(', ')}.`);
results.per = per;
writeFileSync(`${base}.json`, JSON.stringify(results, null, 2));
writeFileSync(`${base}.md`, md.join('\n'));
log(`\n${md.join('\n')}\nwrote ${base}.md and ${base}.json`);
