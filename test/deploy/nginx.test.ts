/**
 * deploy/nginx/strangers.conf in a real nginx (Debian's), TLS terminated there with a certificate
 * made by openssl for the test, in front of real `strangers serve` nodes on one real Redis.
 *
 * The config is the shipped file with only the upstream `server` lines, the two `listen` ports and
 * the certificate paths rendered (the test fails if anything else would differ), included by a
 * minimal nginx.conf that puts nginx's own files in a temporary prefix (no root needed).
 *
 * Through it: the page (CSP naming the page's own wss:// origin, HSTS), HTTP redirected to HTTPS,
 * /metrics and /admin refused; a session (the Secure cookie, since nginx says https) and wss://
 * chat between users on different nodes; the Origin check (nginx passes Host with its port);
 * X-Forwarded-For used only with --trust-proxy (and never the client's own); idle connections kept
 * by the heartbeat (the shipped timeouts with a 1 s heartbeat, and the same ratio scaled down to
 * seconds, with a control that is cut without the heartbeat); a node restart behind nginx.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { solveChallenge, type Challenge } from 'altcha-lib';
import { deriveKey } from 'altcha-lib/algorithms/pbkdf2';
import WebSocket from 'ws';
import { serverConfigDefaults } from '../../src/http/server.js';
import { sharedRedis } from '../contract/redis-server.js';
import { withDb } from '../integration/redis-nodes.js';
import { haveOpenssl, makeTestCertificates, type TestCertificates } from '../support/tls-certs.js';
import { freePort, missingTool, repoFile, ServeProcess, skipUnlessCI } from './support.js';

const SHIPPED = 'deploy/nginx/strangers.conf';
const SECRET = 'a-test-secret-of-at-least-32-characters';

// ---------------------------------------------------------------------------------------------
// Rendering: every rule must match exactly once; every other line stays as shipped.

interface RenderOptions {
  upstreams: readonly number[];
  httpPort: number;
  httpsPort: number;
  cert: string;
  key: string;
  /** Only for the scaled-down model of the timeouts: replaces the WebSocket timeouts' value. */
  wsTimeout?: string;
}

function render(shipped: string, o: RenderOptions): string {
  const rules: Array<{ name: string; re: RegExp; to: (indent: string, rest: string) => string; expect: number }> = [
    { name: 'upstream server', re: /^(\s*)server strangers:8080(.*);$/, to: (i, rest) => o.upstreams.map((p) => `${i}server 127.0.0.1:${p}${rest};`).join('\n'), expect: 1 },
    { name: 'listen 80', re: /^(\s*)listen 80;$/, to: (i) => `${i}listen 127.0.0.1:${o.httpPort};`, expect: 1 },
    { name: 'listen 443', re: /^(\s*)listen 443 ssl;$/, to: (i) => `${i}listen 127.0.0.1:${o.httpsPort} ssl;`, expect: 1 },
    { name: 'ssl_certificate', re: /^(\s*)ssl_certificate\s+\S+;$/, to: (i) => `${i}ssl_certificate     ${o.cert};`, expect: 1 },
    { name: 'ssl_certificate_key', re: /^(\s*)ssl_certificate_key\s+\S+;$/, to: (i) => `${i}ssl_certificate_key ${o.key};`, expect: 1 },
  ];
  if (o.wsTimeout !== undefined) {
    const t = o.wsTimeout;
    rules.push(
      { name: 'proxy_read_timeout', re: /^(\s*)proxy_read_timeout \S+;$/, to: (i) => `${i}proxy_read_timeout ${t};`, expect: 1 },
      { name: 'proxy_send_timeout', re: /^(\s*)proxy_send_timeout \S+;$/, to: (i) => `${i}proxy_send_timeout ${t};`, expect: 1 },
    );
  }
  const counts = new Map<string, number>();
  const out = shipped.split('\n').map((line) => {
    for (const r of rules) {
      const m = r.re.exec(line);
      if (m) {
        counts.set(r.name, (counts.get(r.name) ?? 0) + 1);
        return r.to(m[1]!, m[2] ?? '');
      }
    }
    return line;
  });
  for (const r of rules) assert.equal(counts.get(r.name) ?? 0, r.expect, `${SHIPPED}: "${r.name}" should occur ${r.expect} time(s)`);
  return out.join('\n');
}

/** Seconds of an nginx time like `120s`, `2m` or `90`. */
function nginxSeconds(v: string): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(v);
  assert.ok(m, `an nginx time: ${v}`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n / 1000 : m[2] === 'm' ? n * 60 : m[2] === 'h' ? n * 3600 : n;
}

// ---------------------------------------------------------------------------------------------
// nginx processes

class Nginx {
  readonly #dir: string;
  readonly #proc: ChildProcess;
  readonly #exited: Promise<void>;
  #stderr = '';

  private constructor(dir: string, proc: ChildProcess) {
    this.#dir = dir;
    this.#proc = proc;
    proc.stderr!.on('data', (d: Buffer) => (this.#stderr += d.toString()));
    this.#exited = new Promise((done) => proc.once('exit', () => done()));
  }

  /** Writes nginx.conf including `serverConf`, checks it with `nginx -t`, starts nginx and waits for `port`. */
  static async start(serverConf: string, port: number): Promise<Nginx> {
    const dir = mkdtempSync(join(tmpdir(), 'strangers-nginx-'));
    // nginx's workers run as `nobody` when the master is root: they must reach the temp paths.
    chmodSync(dir, 0o755);
    for (const sub of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, sub));
    writeFileSync(join(dir, 'strangers.conf'), serverConf);
    writeFileSync(
      join(dir, 'nginx.conf'),
      [
        'worker_processes 1;',
        `pid ${join(dir, 'nginx.pid')};`,
        `error_log ${join(dir, 'error.log')} warn;`,
        'events { worker_connections 256; }',
        'http {',
        '    access_log off;',
        ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `    ${t}_temp_path ${join(dir, t)};`),
        `    include ${join(dir, 'strangers.conf')};`,
        '}',
        '',
      ].join('\n'),
    );
    const base = ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')];
    const check = spawn('nginx', [...base, '-t'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let checkOut = '';
    check.stderr!.on('data', (d: Buffer) => (checkOut += d.toString()));
    const code = await new Promise<number | null>((done) => check.once('exit', done));
    assert.equal(code, 0, `nginx -t failed:\n${checkOut}`);
    const proc = spawn('nginx', [...base, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const n = new Nginx(dir, proc);
    const deadline = Date.now() + 5000;
    while (!(await canConnect(port))) {
      if (Date.now() > deadline || proc.exitCode !== null) {
        await n.stop();
        throw new Error(`nginx did not listen on ${port}: ${n.#stderr}${n.errorLog()}`);
      }
      await sleep(50);
    }
    return n;
  }

  errorLog(): string {
    try {
      return readFileSync(join(this.#dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  }

  async stop(): Promise<void> {
    if (this.#proc.exitCode === null && this.#proc.signalCode === null) {
      this.#proc.kill('SIGTERM');
      const t = setTimeout(() => this.#proc.kill('SIGKILL'), 3000);
      await this.#exited;
      clearTimeout(t);
    }
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = netConnect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      done(true);
    });
    s.once('error', () => done(false));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Clients

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP(S) request through nginx, from `localAddress`, trusting the test CA. */
function fetchVia(url: string, o: { ca?: string; method?: string; headers?: Record<string, string>; body?: string; localAddress?: string } = {}): Promise<Reply> {
  const u = new URL(url);
  const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)({
    host: u.hostname,
    port: u.port,
    path: u.pathname + u.search,
    method: o.method ?? 'GET',
    headers: o.headers,
    localAddress: o.localAddress,
    servername: u.hostname,
    ca: o.ca,
    agent: false,
  });
  return new Promise((done, fail) => {
    req.setTimeout(5000, () => req.destroy(new Error(`timed out: ${url}`)));
    req.once('error', fail);
    req.once('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.once('end', () => done({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.end(o.body);
  });
}

type Msg = { type: string; [k: string]: unknown };

/** A WebSocket client (the `ws` package, which takes a CA) with an inbox and a ping count. */
class Chat {
  readonly messages: Msg[] = [];
  pings = 0;
  closed: { code: number; at: number } | undefined;
  #read = 0;
  #wake: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => {
      this.messages.push(JSON.parse(d.toString()) as Msg);
      this.#notify();
    });
    ws.on('ping', () => this.pings++);
    ws.on('close', (code) => {
      this.closed = { code, at: Date.now() };
      this.#notify();
    });
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = [];
    for (const f of w) f();
  }

  /** Opens `url`; resolves with the client, or rejects with the HTTP status of a refused upgrade. */
  static open(url: string, o: { ca?: string; origin?: string; cookie?: string; localAddress?: string; headers?: Record<string, string> } = {}): Promise<Chat> {
    const headers: Record<string, string> = { ...o.headers };
    if (o.cookie !== undefined) headers.cookie = o.cookie;
    if (o.origin !== undefined) headers.origin = o.origin;
    const ws = new WebSocket(url, { ca: o.ca, headers, localAddress: o.localAddress, handshakeTimeout: 5000 });
    const chat = new Chat(ws);
    return new Promise((done, fail) => {
      ws.once('open', () => done(chat));
      ws.once('unexpected-response', (_req, res) => {
        fail(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode }));
        ws.terminate();
      });
      ws.once('error', fail);
    });
  }

  /** The HTTP status that refuses an upgrade (0 when it is accepted, and then closed). */
  static async status(url: string, o: Parameters<typeof Chat.open>[1]): Promise<number> {
    try {
      (await Chat.open(url, o)).ws.terminate();
      return 0;
    } catch (err) {
      return (err as { status?: number }).status ?? -1;
    }
  }

  async next(ms = 5000): Promise<Msg> {
    const deadline = Date.now() + ms;
    while (this.#read >= this.messages.length) {
      if (this.closed) throw new Error(`closed ${this.closed.code} while waiting for a message`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a message');
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.#wake.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.messages[this.#read++]!;
  }

  async expect(type: string, ms = 5000): Promise<Msg> {
    const m = await this.next(ms);
    assert.equal(m.type, type, `expected ${type}, got ${JSON.stringify(m)}`);
    return m;
  }

  /** Waits for the close (bounded). */
  async waitClosed(ms: number): Promise<{ code: number; at: number }> {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error(`not closed within ${ms} ms`);
      await sleep(20);
    }
    return this.closed;
  }

  send(m: unknown): void {
    this.ws.send(JSON.stringify(m));
  }

  close(): void {
    this.ws.terminate();
  }
}

// ---------------------------------------------------------------------------------------------

const reasons = [
  missingTool('nginx', ['-v'], 'nginx'),
  haveOpenssl() ? undefined : 'openssl is not installed (Debian: apt-get install openssl)',
];

describe('deploy/nginx/strangers.conf in front of two nodes on one Redis', skipUnlessCI(reasons.find((r) => r !== undefined)), () => {
  const shipped = repoFile(SHIPPED);
  const cleanups: Array<() => Promise<void> | void> = [];
  let certs: TestCertificates;
  let ca: string;
  let redisUrl: string;
  let https: string; // https://localhost:PORT (the page's origin)
  let wss: string;
  let plainPort: number;
  let portA: number;
  let portB: number;
  let metricsA: number;
  let metricsB: number;
  let nodeA: ServeProcess;
  let nodeB: ServeProcess;
  // The second nginx (the scaled-down timeouts) in front of node C alone.
  let wss2: string;
  let portC: number;
  let nodeC: ServeProcess;
  const heartbeat = '1s';

  const abArgs = (port: number, internal: number): string[] => [
    '--host', '127.0.0.1', '--port', String(port), '--redis', redisUrl, '--trust-proxy',
    '--heartbeat', heartbeat, '--gate', 'on', '--pow-cost', '5', '--internal-port', String(internal),
    '--rate-limit', '0', '--log-level', 'info',
  ];
  const startB = (): Promise<ServeProcess> => ServeProcess.start(abArgs(portB, metricsB), { STRANGERS_SECRET: SECRET });

  before(async () => {
    const redis = await sharedRedis();
    if ('reason' in redis) throw new Error(redis.reason);
    cleanups.push(() => redis.stop());
    redisUrl = withDb(redis.url, 7);
    certs = makeTestCertificates();
    cleanups.push(() => certs.remove());
    ca = readFileSync(certs.ca, 'utf8');

    [portA, portB, portC, metricsA, metricsB] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    [nodeA, nodeB] = await Promise.all([
      ServeProcess.start(abArgs(portA, metricsA), { STRANGERS_SECRET: SECRET }),
      startB(),
    ]);
    cleanups.push(async () => void (await nodeA.stop('SIGKILL')), async () => void (await nodeB.stop('SIGKILL')));

    const [httpsPort, httpPort, https2Port, http2Port] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    plainPort = httpPort;
    const conf = render(shipped, { upstreams: [portA, portB], httpPort, httpsPort, cert: certs.server.cert, key: certs.server.key });
    const nginx = await Nginx.start(conf, httpsPort);
    cleanups.push(() => nginx.stop());
    https = `https://localhost:${httpsPort}`;
    wss = `wss://localhost:${httpsPort}/ws`;

    // The shipped ratio of WebSocket timeout to heartbeat, in seconds instead of minutes.
    const shippedTimeout = nginxSeconds(/proxy_read_timeout (\S+);/.exec(shipped)![1]!);
    const scaled = `${shippedTimeout / (serverConfigDefaults.heartbeatMs / 1000)}s`;
    const conf2 = render(shipped, { upstreams: [portC], httpPort: http2Port, httpsPort: https2Port, cert: certs.server.cert, key: certs.server.key, wsTimeout: scaled });
    const nginx2 = await Nginx.start(conf2, https2Port);
    cleanups.push(() => nginx2.stop());
    wss2 = `wss://localhost:${https2Port}/ws`;
  });

  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  /** Open connections on a node, from its /metrics (internal port). */
  async function connectionsOn(metricsPort: number): Promise<number> {
    const r = await fetchVia(`http://127.0.0.1:${metricsPort}/metrics`);
    const m = /^strangers_connections (\d+)$/m.exec(r.body);
    assert.ok(m, 'strangers_connections in /metrics');
    return Number(m[1]);
  }

  /** A session through nginx, as the page gets one: challenge, solve, POST. Returns the cookie pair. */
  async function session(localAddress: string): Promise<{ cookie: string; setCookie: string }> {
    const c = await fetchVia(`${https}/session/challenge`, { ca, localAddress });
    assert.equal(c.status, 200, c.body);
    const challenge = JSON.parse(c.body) as Challenge;
    const solution = await solveChallenge({ challenge, deriveKey });
    assert.ok(solution);
    const body = JSON.stringify({ altcha: btoa(JSON.stringify({ challenge, solution })) });
    const r = await fetchVia(`${https}/session`, { ca, localAddress, method: 'POST', headers: { 'content-type': 'application/json', origin: https }, body });
    assert.equal(r.status, 200, r.body);
    const setCookie = String(r.headers['set-cookie']);
    return { cookie: setCookie.split(';')[0]!, setCookie };
  }

  /** A user through nginx from `localAddress`: a session, then the WebSocket and its welcome. */
  async function user(localAddress: string): Promise<{ chat: Chat; cookie: string; resume: string }> {
    const { cookie } = await session(localAddress);
    const chat = await Chat.open(wss, { ca, origin: https, cookie, localAddress });
    const welcome = await chat.expect('welcome');
    return { chat, cookie, resume: welcome.resume as string };
  }

  async function pairUp(a: Chat, b: Chat): Promise<void> {
    a.send({ type: 'find' });
    await a.expect('searching');
    b.send({ type: 'find' });
    await b.expect('searching');
    await a.expect('matched');
    await b.expect('matched');
  }

  async function talk(a: Chat, b: Chat, text: string): Promise<void> {
    a.send({ type: 'msg', text: `${text} a→b` });
    assert.equal((await b.expect('msg')).text, `${text} a→b`);
    b.send({ type: 'msg', text: `${text} b→a` });
    assert.equal((await a.expect('msg')).text, `${text} b→a`);
  }

  it('renders with only upstreams, listen ports and certificates changed; WebSocket timeouts exceed twice the default heartbeat', () => {
    // render() already asserted that each rule matched once; the timeouts from the text:
    const ws = /location = \/ws \{([^}]*)\}/.exec(shipped);
    assert.ok(ws, 'a `location = /ws` block');
    for (const d of ['proxy_read_timeout', 'proxy_send_timeout']) {
      const m = new RegExp(`${d} (\\S+);`).exec(ws[1]!);
      assert.ok(m, `${d} in location = /ws`);
      const s = nginxSeconds(m[1]!);
      assert.ok(s > (2 * serverConfigDefaults.heartbeatMs) / 1000, `${d} ${s}s must exceed 2 x the default heartbeat (${serverConfigDefaults.heartbeatMs / 1000}s)`);
    }
    assert.match(ws[1]!, /proxy_set_header Upgrade \$http_upgrade;/);
    assert.match(ws[1]!, /proxy_set_header Connection \$connection_upgrade;/);
    assert.match(ws[1]!, /proxy_set_header Host \$http_host;/, 'Host with its port: the Origin check and the CSP need it');
    assert.match(ws[1]!, /proxy_set_header X-Forwarded-For \$remote_addr;/, 'overwritten, never appended to what the client sent');
  });

  it('serves the page over HTTPS (CSP names its wss:// origin, HSTS), redirects HTTP, refuses /metrics and /admin', async () => {
    const page = await fetchVia(`${https}/`, { ca });
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.match(page.body, /<title>Strangers/);
    assert.match(String(page.headers['content-security-policy']), new RegExp(`connect-src [^;]*wss://localhost:${new URL(https).port}`));
    assert.match(String(page.headers['strict-transport-security']), /max-age=\d+/);
    assert.equal((await fetchVia(`${https}/healthz`, { ca })).status, 200);
    assert.equal((await fetchVia(`${https}/readyz`, { ca })).status, 200);
    for (const path of ['/metrics', '/admin/', '/admin/reports']) {
      assert.equal((await fetchVia(`${https}${path}`, { ca })).status, 404, path);
    }
    const plain = await fetchVia(`http://localhost:${plainPort}/some/path?x=1`);
    assert.equal(plain.status, 301);
    assert.equal(plain.headers.location, 'https://localhost/some/path?x=1');
  });

  it('gives a session with a Secure cookie and carries wss:// chat between users on different nodes', async () => {
    const s = await session('127.0.0.2');
    assert.match(s.setCookie, /; Secure/, 'nginx says X-Forwarded-Proto: https and the nodes trust it');
    assert.match(s.setCookie, /HttpOnly/);
    // Without a session: 401; from a foreign page: 403; the page's own origin (with its port): 101.
    assert.equal(await Chat.status(wss, { ca, origin: https }), 401);
    assert.equal(await Chat.status(wss, { ca, origin: 'https://evil.example', cookie: s.cookie }), 403);

    const before = [await connectionsOn(metricsA), await connectionsOn(metricsB)];
    const a = await Chat.open(wss, { ca, origin: https, cookie: s.cookie, localAddress: '127.0.0.2' });
    await a.expect('welcome');
    const b = (await user('127.0.0.3')).chat;
    const afterOpen = [(await connectionsOn(metricsA)) - before[0]!, (await connectionsOn(metricsB)) - before[1]!];
    assert.deepEqual(afterOpen, [1, 1], 'least_conn put one user on each node');
    await pairUp(a, b);
    await talk(a, b, 'hello across nodes');
    a.close();
    b.close();
  });

  it('takes X-Forwarded-For only with --trust-proxy, and never the address a client wrote', async () => {
    const args = ['--host', '127.0.0.1', '--port', String(portC), '--gate', 'off', '--max-per-ip', '1', '--heartbeat', heartbeat, '--log-level', 'info'];
    // With --trust-proxy: each client is its own address, whatever X-Forwarded-For it sends.
    nodeC = await ServeProcess.start([...args, '--trust-proxy']);
    try {
      const forged = (ip: string) => ({ ca, localAddress: '127.0.0.2', headers: { 'x-forwarded-for': ip } });
      const first = await Chat.open(wss2, forged('203.0.113.7'));
      await first.expect('welcome');
      assert.equal(await Chat.status(wss2, forged('198.51.100.9')), 429, 'the same client with another forged address is still the same address');
      const other = await Chat.open(wss2, { ca, localAddress: '127.0.0.3' });
      await other.expect('welcome');
      first.close();
      other.close();
    } finally {
      await nodeC.stop();
    }
    // Without it: every client is nginx's address, so the second one is over the limit of 1.
    nodeC = await ServeProcess.start(args);
    try {
      const first = await Chat.open(wss2, { ca, localAddress: '127.0.0.2' });
      await first.expect('welcome');
      assert.equal(await Chat.status(wss2, { ca, localAddress: '127.0.0.3' }), 429);
      first.close();
    } finally {
      await nodeC.stop();
    }
  });

  it('keeps idle connections open past the proxy timeouts, because the heartbeat keeps them busy', async () => {
    const scaledTimeout = nginxSeconds(/proxy_read_timeout (\S+);/.exec(shipped)![1]!) / (serverConfigDefaults.heartbeatMs / 1000);
    // A quiet connection is pinged after each silent heartbeat interval; the pong makes the next
    // interval not silent, so a ping comes every two intervals: the longest gap the proxy sees.
    const hold = async (chat: Chat, ms: number): Promise<void> => {
      await sleep(ms);
      assert.equal(chat.closed, undefined, 'still open');
      const minPings = Math.floor(ms / 2000) - 1;
      assert.ok(chat.pings >= minPings, `${chat.pings} pings in ${ms} ms (heartbeat 1 s)`);
      chat.send({ type: 'find' });
      await chat.expect('searching');
      chat.close();
    };
    // The shipped config as it is, nodes with a 1 s heartbeat; and the shipped ratio of timeout to
    // heartbeat scaled down (node C: 1 s heartbeat behind a `scaledTimeout` s proxy timeout), held
    // for twice that timeout.
    nodeC = await ServeProcess.start(['--host', '127.0.0.1', '--port', String(portC), '--gate', 'off', '--heartbeat', heartbeat, '--log-level', 'info']);
    try {
      const shippedUser = (await user('127.0.0.4')).chat;
      const scaledUser = await Chat.open(wss2, { ca });
      await scaledUser.expect('welcome');
      await Promise.all([hold(shippedUser, 5000), hold(scaledUser, scaledTimeout * 2000)]);
    } finally {
      await nodeC.stop();
    }
    // The control: without a heartbeat, nginx cuts the idle connection after its timeout.
    nodeC = await ServeProcess.start(['--host', '127.0.0.1', '--port', String(portC), '--gate', 'off', '--heartbeat', '0', '--log-level', 'info']);
    try {
      const quiet = await Chat.open(wss2, { ca });
      await quiet.expect('welcome');
      const opened = Date.now();
      const closed = await quiet.waitClosed(scaledTimeout * 2000);
      const after = (closed.at - opened) / 1000;
      assert.ok(after >= scaledTimeout * 0.8, `cut after ${after} s, the timeout is ${scaledTimeout} s`);
      assert.equal(quiet.pings, 0);
    } finally {
      await nodeC.stop();
    }
  });

  it('survives a node restart behind it: the conversation moves to the other node (resume), and the node comes back', async () => {
    assert.deepEqual([await connectionsOn(metricsA), await connectionsOn(metricsB)], [0, 0], 'no user left from earlier tests');
    const onB = async (): Promise<number> => connectionsOn(metricsB);
    const u1 = await user('127.0.0.5');
    const u1OnB = (await onB()) === 1;
    const u2 = await user('127.0.0.6');
    assert.deepEqual([await connectionsOn(metricsA), await onB()], [1, 1], 'one user on each node');
    const [first, second] = u1OnB ? [u2, u1] : [u1, u2]; // `second` is on node B
    await pairUp(first.chat, second.chat);
    await talk(first.chat, second.chat, 'before');

    // SIGTERM drains node B: its user's WebSocket is closed with 1012 (through nginx), its place is
    // held, and its partner on node A hears `away` through Redis.
    const stopping = nodeB.stop();
    assert.equal((await second.chat.waitClosed(5000)).code, 1012);
    assert.deepEqual(await first.chat.expect('away', 5000), { type: 'away' });
    first.chat.send({ type: 'msg', text: 'still there?' });

    // The user reconnects with the same session and resumes: nginx sends it to node A (B takes
    // no new connections), B hands the place over, and the conversation goes on.
    const back = await Chat.open(wss, { ca, origin: https, cookie: second.cookie, localAddress: '127.0.0.6' });
    await back.expect('welcome');
    back.send({ type: 'resume', token: second.resume });
    assert.equal((await back.expect('resumed')).state, 'chatting');
    let m = await back.expect('msg');
    while (m.text !== 'still there?') m = await back.expect('msg'); // the replay of what it had not acknowledged
    assert.deepEqual(await first.chat.expect('back', 5000), { type: 'back' });
    await talk(first.chat, back, 'during');
    assert.deepEqual(await stopping, { code: 0, signal: null });
    assert.ok(!first.chat.messages.some((x) => x.type === 'ended'), 'no conversation ended');

    // Node B restarts on its port; nginx sends it new users again (after its fail_timeout at most).
    nodeB = await startB();
    const deadline = Date.now() + 15_000;
    let third: Chat | undefined;
    for (let i = 7; Date.now() < deadline; i++) {
      const u = await user(`127.0.0.${i}`);
      if ((await onB()) === 1) {
        third = u.chat;
        break;
      }
      u.chat.close();
      await sleep(500);
    }
    assert.ok(third, 'a new user reached the restarted node within 15 s');
    first.chat.send({ type: 'leave' });
    assert.equal((await back.expect('ended')).reason, 'left');
    await pairUp(first.chat, third);
    await talk(first.chat, third, 'after');
    for (const c of [first.chat, back, third]) c.close();
  });
});
