/**
 * Test helpers: a real server on 127.0.0.1:0 and a chat client on our own ws client (src/ws).
 * Every wait is event-driven and bounded by a timeout.
 */
import { afterEach, beforeEach } from 'node:test';
import { createServer, type ServerConfig, type StrangersServer } from '../../src/http/server.js';
import { connect, type ConnectionHandler, type WebSocketConnection } from '@strangers/websocket';

export type Msg = { type: string; [k: string]: unknown };

/** Per-connection inbox, created lazily: frames can arrive before connect() resolves. */
class Inbox {
  readonly messages: Msg[] = [];
  #waiters: Array<() => void> = [];
  closed: { code: number; reason: string } | undefined;
  readonly closedP: Promise<{ code: number; reason: string }>;
  #resolveClosed!: (v: { code: number; reason: string }) => void;
  constructor() {
    this.closedP = new Promise((r) => (this.#resolveClosed = r));
  }
  push(m: Msg): void {
    this.messages.push(m);
    this.#wake();
  }
  close(code: number, reason: string): void {
    this.closed = { code, reason };
    this.#resolveClosed(this.closed);
    this.#wake();
  }
  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }
  changed(): Promise<void> {
    return new Promise((r) => this.#waiters.push(r));
  }
}

const handler: ConnectionHandler<Inbox> = {
  message(conn, data) {
    (conn.data ??= new Inbox()).push(JSON.parse(data.toString('utf8')) as Msg);
  },
  close(conn, code, reason) {
    (conn.data ??= new Inbox()).close(code, reason);
  },
};

export class Client {
  #read = 0;
  constructor(
    readonly conn: WebSocketConnection<Inbox>,
    readonly inbox: Inbox,
  ) {}

  /** `query` is appended to `/ws` as it is (e.g. `?session=TOKEN`). */
  static async open(base: string, headers?: Record<string, string>, localAddress?: string, query = ''): Promise<Client> {
    const conn = await connect<Inbox>(`${base.replace(/^http/, 'ws')}/ws${query}`, { handler, headers, localAddress, timeoutMs: 5000 });
    conn.data ??= new Inbox();
    return new Client(conn, conn.data);
  }

  /** Opens a client and consumes its welcome. */
  static async welcomed(base: string, localAddress?: string): Promise<{ c: Client; id: string; online: number }> {
    const c = await Client.open(base, undefined, localAddress);
    const w = await c.expect('welcome');
    return { c, id: w.id as string, online: w.online as number };
  }

  send(obj: unknown): void {
    this.conn.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }

  /**
   * The next unread message (waits up to `ms`: generous, since a loaded CI machine runs two test
   * files and their servers at once; the wait only matters when the message never comes).
   */
  async next(ms = 5000): Promise<Msg> {
    const deadline = Date.now() + ms;
    while (this.#read >= this.inbox.messages.length) {
      if (this.inbox.closed !== undefined) throw new Error(`closed ${this.inbox.closed.code} while waiting for a message`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a message');
      let t: NodeJS.Timeout | undefined;
      await Promise.race([this.inbox.changed(), new Promise((r) => (t = setTimeout(r, left)))]);
      clearTimeout(t);
    }
    return this.inbox.messages[this.#read++]!;
  }

  /** The next unread message, which must be of `type`. */
  async expect(type: string, ms = 5000): Promise<Msg> {
    const m = await this.next(ms);
    if (m.type !== type) throw new Error(`expected ${type}, got ${JSON.stringify(m)}`);
    return m;
  }

  /** True if no message arrives within `ms` (used only to check that something does NOT happen). */
  async quiet(ms: number): Promise<boolean> {
    await new Promise((r) => setTimeout(r, ms));
    return this.#read >= this.inbox.messages.length;
  }

  async closed(ms = 5000): Promise<{ code: number; reason: string }> {
    let t: NodeJS.Timeout | undefined;
    const r = await Promise.race([
      this.inbox.closedP,
      new Promise<never>((_, rej) => (t = setTimeout(() => rej(new Error('timed out waiting for close')), ms))),
    ]);
    clearTimeout(t);
    return r;
  }

  close(): void {
    this.conn.close(1000);
  }
}

/** Servers started by the running test (not by a `before` hook shared by several tests). */
const startedByTest = new Set<StrangersServer>();

/** Starts a server on 127.0.0.1:0 with quiet logs, the session gate off unless `config` turns it on. */
export async function startServer(config: ServerConfig = {}): Promise<StrangersServer> {
  // No resume window unless a test asks for one: a closed client ends its conversation at once.
  const s = await createServer({ host: '127.0.0.1', port: 0, logLevel: 'silent', maxPerIp: 0, gate: false, ...config, chat: { resumeWindowMs: 0, ...config.chat } });
  startedByTest.add(s);
  await s.listen();
  return s;
}

/**
 * Call at the top of a test file: every server a test starts is stopped after it, even when a
 * failed assertion skipped the test's own `stop()`, so one failure cannot hang the file.
 * Servers started in `before` hooks are left to their `after`.
 */
export function stopServersAfterEachTest(): void {
  beforeEach(() => startedByTest.clear());
  afterEach(async () => {
    const servers = [...startedByTest];
    startedByTest.clear();
    await Promise.all(servers.map((s) => s.stop()));
  });
}

/** Two clients, both searching with no interests, matched to each other. */
export async function pair(base: string): Promise<[Client, Client, string, string]> {
  const a = await Client.welcomed(base);
  const b = await Client.welcomed(base);
  a.c.send({ type: 'find' });
  await a.c.expect('searching');
  b.c.send({ type: 'find' });
  await b.c.expect('searching');
  await a.c.expect('matched');
  await b.c.expect('matched');
  return [a.c, b.c, a.id, b.id];
}

/** A client that appears to come from `address` (for servers that trust the proxy header), welcomed. */
export async function clientFrom(base: string, address: string): Promise<Client> {
  const c = await Client.open(base, { 'X-Forwarded-For': address });
  await c.expect('welcome');
  return c;
}

/** Two idle clients search and are matched to each other (nobody else searching). */
export async function matchUp(a: Client, b: Client): Promise<void> {
  a.send({ type: 'find' });
  await a.expect('searching');
  b.send({ type: 'find' });
  await b.expect('searching');
  await a.expect('matched');
  await b.expect('matched');
}
