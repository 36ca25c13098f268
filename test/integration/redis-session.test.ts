// The session gate across two `strangers serve` processes on one real Redis (the gate on, one
// shared STRANGERS_SECRET): a solution is good once cluster-wide, a token from one node opens a
// WebSocket on the other, and the adaptive cost counts an address's requests on every node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { solveChallenge, type Challenge } from 'altcha-lib';
import { deriveKey } from 'altcha-lib/algorithms/pbkdf2';
import { sharedRedis, skipUnlessCI } from '../contract/redis-server.js';
import { Client } from './helpers.js';
import { Node, withDb } from './redis-nodes.js';

const redis = await sharedRedis();
const reason = 'reason' in redis ? redis.reason : undefined;
// A database of its own: other test files share the CI Redis at the same time.
const url = 'url' in redis ? withDb(redis.url, 13) : '';

async function challenge(n: Node): Promise<Challenge> {
  const res = await fetch(`${n.base}/session/challenge`);
  assert.equal(res.status, 200);
  return (await res.json()) as Challenge;
}

async function post(n: Node, payload: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${n.base}/session`, { method: 'POST', body: JSON.stringify({ altcha: payload }) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

test('two nodes on one Redis: solved on A, replayed on B → refused; A\'s token opens B; cost counted cluster-wide', skipUnlessCI(reason), async (t) => {
  if (reason !== undefined) throw new Error(reason);
  const admin = new Redis(url);
  await admin.flushdb();
  const gateOn = ['--gate', 'on', '--pow-cost', '5'];
  const [a, b] = await Promise.all([Node.start(url, gateOn), Node.start(url, gateOn)]);
  t.after(async () => {
    await Promise.all([a.stop('SIGKILL'), b.stop('SIGKILL')]);
    if ('stop' in redis) await redis.stop();
  });

  const c = await challenge(a);
  const solution = await solveChallenge({ challenge: c, deriveKey });
  assert.ok(solution);
  const payload = btoa(JSON.stringify({ challenge: c, solution }));
  const first = await post(a, payload);
  assert.equal(first.status, 200);
  assert.deepEqual(await post(b, payload), { status: 409, body: { error: 'replayed' } });
  assert.deepEqual(await post(a, payload), { status: 409, body: { error: 'replayed' } });

  // A challenge from A is redeemed on B (the same secret signs on both).
  const c2 = await challenge(a);
  const s2 = await solveChallenge({ challenge: c2, deriveKey });
  assert.equal((await post(b, btoa(JSON.stringify({ challenge: c2, solution: s2 })))).status, 200);

  const token = first.body.token as string;
  const onB = await Client.open(b.base, undefined, undefined, `?session=${token}`);
  await onB.expect('welcome');
  const onA = await Client.open(a.base, { cookie: `strangers_session=${token}` });
  await onA.expect('welcome');
  onA.close();
  onB.close();

  // 28 more requests from this address, alternating nodes: the 30th of the minute costs 4x.
  let cost = 0;
  for (let i = 0; i < 28; i++) cost = (await challenge(i % 2 === 0 ? a : b)).parameters.cost;
  assert.equal(cost, 20, 'counted across both nodes');

  // What Redis holds: a used-solution mark per redeemed challenge and one counter, all expiring.
  const keys = (await admin.keys('{strangers}:g:*')).sort();
  assert.equal(keys.filter((k) => k.startsWith('{strangers}:g:c:s:')).length, 2);
  assert.equal(keys.filter((k) => k.startsWith('{strangers}:g:h:a:')).length, 1);
  for (const k of keys) assert.ok((await admin.pttl(k)) > 0, `${k} expires`);
  admin.disconnect();
});
