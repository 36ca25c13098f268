#!/usr/bin/env node
// `npm run bench:ws` (issue 2): our WebSocket layer against `ws` and a bare node:net server,
// side by side in one run. Servers are pinned to core 0, the clients and this script to core 1.
//
//   node bench/ws.mjs [--quick] [--only idle,echo,codec,deflate] [--out bench/results]
//
// 1. RSS per idle connection at 10,000 and 19,000 connections (clients in other processes,
//    each on its own source address 127.0.0.x), and the connect rate.
// 2. Echo messages per server CPU-second with 100 clients.
// 3. Parser and serializer throughput on the same byte streams (64 B, 1 KiB, 64 KiB frames).
// 4. (`deflate`) permessage-deflate on, ours against ws, each with its defaults: RSS per idle
//    connection at 10,000 connections that each sent one 2 KiB message (compressed) and got it
//    back, and echo of 2 KiB chat-like JSON per server CPU-second, with and without compression.
import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
import { freePort, machine, pinSelf, ratio, sample, sleep, startServer, fmt } from './lib/common.mjs';

if (pinSelf()) await new Promise(() => {}); // the pinned copy does the work

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyArg = args.includes('--only') ? args[args.indexOf('--only') + 1] : 'idle,echo,codec,deflate';
const only = new Set(onlyArg.split(','));
const outDir = args.includes('--out') ? args[args.indexOf('--out') + 1] : 'bench/results';
const here = (p) => fileURLToPath(new URL(p, import.meta.url));

const SERVERS = {
  strangers: (port) => [here('../packages/websocket/examples/echo.mjs'), '--port', String(port)],
  ws: (port) => [here('./lib/ws-echo-server.mjs'), String(port)],
  'strangers-deflate': (port) => [here('../packages/websocket/examples/echo.mjs'), '--port', String(port), '--deflate'],
  'ws-deflate': (port) => [here('./lib/ws-echo-server.mjs'), String(port), 'deflate'],
  net: (port) => [here('./lib/net-server.mjs'), String(port)],
};

const results = { machine: machine(), quick, startedAt: new Date().toISOString(), idle: [], echo: [], codec: [], deflateIdle: [], deflateEcho: [] };
const log = (s) => console.log(s);

// ---- 1. idle connections ------------------------------------------------------------------
async function idleRun(kind, count, clientMode = kind === 'net' ? 'tcp' : 'ws') {
  const port = await freePort();
  const server = await startServer(kind, SERVERS[kind](port));
  await sleep(500);
  await server.gc();
  const base = sample(server.pid);
  const baseMem = server.memory();
  const perProcess = 10000;
  const procs = Math.ceil(count / perProcess);
  const t0 = performance.now();
  const children = [];
  const opened = await Promise.all(
    Array.from({ length: procs }, (_, i) => {
      const n = Math.floor(count / procs) + (i < count % procs ? 1 : 0);
      const child = fork(here('./lib/idle-client.mjs'), [`ws://127.0.0.1:${port}/`, String(n), `127.0.0.${2 + i}`, clientMode], { stdio: 'inherit' });
      children.push(child);
      return new Promise((resolve) => child.once('message', resolve));
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const open = opened.reduce((a, m) => a + m.open, 0);
  const failed = opened.reduce((a, m) => a + m.failed, 0);
  // RSS after a full GC (the same for every server): live memory, not handshake garbage.
  await sleep(1000);
  await server.gc();
  await server.gc();
  const s = sample(server.pid);
  const mem = server.memory();
  for (const c of children) c.disconnect();
  await server.stop();
  const per = (k) => (mem && baseMem ? (mem[k] - baseMem[k]) / open : null);
  const row = {
    server: kind, connections: count, open, failed, connectPerSec: open / seconds, rssBaseline: base.rss, rss: s.rss, rssPerConn: (s.rss - base.rss) / open,
    // After a full GC: live JS objects, and the heap V8 keeps committed (young generation grown by the handshake burst included).
    heapUsedPerConn: per('heapUsed'), heapTotalPerConn: per('heapTotal'), externalPerConn: per('external'),
  };
  log(`idle  ${kind.padEnd(9)} ${String(count).padStart(6)}: open ${open} (failed ${failed}) in ${seconds.toFixed(1)} s (${fmt(row.connectPerSec)}/s), rss ${(base.rss / 1048576).toFixed(1)} -> ${(s.rss / 1048576).toFixed(1)} MiB, ${fmt(row.rssPerConn / 1024)} KiB/conn (heap used ${fmt(row.heapUsedPerConn / 1024)} KiB, heap committed ${fmt(row.heapTotalPerConn / 1024)} KiB)`);
  return row;
}

// ---- 2. echo throughput -------------------------------------------------------------------
async function echoRun(kind, clients, seconds, size = 64, extra = []) {
  const port = await freePort();
  const server = await startServer(kind, SERVERS[kind](port));
  const child = fork(here('./lib/echo-client.mjs'), [`ws://127.0.0.1:${port}/`, String(clients), '8', String(size), ...extra], { stdio: 'inherit' });
  const next = () => new Promise((resolve) => child.once('message', resolve));
  await next(); // ready
  child.send({ t: 'go' });
  await next(); // counting
  const s0 = sample(server.pid);
  await sleep(seconds * 1000);
  const s1 = sample(server.pid);
  child.send({ t: 'stop' });
  const done = await next();
  await server.stop();
  const serverCpu = s1.cpu - s0.cpu;
  const row = {
    server: kind, clients, size, clientArgs: extra, seconds: done.seconds, echoes: done.echoes, echoesPerSec: done.echoes / done.seconds,
    serverCpuSeconds: serverCpu, serverCpuPercent: (100 * serverCpu) / seconds, echoesPerServerCpuSecond: done.echoes / serverCpu,
    clientCpuPercent: (100 * done.cpu) / done.seconds,
  };
  log(`echo  ${kind.padEnd(9)} ${clients} clients, ${size} B ${extra.join(' ')}: ${fmt(row.echoesPerSec)} echoes/s, server cpu ${fmt(row.serverCpuPercent)}%, ${fmt(row.echoesPerServerCpuSecond)} echoes per server cpu-second; client cpu ${fmt(row.clientCpuPercent)}%${row.clientCpuPercent > 90 ? ' (the client was the bottleneck: compare per cpu-second)' : ''}`);
  return row;
}

// ---- 3. codec -----------------------------------------------------------------------------
async function codec() {
  const ours = await import('@strangers/websocket');
  // ws does not export its internals; load them by path, as its own benchmarks do.
  const require = createRequire(import.meta.url);
  const wsDir = dirname(require.resolve('ws'));
  const WsReceiver = require(join(wsDir, 'lib/receiver.js'));
  const WsSender = require(join(wsDir, 'lib/sender.js'));
  const budget = quick ? 300 : 1500; // ms per measurement
  const rows = [];
  const time = (fn) => {
    // Best of 3 runs of `budget` ms; returns operations per second.
    let best = 0;
    for (let r = 0; r < 3; r++) {
      let ops = 0;
      const t0 = performance.now();
      let t = t0;
      while (t - t0 < budget) {
        ops += fn();
        t = performance.now();
      }
      best = Math.max(best, ops / ((t - t0) / 1000));
    }
    return best;
  };
  for (const size of [64, 1024, 65536]) {
    const payload = Buffer.alloc(size, 0x61);
    // The same byte stream for both parsers: masked binary frames as a browser sends them,
    // cut into 64 KiB chunks as the socket would deliver them.
    const perStream = Math.max(16, Math.floor((4 << 20) / (size + 14)));
    const frames = [];
    for (let i = 0; i < perStream; i++) frames.push(ours.encodeFrame(2, payload, true, true));
    const stream = Buffer.concat(frames);
    const chunks = [];
    for (let o = 0; o < stream.length; o += 65536) chunks.push(stream.subarray(o, o + 65536));
    // Parsers unmask in place, so each pass gets a fresh copy of the stream (copied outside the timing? no:
    // the copy costs the same for both, and is reported as part of each pass).
    const fresh = () => chunks.map((c) => Buffer.from(c));

    let got = 0;
    const sink = { onMessage() { got++; }, onPing() {}, onPong() {}, onCloseFrame() {}, onProtocolError(e) { throw e; } };
    const oursParse = time(() => {
      const input = fresh();
      const r = new ours.Receiver(sink, { isServer: true, maxMessageSize: 1 << 30 });
      got = 0;
      for (const c of input) r.push(c);
      if (got !== perStream) throw new Error(`ours parsed ${got}/${perStream}`);
      return perStream;
    });
    const wsParse = time(() => {
      const input = fresh();
      const r = new WsReceiver({ isServer: true, maxPayload: 0 });
      got = 0;
      r.on('message', () => got++);
      r.on('error', (e) => { throw e; });
      for (const c of input) r.write(c);
      if (got !== perStream) throw new Error(`ws parsed ${got}/${perStream}`);
      return perStream;
    });
    // Serializers: server -> client frames (unmasked), each layer's whole send path into a
    // socket stand-in that discards bytes: ours builds one frame (or header + payload from
    // 16 KiB on), ws builds a header and writes header + payload corked.
    const batch = 1000;
    const sinkSocket = () => new Writable({ write(_c, _e, cb) { cb(); }, writev(_c, cb) { cb(); } });
    const oursSock = sinkSocket();
    const oursSend = (data, opcode) => {
      if (typeof data !== 'string' && data.length >= ours.ZERO_COPY_THRESHOLD) {
        oursSock.cork();
        oursSock.write(ours.encodeHeader(opcode, data.length));
        oursSock.write(data);
        oursSock.uncork();
      } else oursSock.write(ours.encodeFrame(opcode, data, true, false));
    };
    const wsSender = new WsSender(sinkSocket());
    const wsOpts = { binary: true, fin: true, compress: false, mask: false };
    const drainTicks = () => new Promise((r) => setImmediate(r));
    const timeAsync = async (fn) => {
      let best = 0;
      for (let r = 0; r < 3; r++) {
        let ops = 0;
        const t0 = performance.now();
        let t = t0;
        while (t - t0 < budget) {
          ops += fn();
          await drainTicks(); // let the stream's per-write callbacks run, as a socket's would
          t = performance.now();
        }
        best = Math.max(best, ops / ((t - t0) / 1000));
      }
      return best;
    };
    const oursSer = await timeAsync(() => {
      for (let i = 0; i < batch; i++) oursSend(payload, 2);
      return batch;
    });
    const wsSer = await timeAsync(() => {
      for (let i = 0; i < batch; i++) wsSender.send(payload, wsOpts);
      return batch;
    });
    let textSer = null;
    if (size === 64) {
      const text = 'a'.repeat(64);
      const textOpts = { binary: false, fin: true, compress: false, mask: false };
      textSer = {
        strangers: await timeAsync(() => {
          for (let i = 0; i < batch; i++) oursSend(text, 1);
          return batch;
        }),
        ws: await timeAsync(() => {
          for (let i = 0; i < batch; i++) wsSender.send(text, textOpts);
          return batch;
        }),
      };
      log(`codec    64 B text (string) serialize: ${fmt(textSer.strangers)} vs ws ${fmt(textSer.ws)} frames/s (${fmt(ratio(textSer.strangers, textSer.ws))}x)`);
    }
    const row = {
      size, parseFramesPerSec: { strangers: oursParse, ws: wsParse }, parseRatio: ratio(oursParse, wsParse),
      serializeFramesPerSec: { strangers: oursSer, ws: wsSer }, serializeRatio: ratio(oursSer, wsSer), textSerializeFramesPerSec: textSer,
      parseMiBPerSec: { strangers: (oursParse * size) / 1048576, ws: (wsParse * size) / 1048576 },
    };
    log(`codec ${String(size).padStart(5)} B: parse ${fmt(oursParse)} vs ws ${fmt(wsParse)} frames/s (${fmt(row.parseRatio)}x); serialize ${fmt(oursSer)} vs ws ${fmt(wsSer)} frames/s (${fmt(row.serializeRatio)}x)`);
    rows.push(row);
  }
  return rows;
}

log(`bench:ws on ${results.machine.cpu} x ${results.machine.nproc}, Node ${results.machine.node}; ${results.machine.uptime}`);
if (only.has('idle')) {
  const counts = quick ? [2000] : [10000, 19000];
  for (const count of counts) for (const kind of ['strangers', 'ws', 'net']) results.idle.push(await idleRun(kind, count));
}
if (only.has('echo')) {
  for (const kind of ['strangers', 'ws']) results.echo.push(await echoRun(kind, 100, quick ? 3 : 10));
}
if (only.has('codec')) results.codec = await codec();
if (only.has('deflate')) {
  // Echo first (short), then the idle runs (long); the same client for every server.
  for (const kind of ['strangers', 'ws']) results.deflateEcho.push(await echoRun(kind, 100, quick ? 3 : 10, 2048, ['chat']));
  for (const kind of ['strangers-deflate', 'ws-deflate']) results.deflateEcho.push(await echoRun(kind, 100, quick ? 3 : 10, 2048, ['chat', 'deflate']));
  const count = quick ? 2000 : 10000;
  results.deflateIdle.push(await idleRun('strangers', count));
  results.deflateIdle.push(await idleRun('ws', count));
  for (const kind of ['strangers-deflate', 'ws-deflate']) results.deflateIdle.push(await idleRun(kind, count, 'ws-deflate'));
}
results.endedAt = new Date().toISOString();
results.machine.uptimeAtEnd = machine().uptime;

// ---- summary ------------------------------------------------------------------------------
const md = [];
md.push(`| idle connections | server | RSS/conn | vs net | vs ws | heap used/conn | heap committed/conn | connect/s |`, `| --- | --- | --- | --- | --- | --- | --- | --- |`);
for (const r of results.idle) {
  const net = results.idle.find((x) => x.server === 'net' && x.connections === r.connections);
  const ws = results.idle.find((x) => x.server === 'ws' && x.connections === r.connections);
  md.push(`| ${r.connections} | ${r.server} | ${(r.rssPerConn / 1024).toFixed(2)} KiB | ${fmt(ratio(r.rssPerConn, net?.rssPerConn))}x | ${fmt(ratio(r.rssPerConn, ws?.rssPerConn))}x | ${fmt(r.heapUsedPerConn / 1024)} KiB | ${fmt(r.heapTotalPerConn / 1024)} KiB | ${fmt(r.connectPerSec)} |`);
}
if (results.echo.length) {
  const ws = results.echo.find((x) => x.server === 'ws');
  md.push('', `| echo, 100 clients | echoes/s | server CPU | echoes per server CPU-s | vs ws | client CPU |`, `| --- | --- | --- | --- | --- | --- |`);
  for (const r of results.echo) md.push(`| ${r.server} | ${fmt(r.echoesPerSec)} | ${fmt(r.serverCpuPercent)}% | ${fmt(r.echoesPerServerCpuSecond)} | ${fmt(ratio(r.echoesPerServerCpuSecond, ws?.echoesPerServerCpuSecond))}x | ${fmt(r.clientCpuPercent)}% |`);
}
if (results.codec.length) {
  md.push('', `| frame size | parse ours (frames/s) | parse ws | ratio | serialize ours | serialize ws | ratio |`, `| --- | --- | --- | --- | --- | --- | --- |`);
  for (const r of results.codec) md.push(`| ${r.size} B | ${fmt(r.parseFramesPerSec.strangers)} | ${fmt(r.parseFramesPerSec.ws)} | ${fmt(r.parseRatio)}x | ${fmt(r.serializeFramesPerSec.strangers)} | ${fmt(r.serializeFramesPerSec.ws)} | ${fmt(r.serializeRatio)}x |`);
}
if (results.deflateEcho.length) {
  const ws = results.deflateEcho.find((x) => x.server === 'ws');
  md.push('', `| echo, 100 clients, 2 KiB chat JSON | permessage-deflate | echoes/s | server CPU | echoes per server CPU-s | vs ws (no deflate) | vs ws, same mode | client CPU |`, `| --- | --- | --- | --- | --- | --- | --- | --- |`);
  for (const r of results.deflateEcho) {
    const deflate = r.clientArgs.includes('deflate');
    const same = results.deflateEcho.find((x) => x.server === (deflate ? 'ws-deflate' : 'ws'));
    md.push(`| ${r.server} | ${deflate ? 'on' : 'off'} | ${fmt(r.echoesPerSec)} | ${fmt(r.serverCpuPercent)}% | ${fmt(r.echoesPerServerCpuSecond)} | ${fmt(ratio(r.echoesPerServerCpuSecond, ws?.echoesPerServerCpuSecond))}x | ${fmt(ratio(r.echoesPerServerCpuSecond, same?.echoesPerServerCpuSecond))}x | ${fmt(r.clientCpuPercent)}% |`);
  }
}
if (results.deflateIdle.length) {
  md.push('', `| idle connections, permessage-deflate | server | RSS/conn | vs ws, same mode | heap used/conn | external/conn | connect/s |`, `| --- | --- | --- | --- | --- | --- | --- |`);
  for (const r of results.deflateIdle) {
    const same = results.deflateIdle.find((x) => x.server === (r.server.endsWith('-deflate') ? 'ws-deflate' : 'ws'));
    md.push(`| ${r.connections}${r.server.endsWith('-deflate') ? ', after one 2 KiB message each' : ', no deflate'} | ${r.server} | ${(r.rssPerConn / 1024).toFixed(2)} KiB | ${fmt(ratio(r.rssPerConn, same?.rssPerConn))}x | ${fmt(r.heapUsedPerConn / 1024)} KiB | ${fmt(r.externalPerConn / 1024)} KiB | ${fmt(r.connectPerSec)} |`);
  }
}
const table = md.join('\n');
log('\n' + table);
mkdirSync(outDir, { recursive: true });
const stamp = (quick ? 'ws-quick' : 'ws') + (process.env.STRANGERS_BENCH_NODE_FLAGS ? '-flags' : '');
writeFileSync(join(outDir, `${stamp}.json`), JSON.stringify(results, null, 2) + '\n');
writeFileSync(join(outDir, `${stamp}.md`), `Machine: ${results.machine.cpu} x ${results.machine.nproc}, Node ${results.machine.node}, server node flags: ${results.machine.serverNodeFlags.join(' ') || 'none'}; ${results.machine.uptime}\n\n${table}\n`);
log(`\nwrote ${join(outDir, stamp + '.json')} and .md`);
process.exit(0);
