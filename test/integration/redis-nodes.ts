/**
 * Helpers for multi-node tests: real `strangers serve` processes (the built CLI) on free ports
 * sharing one Redis, and a chat client that checks every message it receives.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Client, type Msg } from './helpers.js';
import { freePort } from '../contract/redis-server.js';

export const cli = 'dist/src/cli/main.js';
/** The cluster secret every node of a test cluster shares (STRANGERS_SECRET). */
export const TEST_SECRET = 'a-test-secret-of-at-least-32-characters';

/** The Redis URL with database `db` (keys are per database; channel names are per node, so unique). */
/**
 * Test files share the CI Redis and run two at a time, each flushing its own database: one
 * database per file. Taken: 5 redis-moderation, 6 redis-resume, 7 deploy/nginx, 9 and 10
 * redis-workers-ops, 11 redis-cluster, 12 redis-workers, 13 redis-session.
 */
export function withDb(url: string, db: number): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

/** A node that exited before it listened: its exit code and everything it printed. */
export class NodeExitedError extends Error {
  constructor(
    readonly code: number | null,
    readonly lines: readonly string[],
  ) {
    super(`node exited with ${code}: ${lines.join('\n')}`);
    this.name = 'NodeExitedError';
  }
}

/** One server process. */
export class Node {
  readonly base: string;
  #exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly lines: string[] = [];

  private constructor(
    readonly proc: ChildProcess,
    readonly port: number,
  ) {
    this.base = `http://127.0.0.1:${port}`;
    this.#exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /**
   * Starts `strangers serve` on a free port (on one Redis: its URL; on a Redis Cluster: its
   * seeds) and waits for its start line (the session gate off
   * unless `extra` sets `--gate`); rejects with a {@link NodeExitedError} if it exits first.
   * `env` adds to (or, with undefined, removes from) the test's environment.
   */
  static async start(redis: string | { readonly cluster: readonly string[] }, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Node> {
    const port = await freePort();
    const gate = [...(extra.includes('--gate') ? [] : ['--gate', 'off']), ...(extra.includes('--resume-window') ? [] : ['--resume-window', '0'])];
    const engine = typeof redis === 'string' ? ['--redis', redis] : ['--redis-cluster', redis.cluster.join(',')];
    const args = [cli, 'serve', '--host', '127.0.0.1', '--port', String(port), ...engine, '--max-per-ip', '0', '--rate-limit', '0', '--log-level', 'info', ...gate, ...extra];
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, STRANGERS_SECRET: TEST_SECRET, ...env } });
    const node = new Node(proc, port);
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(() => {
        proc.kill('SIGKILL'); // never leave a half-started server behind
        reject(new Error(`node did not start: ${node.lines.join('\n')}`));
      }, 15_000);
      const onData = (d: Buffer): void => {
        buf += d.toString();
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          node.lines.push(line);
          if (/"event":"start"/.test(line) && /all \d+ workers listening|listening on/.test(line)) {
            if (!extra.includes('--workers') || /workers listening/.test(line)) {
              clearTimeout(timer);
              resolve();
            }
          }
        }
      };
      proc.stdout!.on('data', onData);
      proc.stderr!.on('data', (d: Buffer) => node.lines.push(d.toString()));
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new NodeExitedError(code, node.lines));
      });
    });
    return node;
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.#exited;
  }

  /** Sends a signal and waits for the exit (bounded). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', ms = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.alive) return this.#exited;
    this.proc.kill(signal);
    let t: NodeJS.Timeout | undefined;
    const r = await Promise.race([this.#exited, new Promise<never>((_, rej) => (t = setTimeout(() => rej(new Error(`node did not exit after ${signal}`)), ms)))]);
    clearTimeout(t);
    return r;
  }

  async get(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(this.base + path);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }
}

/**
 * A client that plays a numbered conversation: on `matched` it sends a hello naming itself, and
 * every message it sends carries `from|to|n` (`to` = the partner it believes it has). Every
 * message it receives is checked at once: it is addressed to this client, it comes from the
 * partner of the current conversation, and numbers from that partner only increase.
 */
export class Talker {
  partner: string | undefined;
  /** Conversation number, incremented on every `matched`. */
  conv = 0;
  state: 'idle' | 'searching' | 'chatting' = 'idle';
  sent = 0;
  readonly received: Array<{ conv: number; from: string; n: number }> = [];
  readonly violations: string[] = [];
  readonly partners: string[] = [];
  readonly ended: string[] = [];
  readonly errors: string[] = [];
  /** `common` of every `matched`. */
  readonly commons: string[][] = [];
  #lastN = -1;
  #pump: Promise<void>;
  #stopped = false;

  constructor(
    readonly c: Client,
    readonly id: string,
  ) {
    this.#pump = this.#run();
  }

  static async open(base: string): Promise<Talker> {
    const { c, id } = await Client.welcomed(base);
    return new Talker(c, id);
  }

  /** Searches (the partner of a past conversation is kept until the next `matched`, see #on). */
  find(interests?: string[]): void {
    this.state = 'searching';
    this.c.send(interests ? { type: 'find', interests } : { type: 'find' });
  }

  /** Skips to the next stranger; says nothing until matched again (as the web client does). */
  next(): void {
    this.state = 'searching';
    this.c.send({ type: 'next' });
  }

  /** Leaves the conversation or the search. */
  leave(): void {
    this.state = 'idle';
    this.c.send({ type: 'leave' });
  }

  say(): void {
    if (this.state !== 'chatting' || this.partner === undefined) return;
    this.c.send({ type: 'msg', text: `${this.id}|${this.partner}|${++this.sent}` });
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      let m: Msg;
      try {
        m = await this.c.next(600_000);
      } catch {
        return; // closed
      }
      this.#on(m);
    }
  }

  #on(m: Msg): void {
    switch (m.type) {
      case 'matched':
        this.state = 'chatting';
        this.conv++;
        this.commons.push(m.common as string[]);
        this.partner = undefined;
        this.#lastN = -1;
        // Different in every conversation: the same text to many partners would be a spam wave.
        this.c.send({ type: 'msg', text: `${this.id}|?|0|${this.conv}` });
        return;
      case 'searching':
        return;
      case 'ended':
        this.ended.push(String(m.reason));
        this.state = 'idle';
        return;
      case 'error':
        this.errors.push(String(m.code));
        return;
      case 'msg': {
        const [from, to, nText] = String(m.text).split('|');
        const n = Number(nText);
        if (to !== '?' && to !== this.id) this.violations.push(`${this.id} got a message for ${to} from ${from}`);
        // After our own `leave` or `next`, the partner's messages already on their way may still
        // come: what must never come is a message from anyone but the partner of the latest match.
        if (this.partner === undefined && n === 0) {
          this.partner = from;
          this.partners.push(from!);
        } else if (from !== this.partner) {
          this.violations.push(`${this.id} (partner ${this.partner}) got a message from ${from}`);
        }
        if (n <= this.#lastN) this.violations.push(`${this.id} got ${n} after ${this.#lastN} from ${from}`);
        this.#lastN = n;
        this.received.push({ conv: this.conv, from: from!, n });
        return;
      }
      default:
        return;
    }
  }

  /** Resolves when `pred` holds, checked every 10 ms, bounded. */
  async until(pred: () => boolean, ms: number, what: string): Promise<void> {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end) throw new Error(`${this.id}: timed out after ${ms} ms waiting for ${what} (${this.describe()})`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** State for failure messages. */
  describe(): string {
    return `state ${this.state}, conv ${this.conv}, partner ${this.partner}, ended [${this.ended.join()}], errors [${this.errors.join()}]`;
  }

  close(): void {
    this.#stopped = true;
    this.c.conn.terminate();
  }
}

/** Polls until `pred` holds (for HTTP state), bounded. */
export async function eventually(pred: () => Promise<boolean> | boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
