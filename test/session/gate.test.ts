// The session gate (src/session/gate.ts) without HTTP: challenges as altcha-lib makes them,
// payloads as the ALTCHA widget makes them, every refusal with its code, the adaptive cost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { solveChallenge, type Challenge } from 'altcha-lib';
import { deriveKey } from 'altcha-lib/algorithms/pbkdf2';
import { EngineUnavailableError, type GateStore } from '../../src/engine/engine.js';
import { MemoryGateStore } from '../../src/engine/memory-gate.js';
import { SessionGate, gateDefaults } from '../../src/session/gate.js';
import { TokenError } from '../../src/session/token.js';

const SECRET = 'a-test-secret-of-at-least-32-characters';
/** Cheap challenges: tests prove the logic, docs/safety.md measures the real cost. */
const COST = 5;

function gate(over: Partial<ConstructorParameters<typeof SessionGate>[0]> = {}): SessionGate {
  return new SessionGate({ secret: SECRET, store: new MemoryGateStore(), powCost: COST, ...over });
}

async function challengeOf(g: SessionGate, address = 'addr'): Promise<Challenge> {
  const r = await g.challenge(address);
  assert.ok(r.ok, 'challenge issued');
  return r.challenge;
}

/** The payload exactly as the ALTCHA widget v2 builds it: btoa(JSON.stringify({challenge: {...challenge, codeChallenge: undefined}, solution})). */
async function widgetPayload(challenge: Challenge): Promise<string> {
  const solution = await solveChallenge({ challenge, deriveKey });
  assert.ok(solution);
  return btoa(JSON.stringify({ challenge: { ...challenge, codeChallenge: undefined }, solution }));
}

test('a challenge is altcha-lib\'s, with the expected work in cost and keyPrefix', async () => {
  const g = gate();
  const c = await challengeOf(g);
  assert.deepEqual(Object.keys(c).sort(), ['parameters', 'signature']);
  const p = c.parameters;
  assert.equal(p.algorithm, 'PBKDF2/SHA-256');
  assert.equal(p.cost, COST);
  assert.equal(p.keyPrefix, gateDefaults.keyPrefix);
  assert.equal(p.keyLength, 32);
  assert.match(p.nonce, /^[0-9a-f]{32}$/);
  assert.ok(typeof p.expiresAt === 'number' && Math.abs(p.expiresAt - (Date.now() + gateDefaults.challengeTtlMs) / 1000) < 5);
  assert.match(c.signature ?? '', /^[0-9a-f]{64}$/);
});

test('the widget\'s payload buys a session once; the token verifies', async () => {
  const g = gate();
  const payload = await widgetPayload(await challengeOf(g));
  const r = await g.redeem('addr', payload);
  assert.ok(r.ok);
  const claims = g.verify(r.token);
  assert.ok(typeof claims !== 'string');
  assert.equal(claims.person, r.claims.person);
  assert.ok(Math.abs(claims.expiresAt - (Date.now() + gateDefaults.sessionTtlMs)) < 5000);
  assert.deepEqual(await g.redeem('addr', payload), { ok: false, error: 'replayed' });
  assert.deepEqual(await g.redeem('elsewhere', payload), { ok: false, error: 'replayed' }, 'from any address');
  assert.equal(g.stats.issued, 1);
  assert.equal(g.stats.failed.replayed, 2);
});

test('tampered, wrong, foreign and malformed payloads are refused with their code', async () => {
  const g = gate();
  const c = await challengeOf(g);
  const solution = await solveChallenge({ challenge: c, deriveKey });
  assert.ok(solution);
  const pack = (challenge: unknown, sol: unknown): string => btoa(JSON.stringify({ challenge, solution: sol }));
  // A cheaper challenge than the one issued: the signature no longer matches.
  assert.deepEqual(await g.redeem('a', pack({ ...c, parameters: { ...c.parameters, cost: 1 } }, solution)), { ok: false, error: 'invalid_challenge' });
  assert.deepEqual(await g.redeem('a', pack({ ...c, parameters: { ...c.parameters, keyPrefix: '0' } }, solution)), { ok: false, error: 'invalid_challenge' });
  assert.deepEqual(await g.redeem('a', pack({ parameters: c.parameters }, solution)), { ok: false, error: 'bad_request' }, 'no signature');
  // Signed by another server (another secret).
  const foreign = await challengeOf(gate({ secret: 'another-secret-of-at-least-32-characters' }));
  assert.deepEqual(await g.redeem('a', await widgetPayload(foreign)), { ok: false, error: 'invalid_challenge' });
  // A wrong answer burns the challenge: the right one afterwards is a replay.
  const wrongKey = solution.derivedKey.replace(/^./, (x) => (x === '0' ? '1' : '0'));
  assert.deepEqual(await g.redeem('a', pack(c, { ...solution, derivedKey: wrongKey })), { ok: false, error: 'invalid_solution' });
  assert.deepEqual(await g.redeem('a', pack(c, solution)), { ok: false, error: 'replayed' });
  const c2 = await challengeOf(g);
  assert.deepEqual(await g.redeem('a', pack(c2, { counter: solution.counter + 1, derivedKey: solution.derivedKey })), { ok: false, error: 'invalid_solution' });
  const c3 = await challengeOf(g);
  assert.deepEqual(await g.redeem('a', pack(c3, { counter: -1, derivedKey: 'zz' })), { ok: false, error: 'invalid_solution' });
  for (const bad of [undefined, null, 42, '', 'not base64!', 'YWJj', btoa('{}'), btoa('[1]'), btoa('{"challenge":{},"solution":{}}'), 'A'.repeat(5000), btoa('\u00ff\u00fe')]) {
    assert.deepEqual(await g.redeem('a', bad), { ok: false, error: 'bad_request' }, String(bad).slice(0, 30));
  }
});

test('an expired challenge is refused as expired, before the store is touched', async () => {
  let now = Date.now();
  const store = new MemoryGateStore();
  const g = gate({ store, now: () => now, limits: { challengeTtlMs: 10_000 } });
  const payload = await widgetPayload(await challengeOf(g));
  now += 11_000;
  assert.deepEqual(await g.redeem('a', payload), { ok: false, error: 'expired' });
  assert.equal(store.size.claims, 0);
});

test('adaptive cost: 4x after 30 requests in a window, 16x at most, refused past the cap; per address', async () => {
  let now = 1_700_000_000_000;
  const g = gate({ store: new MemoryGateStore({ now: () => now }), now: () => now });
  const costs: number[] = [];
  for (let i = 1; i <= gateDefaults.maxChallengesPerWindow; i++) costs.push((await challengeOf(g, 'busy')).parameters.cost);
  assert.equal(costs[0], COST);
  assert.equal(costs[gateDefaults.freeChallenges - 1], COST, 'the free ones are at the base cost');
  assert.equal(costs[29], 4 * COST, 'the 30th in a minute: 4x');
  assert.equal(costs[49], 16 * COST);
  assert.equal(Math.max(...costs), 16 * COST, 'never above 16x');
  assert.deepEqual(await g.challenge('busy'), { ok: false, error: 'rate_limited' });
  assert.equal((await challengeOf(g, 'quiet')).parameters.cost, COST, 'another address pays the base cost');
  now += gateDefaults.windowMs + 1;
  assert.equal((await challengeOf(g, 'busy')).parameters.cost, COST, 'a new window starts at the base cost');
  assert.deepEqual([1, 10, 19, 20, 29, 30, 40, 50, 1000].map((h) => g.factor(h)), [1, 1, 1, 2, 2, 4, 8, 16, 16]);
});

test('a banned address gets no session; a store that is down gives engine_unavailable', async () => {
  const g = gate({ isBanned: (address) => Promise.resolve(address === 'bad') });
  const payload = await widgetPayload(await challengeOf(g));
  assert.deepEqual(await g.redeem('bad', payload), { ok: false, error: 'banned' });
  assert.ok((await g.redeem('good', payload)).ok, 'the ban check did not burn the challenge');
  const down: GateStore = { claimOnce: () => Promise.reject(new EngineUnavailableError()), hit: () => Promise.reject(new EngineUnavailableError()) };
  const g2 = gate({ store: down });
  assert.deepEqual(await g2.challenge('a'), { ok: false, error: 'engine_unavailable' });
  const ok = gate();
  const p2 = await widgetPayload(await challengeOf(ok));
  const g3 = new SessionGate({ secret: SECRET, store: down, powCost: COST });
  assert.deepEqual(await g3.redeem('a', p2), { ok: false, error: 'engine_unavailable' });
  assert.equal(g3.verify('nonsense'), TokenError.malformed);
});
