/**
 * The session gate on real sockets: challenge → solve (altcha-lib's solver in Node) → POST
 * /session → cookie → WebSocket; every refusal (401, 4xx codes, 413 without reading the body),
 * the adaptive cost under a flood and a small bot farm, max connections per person, metrics, and
 * `strangers bench` against a gated server.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { solveChallenge, type Challenge } from 'altcha-lib';
import { deriveKey } from 'altcha-lib/algorithms/pbkdf2';
import { MemoryEngine, MemoryHub } from '../../src/engine/memory.js';
import type { StrangersServer } from '../../src/http/server.js';
import { connect } from '@strangers/websocket';
import { Client, startServer, stopServersAfterEachTest } from './helpers.js';

stopServersAfterEachTest();

const SECRET = 'a-test-secret-of-at-least-32-characters';
/** Cheap challenges (tests prove the logic; docs/safety.md has the measured cost of the default). */
const COST = 5;
const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

const gated = (extra: Parameters<typeof startServer>[0] = {}): Promise<StrangersServer> =>
  startServer({ gate: true, powCost: COST, secret: SECRET, trustProxy: true, ...extra });

/** Headers that make the server see the client at `ip` (the servers here trust the proxy header). */
const from = (ip: string): Record<string, string> => ({ 'x-forwarded-for': ip });

async function getChallenge(base: string, ip = '10.0.0.1'): Promise<Challenge> {
  const res = await fetch(`${base}/session/challenge`, { headers: from(ip) });
  assert.equal(res.status, 200);
  return (await res.json()) as Challenge;
}

/** The payload as the ALTCHA widget makes it: base64 of the JSON {challenge, solution}. */
async function solve(challenge: Challenge): Promise<string> {
  const solution = await solveChallenge({ challenge, deriveKey });
  assert.ok(solution, 'solved');
  return btoa(JSON.stringify({ challenge, solution }));
}

async function post(base: string, body: string, ip = '10.0.0.1'): Promise<{ status: number; body: Record<string, unknown>; cookie: string | null }> {
  const res = await fetch(`${base}/session`, { method: 'POST', headers: { 'content-type': 'application/json', ...from(ip) }, body });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, cookie: res.headers.get('set-cookie') };
}

async function newSession(base: string, ip = '10.0.0.1'): Promise<{ token: string; expiresAt: number; cookie: string }> {
  const r = await post(base, JSON.stringify({ altcha: await solve(await getChallenge(base, ip)) }), ip);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return { token: r.body.token as string, expiresAt: r.body.expiresAt as number, cookie: r.cookie ?? '' };
}

/** The HTTP status a WebSocket upgrade is refused with (0 if it was accepted). */
async function upgradeStatus(base: string, query = '', headers: Record<string, string> = {}): Promise<number> {
  try {
    const conn = await connect(`${base.replace(/^http/, 'ws')}/ws${query}`, { handler: { message() {}, close() {} }, headers, timeoutMs: 5000 });
    conn.terminate();
    return 0;
  } catch (err) {
    return (err as { status?: number }).status ?? -1;
  }
}

function personsOf(s: StrangersServer): string[] {
  return [...s.wss.connections()].map((c) => c.data!.person);
}

test('challenge → solve → POST /session: token, cookie flags; the upgrade takes the cookie or ?session=', async () => {
  const s = await gated();
  const res = await fetch(`${s.url}/session/challenge`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
  const challenge = (await res.json()) as Challenge;
  assert.equal(challenge.parameters.algorithm, 'PBKDF2/SHA-256');
  assert.equal(challenge.parameters.cost, COST);
  assert.equal(challenge.parameters.keyPrefix, '000');

  const r = await post(s.url, JSON.stringify({ altcha: await solve(challenge) }));
  assert.equal(r.status, 200);
  assert.deepEqual(Object.keys(r.body).sort(), ['expiresAt', 'token']);
  const token = r.body.token as string;
  assert.ok(Math.abs((r.body.expiresAt as number) - (Date.now() + 86_400_000)) < 10_000);
  assert.match(r.cookie ?? '', new RegExp(`^strangers_session=${token.replace(/\./g, '\\.')}; HttpOnly; SameSite=Strict; Path=/; Max-Age=86399|86400$`));
  assert.doesNotMatch(r.cookie ?? '', /Secure/, 'no Secure flag over plain HTTP');

  const byCookie = await Client.open(s.url, { cookie: `theme=dark; strangers_session=${token}` });
  await byCookie.expect('welcome');
  const byQuery = await Client.open(s.url, undefined, undefined, `?session=${token}`);
  await byQuery.expect('welcome');
  // The person is the session's, the same on every connection, and never sent to anyone.
  const persons = personsOf(s);
  assert.equal(persons.length, 2);
  assert.equal(persons[0], persons[1]);
  assert.equal(persons[0], token.split('.')[1]);
  const status = await fetch(`${s.url}/session`, { headers: { cookie: `strangers_session=${token}` } });
  assert.deepEqual(await status.json(), { expiresAt: r.body.expiresAt });
  assert.equal((await fetch(`${s.url}/session`)).status, 401);
});

test('no session, a forged, altered, foreign or expired token: 401 before any frame', async () => {
  const s = await gated({ sessionTtlMs: 1500 });
  const { token } = await newSession(s.url);
  const parts = token.split('.');
  const altered = [parts[0], parts[1]!.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')), ...parts.slice(2)].join('.');
  const longer = [...parts.slice(0, 3), String(Date.now() + 86_400_000), parts[4]].join('.');
  const other = await gated({ secret: 'another-secret-of-at-least-32-characters' });
  const foreign = (await newSession(other.url)).token;
  assert.equal(await upgradeStatus(s.url), 401);
  assert.equal(await upgradeStatus(s.url, '?session=s1.nope'), 401);
  assert.equal(await upgradeStatus(s.url, `?session=${altered}`), 401);
  assert.equal(await upgradeStatus(s.url, `?session=${longer}`), 401);
  assert.equal(await upgradeStatus(s.url, `?session=${foreign}`), 401);
  assert.equal(await upgradeStatus(s.url, '', { cookie: `strangers_session=${altered}` }), 401);
  assert.equal(await upgradeStatus(s.url, `?session=${token}`), 0, 'the genuine token works');
  await new Promise((r) => setTimeout(r, 1600));
  assert.equal(await upgradeStatus(s.url, `?session=${token}`), 401, 'expired');
  // The refusal is a complete HTTP response, no WebSocket frames.
  const raw = await rawRequest(s.url, 'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
  assert.match(raw, /^HTTP\/1\.1 401 Unauthorized\r\n/);
  assert.match(raw, /\r\n\r\na session is required\n$/);
  const metrics = await (await fetch(`${s.url}/metrics`)).text();
  assert.match(metrics, /^strangers_upgrades_unauthorized_total 8$/m);
  assert.match(metrics, /^strangers_sessions_issued_total 1$/m);
});

test('a replayed payload, a tampered challenge, bad JSON, a bad payload: 4xx with a JSON code', async () => {
  const s = await gated();
  const challenge = await getChallenge(s.url);
  const payload = await solve(challenge);
  assert.equal((await post(s.url, JSON.stringify({ altcha: payload }))).status, 200);
  assert.deepEqual(await post(s.url, JSON.stringify({ altcha: payload })), { status: 409, body: { error: 'replayed' }, cookie: null });
  const decoded = JSON.parse(atob(await solve(await getChallenge(s.url)))) as { challenge: Challenge; solution: unknown };
  decoded.challenge.parameters.cost = 1;
  assert.deepEqual((await post(s.url, JSON.stringify({ altcha: btoa(JSON.stringify(decoded)) }))).body, { error: 'invalid_challenge' });
  for (const body of ['{"altcha":', 'null', '[]', '{}', '{"altcha":12}', '{"altcha":"%%%"}', '{"payload":"abc"}']) {
    const r = await post(s.url, body);
    assert.equal(r.status, 400, body);
    assert.deepEqual(r.body, { error: 'bad_request' }, body);
  }
  const wrongMethod = await fetch(`${s.url}/session/challenge`, { method: 'POST' });
  assert.equal(wrongMethod.status, 405);
  assert.deepEqual(await wrongMethod.json(), { error: 'method_not_allowed' });
  const metrics = await (await fetch(`${s.url}/metrics`)).text();
  assert.match(metrics, /^strangers_session_challenges_failed_total\{reason="replayed"\} 1$/m);
  assert.match(metrics, /^strangers_session_challenges_failed_total\{reason="bad_request"\} 7$/m);
  assert.match(metrics, /^strangers_session_challenges_failed_total\{reason="invalid_challenge"\} 1$/m);
});

/** Writes `request` on a raw socket and collects what comes back until the server closes. */
function rawRequest(base: string, request: string | Buffer, after?: (write: (b: string | Buffer) => void) => void): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const sock = netConnect(Number(port), hostname, () => {
      sock.write(request);
      after?.((b) => sock.write(b));
    });
    let out = '';
    sock.on('data', (d) => (out += d.toString('latin1')));
    sock.on('error', (e) => (out !== '' ? resolve(out) : reject(e)));
    sock.on('close', () => resolve(out));
    sock.setTimeout(5000, () => {
      sock.destroy();
      resolve(out);
    });
  });
}

test('a body over the limit is 413 without being read; a slow body does not stall the server', async () => {
  const s = await gated();
  const started = Date.now();
  // Announces 50 MB, sends 1 KB: the answer comes at once, the rest is never waited for.
  const head = `POST /session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n`;
  const declared = await rawRequest(s.url, head + 'x'.repeat(1024));
  assert.match(declared, /^HTTP\/1\.1 413 /);
  assert.match(declared, /\{"error":"too_large"\}$/);
  // Chunked, no length: refused once it passes the limit.
  const chunk = (data: string): string => `${data.length.toString(16)}\r\n${data}\r\n`;
  const chunked = await rawRequest(s.url, `POST /session HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`, (write) => {
    for (let i = 0; i < 8; i++) write(chunk('y'.repeat(1000)));
  });
  assert.match(chunked, /^HTTP\/1\.1 413 /);
  assert.ok(Date.now() - started < 4000, 'answered without waiting for the rest');
  assert.equal((await fetch(`${s.url}/healthz`)).status, 200, 'still serving');
});

test('a flood of challenge requests from one address raises its cost 4x within 30, then 429; another address pays the base', async () => {
  const s = await gated();
  const costs: number[] = [];
  for (let i = 0; i < 50; i++) costs.push((await getChallenge(s.url, '203.0.113.7')).parameters.cost);
  assert.equal(costs[0], COST);
  assert.ok(costs[29]! >= 4 * COST, `30th: ${costs[29]}`);
  assert.equal(costs[49], 16 * COST);
  assert.equal((await getChallenge(s.url, '198.51.100.1')).parameters.cost, COST, 'another address');
  let refused: Response | undefined;
  for (let i = 50; i < 130 && refused === undefined; i++) {
    const res = await fetch(`${s.url}/session/challenge`, { headers: from('203.0.113.7') });
    if (res.status !== 200) refused = res;
    else await res.arrayBuffer();
  }
  assert.equal(refused?.status, 429);
  assert.equal(refused?.headers.get('retry-after'), '60');
  assert.deepEqual(await refused?.json(), { error: 'rate_limited' });
  // The expected work is what the parameters say: cost × 16^len(keyPrefix) iterations.
  const c = await getChallenge(s.url, '198.51.100.1');
  assert.equal(c.parameters.keyPrefix.length, 3);
});

test('a small bot farm from one address is slowed down: the cost of each attempt rises 16x', async (t) => {
  const s = await gated({ powCost: 50 });
  const farm = '192.0.2.66';
  // Five bots fetch challenges as fast as they can (50 in all), then solve the first and the last.
  const fetched: Challenge[] = [];
  await Promise.all(
    Array.from({ length: 5 }, async () => {
      for (let i = 0; i < 10; i++) fetched.push(await getChallenge(s.url, farm));
    }),
  );
  const costs = fetched.map((c) => c.parameters.cost).sort((a, b) => a - b);
  const [first, last] = [fetched.find((c) => c.parameters.cost === costs[0])!, fetched.find((c) => c.parameters.cost === costs[costs.length - 1])!];
  const solved = async (c: Challenge): Promise<{ ms: number; payload: string }> => {
    const t0 = performance.now();
    const solution = await solveChallenge({ challenge: c, deriveKey });
    assert.ok(solution);
    return { ms: performance.now() - t0, payload: btoa(JSON.stringify({ challenge: c, solution })) };
  };
  const a = await solved(first);
  const b = await solved(last);
  // The time of one attempt (what the expected 4096 attempts multiply), measured interleaved
  // and keeping the best of three rounds, so that other load on the machine does not decide it.
  const perAttemptUs = [Infinity, Infinity];
  const salt = new Uint8Array(16);
  for (let round = 0; round < 3; round++) {
    for (const [i, c] of [first, last].entries()) {
      const t0 = performance.now();
      for (let n = 0; n < 100; n++) await deriveKey(c.parameters, salt, new Uint8Array([n, 1, 2, 3]));
      perAttemptUs[i] = Math.min(perAttemptUs[i]!, ((performance.now() - t0) * 1000) / 100);
    }
  }
  const [u1, u2] = perAttemptUs as [number, number];
  t.diagnostic(`farm: cost ${first.parameters.cost} -> ${last.parameters.cost}; per attempt ${u1.toFixed(0)} -> ${u2.toFixed(0)} us; expected per session ${((u1 * 4096) / 1000).toFixed(0)} -> ${((u2 * 4096) / 1000).toFixed(0)} ms (these two solves: ${a.ms.toFixed(0)}, ${b.ms.toFixed(0)} ms)`);
  assert.equal(first.parameters.cost, 50);
  assert.equal(last.parameters.cost, 16 * 50, 'the 50th request of the minute pays 16x');
  // The work is `cost` PBKDF2 iterations per attempt (asserted above); the time it takes here is
  // reported, not asserted: a timing on a shared machine is a benchmark, not a test.
  t.diagnostic(`time per attempt: ${u1.toFixed(0)} us at cost ${first.parameters.cost} -> ${u2.toFixed(0)} us at cost ${last.parameters.cost}`);
  // Both solutions are good (once).
  assert.equal((await post(s.url, JSON.stringify({ altcha: a.payload }), farm)).status, 200);
  assert.equal((await post(s.url, JSON.stringify({ altcha: b.payload }), farm)).status, 200);
});

test('one session holds at most --max-per-person connections (429 beyond); persons are per session', async () => {
  const s = await gated({ maxPerPerson: 2 });
  const one = await newSession(s.url);
  const two = await newSession(s.url);
  const a1 = await Client.open(s.url, undefined, undefined, `?session=${one.token}`);
  const a2 = await Client.open(s.url, undefined, undefined, `?session=${one.token}`);
  await a1.expect('welcome');
  await a2.expect('welcome');
  assert.equal(await upgradeStatus(s.url, `?session=${one.token}`), 429);
  const b1 = await Client.open(s.url, undefined, undefined, `?session=${two.token}`);
  await b1.expect('welcome');
  assert.equal(new Set(personsOf(s)).size, 2);
  a1.close();
  await a1.closed();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(await upgradeStatus(s.url, `?session=${one.token}`), 0, 'a slot is free again');
});

test('the person is stable across nodes sharing the secret (two nodes, one cluster)', async () => {
  const hub = new MemoryHub();
  const n1 = await gated({ engine: new MemoryEngine({ hub, nodeId: 'n1' }) });
  const n2 = await gated({ engine: new MemoryEngine({ hub, nodeId: 'n2' }) });
  // Solved for node 1, redeemed on node 2; replayed on node 1: refused.
  const payload = await solve(await getChallenge(n1.url));
  const r = await post(n2.url, JSON.stringify({ altcha: payload }));
  assert.equal(r.status, 200);
  assert.equal((await post(n1.url, JSON.stringify({ altcha: payload }))).status, 409);
  const token = r.body.token as string;
  const c1 = await Client.open(n1.url, undefined, undefined, `?session=${token}`);
  const c2 = await Client.open(n2.url, undefined, undefined, `?session=${token}`);
  await c1.expect('welcome');
  await c2.expect('welcome');
  assert.deepEqual([...personsOf(n1), ...personsOf(n2)], [token.split('.')[1], token.split('.')[1]]);
});

test('with the gate off: no session needed, each connection its own person, /session answers 404 gate_off', async () => {
  const s = await startServer();
  const c = await Client.open(s.url);
  await c.expect('welcome');
  const [conn] = s.wss.connections();
  assert.equal(conn!.data!.person, conn!.data!.id);
  for (const path of ['/session/challenge', '/session']) {
    const res = await fetch(`${s.url}${path}`);
    assert.equal(res.status, 404);
    assert.deepEqual(await res.json(), { error: 'gate_off' });
  }
});

test('Secure cookie over TLS at a trusted proxy (X-Forwarded-Proto: https)', async () => {
  const s = await gated();
  const payload = await solve(await getChallenge(s.url));
  const res = await fetch(`${s.url}/session`, { method: 'POST', headers: { 'x-forwarded-proto': 'https' }, body: JSON.stringify({ altcha: payload }) });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('set-cookie') ?? '', /; Secure$/);
});

/** Runs the built CLI without blocking this process's event loop (the server is in this process). */
function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [main, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('strangers bench against a gated server: one clear line on 401; --session TOKEN runs', async () => {
  const s = await gated();
  const url = `${s.url.replace(/^http/, 'ws')}/ws`;
  const refused = await cli(['bench', 'idle', '--url', url, '--connections', '2', '--duration', '0', '--quiet']);
  assert.equal(refused.code, 1);
  assert.equal(refused.stderr.trim(), 'strangers bench: the server requires a session (401): run it with --gate off, or pass --session TOKEN');
  const bad = await cli(['bench', 'idle', '--url', url, '--session', 's1.forged', '--connections', '2', '--duration', '0', '--quiet']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /refused the session \(401\)/);
  const { token } = await newSession(s.url, '127.0.0.1');
  const ok = await cli(['bench', 'idle', '--url', url, '--session', token, '--connections', '2', '--duration', '0.2', '--quiet', '--workers', '1']);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
});

test('reports count by address, not by session: three sessions of one address are one reporter', async () => {
  const s = await gated({ chat: { rateLimit: 0, interestWaitMs: 60_000 }, maxPerPerson: 0 });
  const target = await Client.open(s.url, undefined, undefined, `?session=${(await newSession(s.url, '198.51.100.7')).token}`);
  await target.expect('welcome');
  const reportFrom = async (ip: string): Promise<void> => {
    const { token } = await newSession(s.url, ip);
    const r = await Client.open(s.url, from(ip), undefined, `?session=${token}`);
    await r.expect('welcome');
    target.send({ type: 'find' });
    await target.expect('searching');
    r.send({ type: 'find' });
    await r.expect('searching');
    await target.expect('matched');
    await r.expect('matched');
    r.send({ type: 'report' });
    await r.expect('reported');
    r.send({ type: 'leave' });
    await target.expect('ended');
    r.close();
  };
  for (let i = 0; i < 3; i++) await reportFrom('203.0.113.50');
  target.send({ type: 'find' });
  assert.deepEqual(await target.next(), { type: 'searching' }, 'not banned: one reporter');
  target.send({ type: 'leave' });
  await reportFrom('203.0.113.51');
  await reportFrom('203.0.113.52');
  target.send({ type: 'find' });
  await target.expect('searching');
  assert.equal((await target.expect('error')).code, 'banned');
});
