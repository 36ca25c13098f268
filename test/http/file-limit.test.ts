// The socket ceiling below the open-file limit (src/http/file-limit.ts): a process started with
// a low limit (prlimit) holds at most limit - FILE_RESERVE sockets, closes the ones above it at
// once and keeps serving; under --workers the primary hands a connection a full worker declines
// to the other one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { FILE_RESERVE, openFileLimit, socketCeiling } from '../../src/http/file-limit.js';
import { freePort, isCI, sharedRedis, skipUnlessCI } from '../contract/redis-server.js';
import { TEST_SECRET, cli, withDb } from '../integration/redis-nodes.js';

const LIMIT = 300;
const CEILING = LIMIT - FILE_RESERVE;
// Under --workers: higher, so that what a loaded machine adds around the workers' ceilings (the
// primary holds each connection until a worker takes it, under the same limit) stays far from it.
const W_LIMIT = 600;
const W_CEILING = W_LIMIT - FILE_RESERVE;

test('openFileLimit reads the soft limit; socketCeiling keeps the reserve', () => {
  const limits = 'Limit                     Soft Limit           Hard Limit           Units     \nMax open files            20000                40000                files     \n';
  assert.equal(openFileLimit(limits), 20000);
  assert.equal(openFileLimit('Max open files            unlimited            unlimited            files\n'), undefined);
  assert.equal(openFileLimit(''), undefined);
  assert.equal(socketCeiling(20000), 20000 - FILE_RESERVE);
  assert.equal(socketCeiling(50), 1);
  // This process: the limit its /proc says.
  const own = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
  assert.equal(openFileLimit(), own === undefined ? undefined : Number(own));
});

const havePrlimit = spawnSync('prlimit', ['--version'], { stdio: 'ignore' }).status === 0;
const noPrlimit = havePrlimit ? undefined : 'no prlimit (util-linux)';

async function start(args: string[], limit = LIMIT): Promise<{ proc: ChildProcess; port: number; out: () => string }> {
  const port = await freePort();
  const proc = spawn('prlimit', [`--nofile=${limit}:${limit}`, process.execPath, cli, 'serve', '--host', '127.0.0.1', '--port', String(port), '--rate-limit', '0', '--max-per-ip', '0', '--max-connections', '0', '--gate', 'off', '--log-level', 'warn', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, STRANGERS_SECRET: TEST_SECRET },
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  for (let i = 0; i < 150; i++) {
    if (proc.exitCode !== null) throw new Error(`server exited: ${out}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return { proc, port, out: () => out };
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  proc.kill('SIGKILL');
  throw new Error(`server did not start: ${out}`);
}

/**
 * Opens n TCP connections (a few at a time); each records whether the server closed it.
 * `between` runs before each batch after the first.
 */
interface Conn {
  s: Socket;
  closed: boolean;
  connected: boolean;
  error?: string;
  /** When it connected (or was opened), and how long it lived until closed (ms). */
  at: number;
  lived: number;
}

async function open(port: number, n: number, between?: () => Promise<void>): Promise<Conn[]> {
  const out: Conn[] = [];
  for (let i = 0; i < n; i += 20) {
    if (i > 0) await between?.();
    await Promise.all(
      Array.from({ length: Math.min(20, n - i) }, () => new Promise<void>((resolve) => {
        const c: Conn = { s: connect(port, '127.0.0.1'), closed: false, connected: false, at: Date.now(), lived: 0 };
        c.s.on('error', (err: NodeJS.ErrnoException) => (c.error = err.code ?? err.message));
        c.s.on('close', () => {
          c.closed = true;
          c.lived = Date.now() - c.at;
        });
        c.s.once('connect', () => {
          c.connected = true;
          c.at = Date.now();
          resolve();
        });
        c.s.once('close', () => resolve());
        out.push(c);
      })),
    );
  }
  return out;
}

/** Sockets a process holds (client sockets, Redis, IPC), from /proc. */
const sockets = (pid: number): number =>
  readdirSync(`/proc/${pid}/fd`).filter((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:');
    } catch {
      return false;
    }
  }).length;

test(`one process at ${LIMIT} open files holds ${CEILING} sockets, closes the rest at once, keeps serving`, { ...(noPrlimit && !isCI ? { skip: noPrlimit } : {}), timeout: 60_000 }, async (t) => {
  if (noPrlimit) throw new Error(noPrlimit);
  const { proc, port } = await start([]);
  t.after(() => proc.kill('SIGKILL'));
  const conns = await open(port, CEILING + 40);
  await new Promise((r) => setTimeout(r, 1000));
  const held = conns.filter((c) => !c.closed).length;
  assert.ok(held <= CEILING, `held ${held} > ${CEILING}`);
  assert.ok(held >= CEILING - 10, `held only ${held}`);
  assert.equal(proc.exitCode, null);
  // Room again: the server answers.
  for (const c of conns.slice(0, 50)) c.s.destroy();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
  for (const c of conns) c.s.destroy();
});

const redis = await sharedRedis();
const reason = 'reason' in redis ? redis.reason : noPrlimit;

test(`--workers 2 at ${W_LIMIT} open files each: ${2 * W_CEILING - 10} sockets all held, no worker above ${W_CEILING}`, { ...skipUnlessCI(reason), timeout: 60_000 }, async (t) => {
  if (reason !== undefined) throw new Error(reason);
  t.after(() => ('stop' in redis ? redis.stop() : undefined));
  const { proc, port, out } = await start(['--workers', '2', '--redis', withDb((redis as { url: string }).url, 15), '--log-level', 'info'], W_LIMIT);
  t.after(() => proc.kill('SIGKILL'));
  // Both workers listening: until then the primary has only one to hand connections to, and
  // what that one declines is closed.
  const listening = (): number => out().split('\n').filter((l) => l.includes('"event":"start"') && l.includes('listening on')).length;
  for (let i = 0; i < 100 && listening() < 2; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(listening(), 2, 'both workers listen');
  const want = 2 * W_CEILING - 10;
  // The primary accepts every connection and holds it until a worker takes it, and it has the
  // same file limit: a burst faster than the workers take connections fills the primary, and
  // libuv closes what arrives past its limit (seen on a loaded CI machine: 72 of 390 closed).
  // That is the primary's queue, not the workers' ceiling this test is about, so each batch
  // waits until the primary has handed the previous one on.
  const drained = async (): Promise<void> => {
    for (let i = 0; i < 200 && sockets(proc.pid!) > 40; i++) await new Promise((r) => setTimeout(r, 10));
  };
  const conns = await open(port, want, drained);
  await new Promise((r) => setTimeout(r, 1500));
  const lost = conns.filter((c) => c.closed);
  // Why they closed, for the failure message: never connected (the client's error), or closed by
  // the server (reset or FIN) after connecting.
  const why = (cs: typeof conns): string => {
    const m = new Map<string, number>();
    for (const c of cs) {
      const k = `${c.connected ? 'after connect' : 'before connect'}: ${c.error ?? 'end'} within ${c.lived < 100 ? '100 ms' : c.lived < 1000 ? '1 s' : c.lived < 4000 ? '4 s' : 'more than 4 s'}`;
      m.set(k, (m.get(k) ?? 0) + 1);
    }
    return [...m].map(([k, v]) => `${v} ${k}`).join(', ');
  };
  const held = conns.length - lost.length;
  assert.equal(held, want, `${lost.length} closed (${why(lost)}); workers hold ${readFileSync(`/proc/${proc.pid}/task/${proc.pid}/children`, 'utf8').trim().split(/\s+/).map((w) => sockets(Number(w))).join(' + ')} sockets, the primary ${sockets(proc.pid!)}`);
  // prlimit execs node: the child is the primary, its children the workers.
  const workers = readFileSync(`/proc/${proc.pid}/task/${proc.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
  assert.equal(workers.length, 2);
  const each = workers.map(sockets);
  // Client sockets at most W_CEILING each, plus a few of the worker's own (Redis, IPC).
  for (const n of each) assert.ok(n <= W_CEILING + 20, `a worker holds ${n} sockets: ${each.join(', ')}`);
  assert.ok(each[0]! + each[1]! >= want, `${each.join(' + ')} < ${want}`);
  for (const c of conns) c.s.destroy();
});
