#!/usr/bin/env node
// `npm run bench:100k` (issue 13): 100,000 concurrent WebSocket users on this machine, with 1 %
// more chatting at 1 message per second while the 100,000 idle ones are held. One command starts
// everything (a redis-server, the server, the load), measures, and stops everything:
//
//   node bench/scale.mjs [--users 100000] [--chat-pairs 500] [--mode workers,nodes]
//                        [--workers 6] [--rest 35] [--chat 30] [--connect-phase 300] [--out bench/results]
//
// Modes (each with a fresh redis-server and fresh server processes):
//   workers  `strangers serve --workers 6 --redis URL`: one port, node:cluster spreads the
//            connections over 6 worker processes
//   nodes    6 separate `strangers serve --redis URL` nodes of one cluster, one port each; the
//            load goes to them round-robin (`strangers bench --url A --url B ...`)
// The memory engine cannot be run at this size here: it is one process (`--workers` above 1
// needs the Redis engine), and one process may open 20,000 files.
//
// Phases: admit (`strangers bench idle --connections N`, every connection waits for its welcome)
// -> rest (REST seconds with nothing but heartbeats: CPU of the server processes and Redis, RSS)
// -> chat (`strangers bench chat --pairs P --rate 1` on top of the idle users: latency p50/p99)
// -> the idle bench ends its hold and checks that every connection was still open.
// Nothing is pinned: the server, Redis and the load share both cores, as on a real two-core box.
// Writes bench/results/scale.{json,md}.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, freePort, machine, runBench, sleep } from './lib/common.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const users = Number(opt('--users', '100000'));
const chatPairs = Number(opt('--chat-pairs', String(Math.round(users / 200))));
const modes = opt('--mode', 'workers,nodes').split(',');
const workers = Number(opt('--workers', '6'));
const restSeconds = Number(opt('--rest', '35'));
const chatSeconds = Number(opt('--chat', '30'));
const outDir = opt('--out', 'bench/results');
// The bench's longest connect phase (s): on a machine shared with other work, admission slows.
const connectPhase = Number(opt('--connect-phase', '300'));
const cli = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
const log = (s) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
// What `npm start` and the bin's shebang give Node.
const NODE_FLAGS = ['--max-semi-space-size=2'];

mkdirSync(outDir, { recursive: true });
const results = { machine: machine(), settings: { users, chatPairs, workers, restSeconds, chatSeconds, nodeFlags: NODE_FLAGS }, kernel: kernelSettings(), startedAt: new Date().toISOString(), runs: {} };
log(`scale bench: ${users} idle users + ${chatPairs * 2} chatting, modes ${modes.join(', ')}; ${results.machine.uptime}`);
log(`kernel: ${JSON.stringify(results.kernel)}`);

const children = new Set();
const stopAll = () => {
  // The cluster's workers first: a primary killed outright leaves them running.
  for (const c of children) if (c.exitCode === null) for (const pid of childPids(c.pid)) try { process.kill(pid, 'SIGKILL'); } catch {}
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
};
process.on('SIGINT', () => {
  stopAll();
  process.exit(130);
});

for (const mode of modes) {
  try {
    results.runs[mode] = await runMode(mode);
  } catch (error) {
    log(`${mode}: ${error.stack ?? error}`);
    results.runs[mode] = { error: String(error) };
  } finally {
    stopAll();
    await sleep(2000);
  }
}
results.endedAt = new Date().toISOString();
results.machine.uptimeAtEnd = machine().uptime;
writeFileSync(join(outDir, 'scale.json'), JSON.stringify(results, null, 2) + '\n');
const md = render(results);
writeFileSync(join(outDir, 'scale.md'), md);
console.log('\n' + md);
process.exit(Object.values(results.runs).every((r) => r.ok) ? 0 : 1);

async function runMode(mode) {
  const redisPort = await freePort();
  const redis = track(spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' }));
  await sleep(500);
  if (redis.exitCode !== null) throw new Error('redis-server did not start (is it installed?)');
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  const common = ['--host', '127.0.0.1', '--redis', redisUrl, '--rate-limit', '0', '--max-per-ip', '0', '--max-connections', '0', '--gate', 'off', '--log-level', 'warn'];
  const env = { ...process.env, NODE_ENV: 'production', STRANGERS_SECRET: 'bench-scale-secret-of-at-least-32-characters' };
  const ports = [];
  const roots = [];
  const output = [];
  const serve = (extra) => {
    const port = extra[extra.indexOf('--port') + 1];
    const child = track(spawn(process.execPath, [...NODE_FLAGS, cli, 'serve', ...common, ...extra], { stdio: ['ignore', 'pipe', 'pipe'], env }));
    child.stdout.on('data', (d) => output.push(`${port}: ${d}`));
    child.stderr.on('data', (d) => output.push(`${port}: ${d}`));
    roots.push(child);
    ports.push(Number(port));
  };
  if (mode === 'workers') serve(['--port', String(await freePort()), '--workers', String(workers)]);
  else for (let i = 0; i < workers; i++) serve(['--port', String(await freePort())]);
  for (const port of ports) await waitHealthy(port, 30000);
  // Every worker listening (the primary answers /healthz only through a worker, so wait for all).
  let pids = [];
  for (let i = 0; i < 100; i++) {
    pids = roots.flatMap((c) => [c.pid, ...childPids(c.pid)]);
    if (mode !== 'workers' || pids.length >= workers + 1) break;
    await sleep(200);
  }
  await sleep(2000);
  const urls = ports.map((p) => `ws://127.0.0.1:${p}/ws`);
  const urlArgs = urls.flatMap((u) => ['--url', u]);
  const base = groupSample(pids);
  const redisBase = sample(redis.pid);
  const netBefore = tcpCounters();
  log(`${mode}: ${pids.length} server processes (${pids.join(',')}), redis ${redisPort}; server RSS ${(base.rss / 1048576).toFixed(0)} MiB`);

  // ---- admit ----
  const holdSeconds = restSeconds + chatSeconds + 25;
  const idleFile = join(outDir, `.scale-${mode}-idle.json`);
  const t0 = performance.now();
  const idle = runBench(cli, ['idle', '--connections', String(users), '--duration', String(holdSeconds), '--connect-timeout', '30000', '--connect-phase', String(connectPhase), ...urlArgs, '--server-pid', pids.join(',')], idleFile);
  let admittedAt = null;
  let peakFds = [];
  const trace = [];
  const idleDone = idle.then((r) => r, (e) => ({ error: e }));
  // Everyone is in when the server processes hold `users` more sockets than at the start (file
  // descriptors in /proc: the same in both modes, and independent of the server's own counts).
  const fdBase = pids.reduce((a, p) => a + (fdCount(p) ?? 0), 0);
  while (admittedAt === null) {
    const settled = await Promise.race([idleDone.then(() => true), sleep(1000).then(() => false)]);
    const held = pids.reduce((a, p) => a + (fdCount(p) ?? 0), 0) - fdBase;
    trace.push({ t: (performance.now() - t0) / 1000, held, listenQueue: listenQueues(ports) });
    // (The primary's own descriptors come and go with the handles it passes: a few of slack.)
    if (held >= users - 50) admittedAt = (performance.now() - t0) / 1000;
    else if (settled) throw new Error(`the idle bench ended before everyone was in (${held} sockets held): ${JSON.stringify((await idleDone).summary ?? (await idleDone).error)}; server log: ${output.join('').slice(0, 2000)}`);
  }
  const netAdmitted = tcpCounters();
  log(`${mode}: ${users} sockets held after ${admittedAt.toFixed(1)} s`);

  // ---- rest: heartbeats only ----
  await sleep(5000);
  peakFds = pids.map((p) => ({ pid: p, fds: fdCount(p) }));
  const restStart = groupSample(pids);
  const redisRestStart = sample(redis.pid);
  const restT0 = performance.now();
  await sleep(restSeconds * 1000);
  const restEnd = groupSample(pids);
  const redisRestEnd = sample(redis.pid);
  const restWall = (performance.now() - restT0) / 1000;
  const statsOnline = await onlineCount(ports);
  const rest = {
    seconds: restWall,
    serverCpuPercent: ((restEnd.cpu - restStart.cpu) / restWall) * 100,
    redisCpuPercent: ((redisRestEnd.cpu - redisRestStart.cpu) / restWall) * 100,
    serverRssBytes: restEnd.rss,
    serverRssPerUserBytes: (restEnd.rss - base.rss) / users,
    redisRssBytes: redisRestEnd.rss,
    redisRssPerUserBytes: (redisRestEnd.rss - redisBase.rss) / users,
    perProcess: restEnd.each,
    statsOnline,
  };
  log(`${mode}: at rest ${rest.serverCpuPercent.toFixed(1)} % CPU (server), ${rest.redisCpuPercent.toFixed(1)} % (redis); RSS ${(rest.serverRssBytes / 1048576).toFixed(0)} MiB, ${(rest.serverRssPerUserBytes / 1024).toFixed(2)} KiB/user`);

  // ---- chat: 1 % more, at 1 msg/s, while the idle ones are held ----
  const chatFile = join(outDir, `.scale-${mode}-chat.json`);
  const chat = await runBench(cli, ['chat', '--pairs', String(chatPairs), '--rate', '1', '--duration', String(chatSeconds), '--warmup', '5', ...urlArgs, '--server-pid', pids.join(',')], chatFile);
  log(`${mode}: chat exit ${chat.code}: p50 ${chat.result.latencyMs.p50} ms, p99 ${chat.result.latencyMs.p99} ms`);

  // ---- the idle bench ends its hold ----
  const idleResult = await idleDone;
  if (idleResult.error) throw idleResult.error;
  const r = idleResult.result;
  const netEnd = tcpCounters();
  const all = await onlineCount(ports);
  for (const c of roots) c.kill('SIGTERM');
  await Promise.all(roots.map((c) => (c.exitCode === null ? new Promise((res) => c.once('exit', res)) : undefined)));
  redis.kill('SIGTERM');
  const failures = Object.values(r.connect.failures).reduce((a, b) => a + b, 0);
  const unexpected = Object.values(r.unexpectedCloses ?? {}).reduce((a, b) => a + b, 0);
  const ok = idleResult.code === 0 && chat.code === 0 && r.connect.connected === users && failures === 0 && unexpected === 0;
  return {
    ok,
    mode,
    pids,
    ports,
    admit: { seconds: admittedAt, benchConnectSeconds: r.connect.seconds, perSec: r.connect.perSec, connectLatencyMs: r.connect.latencyMs, connected: r.connect.connected, failures: r.connect.failures, trace },
    held: { unexpectedCloses: r.unexpectedCloses, exit: idleResult.code, onlineAfterChat: all, summary: idleResult.summary },
    peakFds,
    rest,
    chat: { exit: chat.code, pairs: chatPairs, latencyMs: chat.result.latencyMs, messages: chat.result.messages, failures: chat.result.connect.failures, serverCpuPercent: chat.result.server?.cpuPercent ?? null, summary: chat.summary },
    tcp: { admit: diff(netAdmitted, netBefore), whole: diff(netEnd, netBefore) },
    serverLog: output.join('').split('\n').filter(Boolean).slice(0, 20),
  };
}

function render(res) {
  const lines = [
    `Machine: ${res.machine.cpu} x ${res.machine.nproc}, Node ${res.machine.node}; server flags ${NODE_FLAGS.join(' ')}; nothing pinned`,
    `Kernel: ${Object.entries(res.kernel).map(([k, v]) => `${k}=${v}`).join(', ')}`,
    `Start: ${res.machine.uptime}`,
    `End: ${res.machine.uptimeAtEnd}`,
    '',
    `${fmt(res.settings.users, 0)} idle users held (\`strangers bench idle --connections ${res.settings.users}\`) + ${res.settings.chatPairs * 2} chatting at 1 msg/s (\`strangers bench chat --pairs ${res.settings.chatPairs} --rate 1\`); rest window ${res.settings.restSeconds} s`,
    '',
    '| | ' + Object.keys(res.runs).map((m) => (m === 'workers' ? `\`serve --workers ${res.settings.workers} --redis\`` : `${res.settings.workers} nodes \`serve --redis\``)).join(' | ') + ' |',
    '| --- |' + Object.keys(res.runs).map(() => ' --- |').join(''),
  ];
  const runs = Object.values(res.runs);
  const row = (label, f) => lines.push(`| ${label} | ${runs.map((r) => (r.error ? 'error' : f(r))).join(' | ')} |`);
  row('idle users connected / wanted', (r) => `${r.admit.connected} / ${res.settings.users}`);
  row('connection failures', (r) => `${Object.values(r.admit.failures).reduce((a, b) => a + b, 0)} ${JSON.stringify(r.admit.failures)}`);
  row('time to admit all: every one welcomed (s)', (r) => fmt(r.admit.benchConnectSeconds, 1));
  row('connections/s (mean)', (r) => fmt(r.admit.perSec, 0));
  row('handshake + welcome p50 / p99 (ms)', (r) => `${fmt(r.admit.connectLatencyMs.p50)} / ${fmt(r.admit.connectLatencyMs.p99)}`);
  row('server RSS, all processes (MiB)', (r) => fmt(r.rest.serverRssBytes / 1048576, 0));
  row('server RSS per user (KiB)', (r) => fmt(r.rest.serverRssPerUserBytes / 1024));
  row('Redis RSS per user (KiB)', (r) => fmt(r.rest.redisRssPerUserBytes / 1024));
  row('CPU at rest, server (% of a core)', (r) => fmt(r.rest.serverCpuPercent, 1));
  row('CPU at rest, Redis (% of a core)', (r) => fmt(r.rest.redisCpuPercent, 1));
  row('chat 1 %: latency p50 / p99 (ms)', (r) => `${fmt(r.chat.latencyMs.p50)} / ${fmt(r.chat.latencyMs.p99)}`);
  row('chat 1 %: msgs delivered, lost + misdelivered', (r) => `${r.chat.messages.delivered ?? r.chat.messages.received ?? '-'}, ${r.chat.messages.lost + r.chat.messages.misdelivered}`);
  row('idle users closed unexpectedly', (r) => JSON.stringify(r.held.unexpectedCloses ?? {}));
  row('users online per GET /stats at rest', (r) => String(r.rest.statsOnline));
  row('sockets per server process at the peak', (r) => r.peakFds.map((p) => p.fds).join(', '));
  row('listen overflows / SYN drops (kernel, admit phase)', (r) => `${r.tcp.admit.ListenOverflows ?? 0} / ${r.tcp.admit.ListenDrops ?? 0}`);
  row('result', (r) => (r.ok ? 'ok' : '**failed**'));
  return lines.join('\n') + '\n';
}

function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

async function waitHealthy(port, timeoutMs) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return;
    } catch {}
    await sleep(200);
  }
  throw new Error(`server on ${port} not healthy after ${timeoutMs} ms`);
}

/** Users online: /stats of every node counts the whole cluster; the largest answer wins (or why there was none). */
async function onlineCount(ports) {
  let best = 0;
  const errors = [];
  for (const p of ports) {
    try {
      const r = await (await fetch(`http://127.0.0.1:${p}/stats`, { signal: AbortSignal.timeout(5000) })).json();
      best = Math.max(best, r.online ?? 0);
    } catch (error) {
      errors.push(`${p}: ${error?.cause?.code ?? error?.name ?? error}`);
    }
  }
  return errors.length === ports.length ? `none answered (${errors.join('; ')})` : best;
}

function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number).flatMap((p) => [p, ...childPids(p)]);
  } catch {
    return [];
  }
}

function sample(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const rss = Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))?.[1] ?? 0) * 1024;
    return { cpu: (Number(f[11]) + Number(f[12])) / 100, rss };
  } catch {
    return { cpu: 0, rss: 0 };
  }
}

function groupSample(pids) {
  const each = pids.map((pid) => ({ pid, ...sample(pid) }));
  return { cpu: each.reduce((a, s) => a + s.cpu, 0), rss: each.reduce((a, s) => a + s.rss, 0), each };
}

function fdCount(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}

/** Bytes waiting in each listening socket's accept queue (ss's Recv-Q), from /proc/net/tcp. */
function listenQueues(ports) {
  const out = {};
  try {
    for (const line of readFileSync('/proc/net/tcp', 'latin1').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] !== '0A') continue; // LISTEN
      const port = parseInt(f[1].split(':')[1], 16);
      if (ports.includes(port)) out[port] = parseInt(f[4].split(':')[1], 16);
    }
  } catch {}
  return out;
}

/** TcpExt counters about listen queues and SYNs (machine-wide). */
function tcpCounters() {
  const out = {};
  try {
    const lines = readFileSync('/proc/net/netstat', 'latin1').split('\n');
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const names = lines[i].split(/\s+/);
      const values = lines[i + 1].split(/\s+/);
      if (names[0] !== 'TcpExt:') continue;
      names.forEach((n, k) => {
        if (/^(ListenOverflows|ListenDrops|TCPReqQFullDrop|TCPReqQFullDoCookies|SyncookiesSent|TCPTimeouts|TCPBacklogDrop)$/.test(n)) out[n] = Number(values[k]);
      });
    }
  } catch {}
  return out;
}

function diff(a, b) {
  return Object.fromEntries(Object.keys(a).map((k) => [k, a[k] - (b[k] ?? 0)]));
}

function kernelSettings() {
  const read = (p) => {
    try {
      return readFileSync(p, 'utf8').trim().replace(/\s+/g, '-');
    } catch {
      return '?';
    }
  };
  return {
    somaxconn: read('/proc/sys/net/core/somaxconn'),
    tcp_max_syn_backlog: read('/proc/sys/net/ipv4/tcp_max_syn_backlog'),
    tcp_syncookies: read('/proc/sys/net/ipv4/tcp_syncookies'),
    ip_local_port_range: read('/proc/sys/net/ipv4/ip_local_port_range'),
    nofile: (() => {
      try {
        return /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? '?';
      } catch {
        return '?';
      }
    })(),
  };
}
