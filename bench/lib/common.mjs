// Helpers shared by bench/run.mjs and bench/ws.mjs: pinned server processes, /proc samples,
// free ports, the machine description.
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Cores: the server gets SERVER_CPU, the load (and this script) the other one. */
export const SERVER_CPU = '0';
export const LOAD_CPU = '1';

/** Re-executes this script pinned to the load core, once (children inherit it). */
export function pinSelf() {
  if (process.env.STRANGERS_BENCH_PINNED === '1' || cpus().length < 2) return false;
  const child = spawn('taskset', ['-c', LOAD_CPU, process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, STRANGERS_BENCH_PINNED: '1' },
  });
  process.on('SIGINT', () => {}); // the child gets it too and finishes with a partial report
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
  return true;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** CPU seconds (user+system) and RSS bytes of a process, from /proc. */
export function sample(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const status = readFileSync(`/proc/${pid}/status`, 'latin1');
    const rss = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0) * 1024;
    return { cpu: (Number(f[11]) + Number(f[12])) / 100, rss };
  } catch {
    return undefined;
  }
}

/**
 * Starts a server pinned to the server core and resolves once it prints `listening`.
 * @param {string[]} argv node arguments (script and flags)
 */
export function startServer(name, argv, { env = {}, cpus = SERVER_CPU } = {}) {
  return new Promise((resolve, reject) => {
    const preload = fileURLToPath(new URL('./gc-preload.cjs', import.meta.url));
    const memFile = join(tmpdir(), `strangers-bench-mem-${process.pid}-${Math.random().toString(36).slice(2)}.json`);
    const child = spawn('taskset', ['-c', cpus, process.execPath, ...serverNodeFlags(), '--expose-gc', '--require', preload, ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_ENV: 'production', STRANGERS_BENCH_MEMFILE: memFile, ...env },
    });
    let out = '';
    const timer = setTimeout(() => fail(new Error(`${name} did not start in 15 s: ${out}`)), 15000);
    const fail = (err) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    };
    const onData = (d) => {
      out += d;
      if (/listening/i.test(out)) {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        child.stderr.off('data', onData);
        child.stdout.resume();
        child.stderr.resume();
        resolve({
          name,
          pid: child.pid,
          child,
          /** Full GC in the server (see gc-preload.cjs), then a moment for the RSS to follow. */
          async gc() {
            child.kill('SIGUSR2');
            await sleep(700);
          },
          /** process.memoryUsage() of the server at its last gc() (undefined before). */
          memory() {
            try {
              return JSON.parse(readFileSync(memFile, 'utf8'));
            } catch {
              return undefined;
            }
          },
          async stop() {
            if (child.exitCode !== null) return;
            const exited = new Promise((r) => child.once('exit', r));
            child.kill('SIGTERM');
            const t = setTimeout(() => child.kill('SIGKILL'), 5000);
            await exited;
            clearTimeout(t);
          },
        });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => fail(new Error(`${name} exited (${code}) before listening: ${out}`)));
  });
}

/**
 * Extra node flags for every server compared (the same for all of them), from
 * STRANGERS_BENCH_NODE_FLAGS, e.g. "--max-semi-space-size=2" as `npm start` uses.
 */
export function serverNodeFlags() {
  return (process.env.STRANGERS_BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
}

export function machine() {
  let uptime = '';
  try {
    uptime = execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {}
  return { nproc: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, loadavg: loadavg(), uptime, serverNodeFlags: serverNodeFlags() };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function ratio(a, b) {
  return b > 0 && a !== null && b !== null ? a / b : null;
}

export function fmt(n, digits = 2) {
  if (n === null || n === undefined || !Number.isFinite(n)) return '-';
  const a = Math.abs(n);
  return a >= 1000 ? n.toFixed(0) : a >= 100 ? n.toFixed(1) : n.toFixed(digits);
}

/**
 * Runs `strangers bench` (in this process's core) and resolves with its exit code, its printed
 * summary and its JSON result.
 * @param {string} cli path of dist/src/cli/main.js
 * @param {string[]} benchArgs scenario and flags
 * @param {string} jsonFile where the result is written
 */
export function runBench(cli, benchArgs, jsonFile) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'bench', ...benchArgs, '--json', jsonFile, '--quiet'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => {
      try {
        resolve({ code, summary: out.trim(), result: JSON.parse(readFileSync(jsonFile, 'utf8')) });
      } catch {
        reject(new Error(`bench exited ${code} without a result: ${out}`));
      }
    });
  });
}
