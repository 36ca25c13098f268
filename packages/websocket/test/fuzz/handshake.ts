/**
 * Fuzz targets of the HTTP upgrade checks (src/ws/handshake.ts, src/ws/server.ts).
 *
 * `handshake`: `checkUpgrade` on requests built field by field (method, URL, HTTP version, the
 * handshake headers valid, absent, altered or arbitrary, extra headers) against rules with and
 * without a path, origins and subprotocols. Invariants: never throws; the answer is the one an
 * independent reading of RFC 6455 4.2.1 gives (in the order the checks are documented); an accept
 * carries a well-formed key and a subprotocol both sides offered, and its 101 response has the
 * right `Sec-WebSocket-Accept`; a refusal is a 4xx status with a name, and its HTTP response is
 * well formed (status line, headers without CR/LF, Content-Length equal to the body).
 *
 * `handshake-socket`: raw request bytes (a request line and headers built from valid and invalid
 * parts, sometimes a huge header, bytes after the head, mutated bytes) sent to a WebSocketServer
 * on a real node:http server, once whole and once cut in pieces. Invariants: the server answers
 * with an HTTP status line (a 101 only with the right accept key) or closes without a byte, within
 * a bounded time, the same way for both deliveries; once our sockets are gone it holds none of its
 * own (no leaked file descriptor); afterwards it still upgrades a valid request.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http, { IncomingMessage, STATUS_CODES } from 'node:http';
import net, { Socket, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import fc from 'fast-check';
import { WebSocketServer, acceptResponse, checkUpgrade, errorResponse } from '@strangers/websocket';
import { rarely, runProperty, type FuzzBudget, type FuzzReport, type FuzzTarget } from './fuzz.js';
import { mutate } from './receiver.js';

type Rules = Parameters<typeof checkUpgrade>[1];
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

// ---- checkUpgrade -----------------------------------------------------------------------------

interface RequestSpec {
  readonly method: string;
  readonly url: string | undefined;
  readonly major: number;
  readonly minor: number;
  readonly headers: Readonly<Record<string, string>>;
}

/** A value: usually one that passes, sometimes absent, altered or arbitrary. */
function headerArb(valid: fc.Arbitrary<string>): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    { weight: 12, arbitrary: valid },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: valid.chain((v) => alteredArb(v)) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
  );
}

/** A string near `v`: case changed, padded, cut, or with a byte changed. */
function alteredArb(v: string): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constant(v.toUpperCase()),
    fc.constant(` ${v} `),
    fc.constant(`${v},`),
    fc.constant(`x${v}`),
    fc.nat(Math.max(0, v.length - 1)).map((n) => v.slice(0, n)),
    fc.tuple(fc.nat(Math.max(0, v.length - 1)), fc.integer({ min: 0x20, max: 0x7e })).map(([i, c]) => v.slice(0, i) + String.fromCharCode(c) + v.slice(i + 1)),
  );
}

const keyArb = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('base64'));
const OFFERABLE = ['v2', 'v1', 'x-other'];

const requestArb: fc.Arbitrary<RequestSpec> = fc
  .record({
    method: fc.oneof({ weight: 10, arbitrary: fc.constant('GET') }, { weight: 1, arbitrary: fc.constantFrom('POST', 'HEAD', 'get', 'OPTIONS', '') }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }) }),
    url: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom('/ws', '/ws?x=1', '/ws?', '/') },
      { weight: 1, arbitrary: fc.constantFrom('/WS', '/ws/', '//ws', '*', 'http://h/ws', '') },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
      { weight: 1, arbitrary: fc.constant(undefined) },
    ),
    version: fc.oneof({ weight: 10, arbitrary: fc.constant([1, 1] as const) }, { weight: 2, arbitrary: fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 12 })) }),
    host: headerArb(fc.constantFrom('127.0.0.1', 'example.com:8080', '')),
    upgrade: headerArb(fc.constantFrom('websocket', 'WebSocket', 'h2c, websocket')),
    connection: headerArb(fc.constantFrom('Upgrade', 'upgrade', 'keep-alive, Upgrade')),
    version13: headerArb(fc.constant('13')),
    key: headerArb(keyArb),
    origin: fc.option(headerArb(fc.constantFrom('https://good.example', 'https://evil.example')), { freq: 2 }),
    protocol: fc.option(fc.subarray(OFFERABLE).map((p) => p.join(', ')), { freq: 2 }),
    extra: fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }).map((s) => s.toLowerCase()), fc.string({ maxLength: 20 }), { maxKeys: 3 }),
  })
  .map((r) => {
    const headers: Record<string, string> = { ...r.extra };
    const set = (name: string, value: string | undefined | null): void => {
      if (value === undefined || value === null) delete headers[name];
      else headers[name] = value;
    };
    set('host', r.host);
    set('upgrade', r.upgrade);
    set('connection', r.connection);
    set('sec-websocket-version', r.version13);
    set('sec-websocket-key', r.key);
    set('origin', r.origin);
    set('sec-websocket-protocol', r.protocol);
    return { method: r.method, url: r.url, major: r.version[0], minor: r.version[1], headers };
  });

const rulesArb: fc.Arbitrary<Rules> = fc.record({
  path: fc.option(fc.constantFrom('/ws', '/'), { nil: undefined }),
  origins: fc.option(fc.constant(new Set(['https://good.example'])), { nil: undefined }),
  protocols: fc.subarray(['v2', 'v1']),
});

/** A real IncomingMessage filled in as Node's parser would (no socket I/O happens). */
function incoming(spec: RequestSpec): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  req.method = spec.method;
  if (spec.url !== undefined) req.url = spec.url;
  req.httpVersionMajor = spec.major;
  req.httpVersionMinor = spec.minor;
  req.httpVersion = `${spec.major}.${spec.minor}`;
  req.headers = { ...spec.headers };
  return req;
}

const hasToken = (value: string | undefined, token: string): boolean =>
  value !== undefined && value.split(',').some((t) => t.trim().toLowerCase() === token);

/** RFC 6455 4.1: the key is base64 of exactly 16 bytes (canonical: 24 characters). */
function validKey(value: string | undefined): boolean {
  if (value === undefined) return false;
  const key = value.trim();
  if (!/^[A-Za-z0-9+/]{22}==$/.test(key)) return false;
  const bytes = Buffer.from(key, 'base64');
  return bytes.length === 16 && bytes.toString('base64') === key;
}

/** The expected answer, read from RFC 6455 4.2.1 and our rules, in the documented order. */
export function expectedAnswer(spec: RequestSpec, rules: Rules): number | { protocol: string } {
  if (spec.method !== 'GET') return 405;
  if (spec.major < 1 || (spec.major === 1 && spec.minor < 1)) return 400;
  // A parsed request always has a URL; a bare IncomingMessage has ''.
  if (rules.path !== undefined && (spec.url ?? '').split('?')[0] !== rules.path) return 404;
  const h = spec.headers;
  if (h.host === undefined) return 400;
  if (!hasToken(h.upgrade, 'websocket')) return 400;
  if (!hasToken(h.connection, 'upgrade')) return 400;
  if (h['sec-websocket-version'] !== '13') return 426;
  if (!validKey(h['sec-websocket-key'])) return 400;
  if (rules.origins !== undefined && (h.origin === undefined || !rules.origins.has(h.origin))) return 403;
  const offered = (h['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  return { protocol: rules.protocols.find((p) => offered.includes(p)) ?? '' };
}

/** Checks an HTTP response head and body for well-formedness; returns its status and headers. */
export function parseResponse(text: string): { status: number; headers: Map<string, string>; body: string } {
  const end = text.indexOf('\r\n\r\n');
  assert.ok(end > 0, 'no end of the header block');
  const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n');
  const m = /^HTTP\/1\.1 (\d{3}) ([^\r\n]+)$/.exec(statusLine);
  assert.ok(m, `bad status line ${JSON.stringify(statusLine)}`);
  const headers = new Map<string, string>();
  for (const line of lines) {
    const i = line.indexOf(': ');
    assert.ok(i > 0, `bad header line ${JSON.stringify(line)}`);
    const name = line.slice(0, i);
    assert.match(name, /^[A-Za-z0-9-]+$/, `bad header name ${JSON.stringify(name)}`);
    assert.doesNotMatch(line, /[\r\n\0]/, 'a control character in a header');
    headers.set(name.toLowerCase(), line.slice(i + 2));
  }
  return { status: Number(m[1]), headers, body: text.slice(end + 4) };
}

/** The `handshake` target's property. */
export function handshakeProperty(): fc.IProperty<[RequestSpec, Rules]> {
  return fc.property(requestArb, rulesArb, (spec, rules) => {
    const result = checkUpgrade(incoming(spec), rules);
    const expected = expectedAnswer(spec, rules);
    if (result.ok) {
      assert.deepEqual({ protocol: result.protocol }, expected, `accepted; expected ${JSON.stringify(expected)}`);
      assert.ok(validKey(result.key), `accepted the key ${JSON.stringify(result.key)}`);
      const res = parseResponse(acceptResponse(result.key, result.protocol));
      assert.equal(res.status, 101);
      assert.equal(res.headers.get('sec-websocket-accept'), createHash('sha1').update(result.key + GUID).digest('base64'));
      assert.equal(res.headers.get('sec-websocket-protocol'), result.protocol === '' ? undefined : result.protocol);
      assert.equal(res.body, '');
    } else {
      assert.equal(result.status, expected, `refused with ${result.status} (${result.message}); expected ${JSON.stringify(expected)}`);
      assert.ok(result.status >= 400 && result.status < 500 && STATUS_CODES[result.status] !== undefined, `status ${result.status}`);
      const res = parseResponse(errorResponse(result.status, result.message, result.headers));
      assert.equal(res.status, result.status);
      assert.equal(Number(res.headers.get('content-length')), Buffer.byteLength(res.body));
      assert.equal(res.headers.get('connection'), 'close');
    }
  });
}

// ---- raw requests to a real server ------------------------------------------------------------

/** How long a request may take to be answered or closed once we ended our side. */
const ANSWER_MS = 3000;

const asciiArb = (maxLength: number): fc.Arbitrary<string> => fc.string({ unit: 'binary-ascii', maxLength });

export const rawRequestArb = fc
  .record({
    method: fc.oneof({ weight: 12, arbitrary: fc.constant('GET') }, { weight: 1, arbitrary: fc.constantFrom('POST', 'HEAD', 'PUT', 'get', 'G ET', '') }, { weight: 1, arbitrary: asciiArb(8) }),
    target: fc.oneof({ weight: 10, arbitrary: fc.constantFrom('/ws', '/ws?x=1', '/') }, { weight: 1, arbitrary: fc.constantFrom('*', 'http://h/ws', '/a b', '') }, { weight: 1, arbitrary: asciiArb(16) }),
    version: fc.oneof({ weight: 12, arbitrary: fc.constant('HTTP/1.1') }, { weight: 1, arbitrary: fc.constantFrom('HTTP/1.0', 'HTTP/2.0', 'HTTP/1.2', 'HTTP/1', 'http/1.1', '') }, { weight: 1, arbitrary: asciiArb(10) }),
    key: keyArb,
    keep: fc.array(fc.oneof({ weight: 30, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }), { minLength: 7, maxLength: 7 }),
    altered: fc.array(rarely(asciiArb(12), 30), { minLength: 7, maxLength: 7 }),
    extra: fc.oneof({ weight: 4, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(fc.tuple(asciiArb(12), fc.string({ unit: 'binary', maxLength: 24 })), { minLength: 1, maxLength: 3 }) }),
    huge: rarely(fc.constantFrom(9000, 17_000, 70_000), 30),
    lineEnd: fc.oneof({ weight: 10, arbitrary: fc.constant('\r\n') }, { weight: 1, arbitrary: fc.constant('\n') }),
    after: fc.uint8Array({ maxLength: 40 }),
    mutations: fc.oneof({ weight: 3, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(fc.record({ op: fc.constantFrom('flip' as const, 'set' as const, 'insert' as const, 'delete' as const, 'truncate' as const), at: fc.nat(), value: fc.nat(255) }), { minLength: 1, maxLength: 3 }) }),
    cuts: fc.array(fc.nat(), { minLength: 1, maxLength: 6 }),
  })
  .map((r) => {
    const base: [string, string][] = [
      ['Host', '127.0.0.1'],
      ['Upgrade', 'websocket'],
      ['Connection', 'Upgrade'],
      ['Sec-WebSocket-Key', r.key],
      ['Sec-WebSocket-Version', '13'],
      ['Sec-WebSocket-Protocol', 'v1, v2'],
      ['Origin', 'https://good.example'],
    ];
    const lines = base.flatMap(([name, value], i) => (r.keep[i] ? [`${name}: ${r.altered[i] ?? value}`] : []));
    for (const [name, value] of r.extra) lines.push(`${name}: ${value}`);
    if (r.huge !== null) lines.push(`X-Huge: ${'a'.repeat(r.huge)}`);
    const head = `${r.method} ${r.target} ${r.version}${r.lineEnd}${lines.map((l) => l + r.lineEnd).join('')}${r.lineEnd}`;
    const bytes = mutate(Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(r.after)]), r.mutations);
    return { bytes, cuts: r.cuts };
  });

/** The Sec-WebSocket-Key values in a raw request's head (as Node reads them: trimmed). */
function sentKeys(bytes: Buffer): string[] {
  const text = bytes.toString('latin1');
  const lines = text.split(/\r?\n/);
  const end = lines.indexOf('', 1);
  return lines
    .slice(1, end === -1 ? lines.length : end)
    .map((line) => /^sec-websocket-key:[ \t]*(.*?)[ \t]*$/i.exec(line)?.[1])
    .filter((k): k is string => k !== undefined);
}

/** What the server did with one request: its status (and accept key), or a close without a byte. */
interface Answer {
  readonly status: number | 'closed';
  readonly accept: string | undefined;
}

/** Sends `bytes` in pieces cut at `cuts`, ends our side, and reads the answer (bounded). */
export async function exchange(port: number, bytes: Buffer, cuts: readonly number[]): Promise<Answer> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  socket.setNoDelay(true);
  socket.on('error', () => {}); // a reset after the server answered and closed is fine
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  try {
    let from = 0;
    for (const to of [...cuts, bytes.length]) {
      if (to <= from) continue;
      // Stop writing once the server answered: it may have closed, and our bytes would reset.
      if (received.length > 0 || socket.destroyed || !socket.writable) break;
      await new Promise<void>((resolve) => socket.write(bytes.subarray(from, to), () => resolve()));
      await new Promise((resolve) => setImmediate(resolve));
      from = to;
    }
    if (!socket.destroyed) socket.end(); // the server sees the end of the request
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      closed.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), ANSWER_MS))),
    ]);
    clearTimeout(timer);
    const text = Buffer.concat(received).toString('latin1');
    if (text.startsWith('HTTP/1.1 101 ')) {
      // An upgraded connection stays open after our FIN only until the server ends it too.
      const accept = /\r\nsec-websocket-accept: ([^\r]+)\r\n/i.exec(text)?.[1];
      return { status: 101, accept };
    }
    assert.equal(timedOut, false, `no answer and no close within ${ANSWER_MS} ms; got ${JSON.stringify(text.slice(0, 80))}`);
    if (text.length === 0) return { status: 'closed', accept: undefined };
    const m = /^HTTP\/1\.[01] (\d{3}) /.exec(text);
    assert.ok(m, `not an HTTP status line: ${JSON.stringify(text.slice(0, 80))}`);
    const status = Number(m[1]);
    assert.ok(status >= 400 && status <= 599, `status ${status} for a refused upgrade`);
    return { status, accept: undefined };
  } finally {
    socket.destroy();
  }
}

/** A WebSocketServer on a node:http server whose plain requests get 400, as the app's do. */
export interface FuzzServer {
  readonly port: number;
  /** Sockets the server still holds (open or half-closed, refused upgrades included). */
  held(): Promise<number>;
  close(): Promise<void>;
}

export async function startFuzzServer(): Promise<FuzzServer> {
  const server = http.createServer((_req, res) => {
    res.writeHead(400, { 'Content-Type': 'text/plain', Connection: 'close' });
    res.end('expected a WebSocket upgrade request\n');
  });
  const wss = new WebSocketServer({
    handler: { message: (conn, data, isBinary) => void conn.send(data, isBinary), close() {} },
    path: '/ws',
    protocols: ['v2', 'v1'],
    origins: ['https://good.example'],
    admit: (req) => (req.headers['x-refuse'] !== undefined ? 429 : undefined),
    heartbeatIntervalMs: 0,
    closeTimeoutMs: 500,
    handshakeTimeoutMs: 1000,
  }).attach(server);
  // As src/http does: a request Node cannot parse gets a 400 sent with a FIN. (Node's default
  // destroys the socket at once, which resets the answer away when more bytes are in flight.)
  server.on('clientError', (_err: Error, socket: Duplex) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  // Every socket, so that close() ends even if the server leaked one (a failing run must report).
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    held: () => new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n)))),
    async close() {
      await wss.close();
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Waits (bounded) until the server holds at most `base` sockets; returns how many it holds. */
async function released(server: FuzzServer, base: number, withinMs: number): Promise<number> {
  const deadline = Date.now() + withinMs;
  let n = await server.held();
  while (n > base && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    n = await server.held();
  }
  return n;
}

/** The `handshake-socket` target's property, against a running server. */
export function handshakeSocketProperty(server: FuzzServer): fc.IAsyncProperty<[{ bytes: Buffer; cuts: number[] }]> {
  const { port } = server;
  return fc.asyncProperty(rawRequestArb, async ({ bytes, cuts }) => {
    // Sockets leaked by an earlier input stay: count only this input's (shrinking needs that).
    const base = await released(server, 0, 600);
    const whole = await exchange(port, bytes, []);
    if (whole.status === 101) {
      // The key actually sent: mutations may have changed it (a 101 implies exactly one).
      const keys = sentKeys(bytes);
      assert.equal(keys.length, 1, `a 101 for a request with ${keys.length} keys`);
      assert.equal(whole.accept, createHash('sha1').update(keys[0]! + GUID).digest('base64'), 'a 101 with a wrong accept key');
    }
    const positions = bytes.length < 2 ? [] : [...new Set(cuts.map((c) => 1 + (c % (bytes.length - 1))))].sort((a, b) => a - b);
    const split = await exchange(port, bytes, positions);
    assert.deepEqual(split, whole, `cut at ${positions.join(',')}, the answer differs`);
    // Our sockets are gone: the server must let go of its side (close timeout 500 ms).
    const left = await released(server, base, 1500);
    assert.ok(left <= base, `the server still holds ${left - base} socket(s) of this input`);
  });
}

/** After the run: the server still upgrades a valid request. */
async function stillServes(port: number): Promise<void> {
  const key = Buffer.alloc(16, 7).toString('base64');
  const request = `GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\n` +
    `Sec-WebSocket-Version: 13\r\nOrigin: https://good.example\r\n\r\n`;
  const answer = await exchange(port, Buffer.from(request), []);
  assert.equal(answer.status, 101, 'the server no longer upgrades a valid request');
}

export const handshakeTargets: readonly FuzzTarget[] = [
  {
    name: 'handshake',
    description: 'checkUpgrade: requests built field by field against rules; answers checked against RFC 6455 4.2.1',
    run: (budget: FuzzBudget) => runProperty('handshake', handshakeProperty(), budget),
  },
  {
    name: 'handshake-socket',
    description: 'raw request bytes to a WebSocketServer on node:http, whole and cut: an HTTP status or a close, never a hang',
    async run(budget: FuzzBudget): Promise<FuzzReport> {
      const server = await startFuzzServer();
      try {
        const report = await runProperty('handshake-socket', handshakeSocketProperty(server), budget);
        if (report.failed) return report;
        try {
          await stillServes(server.port);
          return report;
        } catch (error) {
          return { ...report, failed: true, report: `after ${report.runs} inputs: ${(error as Error).message}` };
        }
      } finally {
        await server.close();
      }
    },
  },
];
