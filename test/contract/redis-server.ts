/**
 * Redis for tests. `STRANGERS_TEST_REDIS_URL` if set (CI starts one); else a private
 * `redis-server` on a free port if the binary exists; else the tests skip with a message, or
 * FAIL when `CI=true` (a missing dependency must not pass silently in CI).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const isCI = process.env.CI === 'true';

/** A free TCP port on 127.0.0.1 (bound then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts `redis-server` with `args` and resolves once it accepts connections (within 5 s), or
 * rejects with what it printed. `label` names it in errors.
 */
export async function spawnRedisServer(args: readonly string[], label: string): Promise<ChildProcess> {
  const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${label} did not start: ${out}`));
    }, 5000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${label} exited with ${code}: ${out}`));
    });
  });
  proc.stdout!.resume();
  return proc;
}

/** SIGKILL, resolved once the process is gone (at once if it already is). */
export async function killProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    proc.once('exit', () => resolve());
    proc.kill('SIGKILL');
  });
}

/** True when a `redis-server` binary is on PATH. */
export function haveRedisServer(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** How to start a test redis-server beyond the defaults (free port on 127.0.0.1, no persistence). */
export interface RedisServerOptions {
  /** More command-line settings, e.g. `['--requirepass', 'pw']` or `['--user', 'name', 'on', '>pw', ...]`. */
  args?: readonly string[];
  /**
   * TLS only: the free port becomes `--tls-port` and the plain port is closed (`--port 0`); the
   * URL is `rediss://`. `args` must then give `--tls-cert-file`, `--tls-key-file` and
   * `--tls-ca-cert-file`.
   */
  tls?: boolean;
}

/** A redis-server process of our own, which a test may stop and start again on the same port. */
export class RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:PORT` (`rediss://` with TLS), without credentials. */
  readonly url: string;
  #proc: ChildProcess | undefined;
  readonly #dir = mkdtempSync(join(tmpdir(), 'strangers-redis-'));
  readonly #args: string[];

  private constructor(port: number, options: RedisServerOptions) {
    this.port = port;
    this.url = `${options.tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`;
    const ports = options.tls ? ['--port', '0', '--tls-port', String(port)] : ['--port', String(port)];
    // 32 databases: some test files take a database of their own above Redis's default 16.
    this.#args = [...ports, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--databases', '32', '--dir', this.#dir, ...(options.args ?? [])];
  }

  /** Starts a redis-server on a free port (no persistence) and waits until it accepts connections. */
  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), options);
    try {
      await server.restart();
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  /** (Re)starts the server on the same port. */
  async restart(): Promise<void> {
    if (this.#proc !== undefined) throw new Error('redis-server already running');
    this.#proc = await spawnRedisServer(this.#args, 'redis-server');
  }

  /** Stops the server abruptly (SIGKILL: connections drop at once, nothing persists). */
  async kill(): Promise<void> {
    const proc = this.#proc;
    if (proc === undefined) return;
    this.#proc = undefined;
    await killProcess(proc);
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

/**
 * The Redis the tests share: the URL and a stop function, or the reason there is none.
 * Call once per test file.
 */
export async function sharedRedis(): Promise<{ url: string; stop(): Promise<void> } | { reason: string }> {
  const env = process.env.STRANGERS_TEST_REDIS_URL;
  if (env !== undefined && env !== '') return { url: env, stop: async () => {} };
  if (!haveRedisServer()) return { reason: 'no Redis: set STRANGERS_TEST_REDIS_URL or install redis-server' };
  const server = await RedisServer.start();
  return { url: server.url, stop: () => server.stop() };
}

/** Options for node:test: skip with the reason, except in CI where the test runs (and fails). */
export function skipUnlessCI(reason: string | undefined): { skip?: string } {
  return reason !== undefined && !isCI ? { skip: reason } : {};
}
