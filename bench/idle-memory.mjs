#!/usr/bin/env node
// `npm run bench:idle` (issue 13): RSS per idle user of the chat server against a bare node:net
// socket, at 10,000 and 19,000 users, read a few seconds after the last connect AND after a
// longer hold, repeated, all in one run. Servers are pinned to core 0, clients to core 1.
//
//   node bench/idle-memory.mjs [--runs 3] [--counts 10000,19000] [--hold 30]
//                              [--servers strangers,npm-start,binary,net] [--out bench/results]
//                              [--before DIR]   (also `before`: the server built in DIR, e.g. a
//                                                 checkout or a copy of its dist/, as run.mjs)
//
// Servers (each started fresh for every measurement):
//   strangers  node dist/src/cli/main.js serve ...   (the memory engine; no node flags)
//   npm-start  node --max-semi-space-size=2 dist/src/cli/main.js serve ...   (what `npm start` runs)
//   v8-growth  node --semi-space-growth-factor=2 dist/src/cli/main.js serve ...   (as before
//              src/cli/heap.ts: V8 grows the young generation as it likes)
//   binary     dist/bin/strangers serve ...   (the single executable: npm run build:binary)
//   net        node bench/lib/net-server.mjs   (a bare node:net server: accepts, reads, nothing else)
// Every server gets NODE_OPTIONS="--expose-gc --require bench/lib/gc-preload.cjs" (the same for
// all, the binary included) so that the baseline can be read after a full GC. The readings with
// users connected are NOT after a forced GC: they are what the process holds by itself, 3 s after
// the last connect and HOLD seconds later; a third reading after a forced GC is given beside.
// RSS per user = (RSS with N users - RSS at the baseline) / N.
// Writes bench/results/idle-memory.{json,md}.
import { fork, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { SERVER_CPU, fmt, freePort, machine, pinSelf, sample, sleep } from './lib/common.mjs';

if (pinSelf()) await new Promise(() => {});

const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const runs = Number(opt('--runs', '3'));
const counts = opt('--counts', '10000,19000').split(',').map(Number);
const holdSeconds = Number(opt('--hold', '30'));
const kinds = opt('--servers', 'strangers,npm-start,binary,net').split(',');
const outDir = opt('--out', 'bench/results');
const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const cli = here('../dist/src/cli/main.js');
const binary = here('../dist/bin/strangers');
const log = (s) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
const serveArgs = (port) => ['serve', '--host', '127.0.0.1', '--port', String(port), '--rate-limit', '0', '--max-per-ip', '0', '--max-connections', '0', '--gate', 'off', '--log-level', 'warn'];

const SERVERS = {
  strangers: (port) => ({ cmd: process.execPath, argv: [cli, ...serveArgs(port)], path: '/ws' }),
  'npm-start': (port) => ({ cmd: process.execPath, argv: ['--max-semi-space-size=2', cli, ...serveArgs(port)], path: '/ws' }),
  // As before src/cli/heap.ts: V8's own young-generation growth (the flag turns heap.ts off).
  'v8-growth': (port) => ({ cmd: process.execPath, argv: ['--semi-space-growth-factor=2', cli, ...serveArgs(port)], path: '/ws' }),
  binary: (port) => ({ cmd: binary, argv: serveArgs(port), path: '/ws' }),
  net: (port) => ({ cmd: process.execPath, argv: [here('./lib/net-server.mjs'), String(port)], path: '/', tcp: true }),
};
if (args.includes('--before')) {
  const dir = opt('--before', '');
  const beforeCli = [resolve(dir, 'dist/src/cli/main.js'), resolve(dir, 'src/cli/main.js')].find((f) => existsSync(f)) ?? resolve(dir, 'src/cli/main.js');
  SERVERS.before = (port) => ({ cmd: process.execPath, argv: [beforeCli, ...serveArgs(port)], path: '/ws' });
  kinds.splice(kinds.indexOf('strangers') + 1, 0, 'before');
}
if (kinds.includes('binary') && !existsSync(binary)) throw new Error(`no ${binary}: run npm run build:binary first`);

mkdirSync(outDir, { recursive: true });
const results = { machine: machine(), settings: { runs, counts, holdSeconds, kinds }, startedAt: new Date().toISOString(), rows: [] };
log(`idle memory: ${kinds.join(', ')} x ${counts.join(', ')} users x ${runs} runs, hold ${holdSeconds} s; ${results.machine.uptime}`);

for (let run = 1; run <= runs; run++) {
  for (const count of counts) {
    for (const kind of kinds) {
      const row = await measure(kind, count);
      row.run = run;
      results.rows.push(row);
      log(`run ${run} ${kind.padEnd(9)} ${count}: open ${row.open} (failed ${row.failed}), RSS/user ${fmt(row.perUser3s / 1024)} KiB at +3 s, ${fmt(row.perUserHold / 1024)} KiB at +${holdSeconds} s, ${fmt(row.perUserGc / 1024)} KiB after GC; heap used ${fmt(row.heapUsedPerUser / 1024)} KiB, committed ${fmt(row.heapTotalPerUser / 1024)} KiB`);
    }
  }
}
results.endedAt = new Date().toISOString();
results.machine.uptimeAtEnd = machine().uptime;
writeFileSync(join(outDir, 'idle-memory.json'), JSON.stringify(results, null, 2) + '\n');
const md = render(results);
writeFileSync(join(outDir, 'idle-memory.md'), md);
console.log('\n' + md);
process.exit(0);

async function measure(kind, count) {
  const port = await freePort();
  const spec = SERVERS[kind](port);
  const memFile = join(tmpdir(), `strangers-idle-mem-${process.pid}-${kind}-${count}.json`);
  const child = spawn('taskset', ['-c', SERVER_CPU, spec.cmd, ...spec.argv], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_ENV: 'production', NODE_OPTIONS: `--expose-gc --require ${here('./lib/gc-preload.cjs')}`, STRANGERS_BENCH_MEMFILE: memFile, STRANGERS_SECRET: 'bench-idle-memory-secret-of-32-characters' },
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const pid = await serverPid(child);
  const gc = async () => {
    process.kill(pid, 'SIGUSR2');
    await sleep(700);
    try {
      return JSON.parse(readFileSync(memFile, 'utf8'));
    } catch {
      return null;
    }
  };
  await waitListening(port, () => out);
  await sleep(1000);
  await gc();
  const baseMem = await gc();
  const base = sample(pid).rss;
  const perProcess = 10000;
  const procs = Math.ceil(count / perProcess);
  const clients = [];
  const t0 = performance.now();
  const opened = await Promise.all(
    Array.from({ length: procs }, (_, i) => {
      const n = Math.floor(count / procs) + (i < count % procs ? 1 : 0);
      const c = fork(here('./lib/idle-client.mjs'), [`ws://127.0.0.1:${port}${spec.path}`, String(n), `127.0.0.${2 + i}`, spec.tcp ? 'tcp' : 'ws'], { stdio: 'inherit' });
      clients.push(c);
      return new Promise((resolve) => c.once('message', resolve));
    }),
  );
  const connectSeconds = (performance.now() - t0) / 1000;
  const open = opened.reduce((a, m) => a + m.open, 0);
  const failed = opened.reduce((a, m) => a + m.failed, 0);
  await sleep(3000);
  const rss3s = sample(pid).rss;
  await sleep(Math.max(0, holdSeconds - 3) * 1000);
  const rssHold = sample(pid).rss;
  const mem = await gc();
  const rssGc = sample(pid).rss;
  for (const c of clients) c.disconnect();
  child.kill('SIGTERM');
  await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
  const per = (rss) => (rss - base) / Math.max(1, open);
  return {
    server: kind,
    connections: count,
    open,
    failed,
    connectPerSec: open / connectSeconds,
    rssBase: base,
    rss3s,
    rssHold,
    rssGc,
    perUser3s: per(rss3s),
    perUserHold: per(rssHold),
    perUserGc: per(rssGc),
    heapUsedPerUser: mem && baseMem ? (mem.heapUsed - baseMem.heapUsed) / open : null,
    heapTotalPerUser: mem && baseMem ? (mem.heapTotal - baseMem.heapTotal) / open : null,
  };
}

/** The server's own pid (taskset execs it, so it is the child's). */
async function serverPid(child) {
  await sleep(100);
  return child.pid;
}

async function waitListening(port, output) {
  for (let i = 0; i < 150; i++) {
    try {
      const s = await new Promise((resolve, reject) => {
        const sock = netConnect(port, '127.0.0.1', () => resolve(sock));
        sock.on('error', reject);
      });
      s.destroy();
      return;
    } catch {}
    await sleep(100);
  }
  throw new Error(`server on ${port} did not listen: ${output()}`);
}

function render(res) {
  const { counts: cs, kinds: ks, holdSeconds: hold } = res.settings;
  const lines = [
    `Machine: ${res.machine.cpu} x ${res.machine.nproc}, Node ${res.machine.node}; servers pinned to core ${SERVER_CPU}, clients to the other`,
    `Start: ${res.machine.uptime}`,
    `End: ${res.machine.uptimeAtEnd}`,
    '',
    `RSS per idle user (KiB; no forced GC at +3 s and +${hold} s; then after a full GC), and the ratio to the bare node:net socket of the same run and size:`,
    '',
    '| run | users | server | +3 s | vs net | +' + hold + ' s | vs net | after GC | vs net | JS heap used/user | failed |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const row of res.rows) {
    const net = res.rows.find((r) => r.server === 'net' && r.run === row.run && r.connections === row.connections);
    const v = (k) => `${fmt(row[k] / 1024)}`;
    const x = (k) => (net && net[k] > 0 ? `${fmt(row[k] / net[k])}x` : '');
    lines.push(`| ${row.run} | ${row.connections} | ${row.server} | ${v('perUser3s')} | ${x('perUser3s')} | ${v('perUserHold')} | ${x('perUserHold')} | ${v('perUserGc')} | ${x('perUserGc')} | ${row.heapUsedPerUser === null ? '-' : fmt(row.heapUsedPerUser / 1024)} | ${row.failed} |`);
  }
  lines.push('', 'Worst ratio to node:net over all runs (target ≤ 1.25x):', '', '| server | users | +3 s | +' + hold + ' s | after GC |', '| --- | --- | --- | --- | --- |');
  for (const kind of ks.filter((k) => k !== 'net')) {
    for (const c of cs) {
      const worst = (k) => {
        let w = 0;
        for (const row of res.rows.filter((r) => r.server === kind && r.connections === c)) {
          const net = res.rows.find((r) => r.server === 'net' && r.run === row.run && r.connections === c);
          if (net && net[k] > 0) w = Math.max(w, row[k] / net[k]);
        }
        return `${fmt(w)}x`;
      };
      lines.push(`| ${kind} | ${c} | ${worst('perUser3s')} | ${worst('perUserHold')} | ${worst('perUserGc')} |`);
    }
  }
  return lines.join('\n') + '\n';
}
