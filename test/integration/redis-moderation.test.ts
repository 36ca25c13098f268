// Moderation across server processes on one real Redis: a ban made through reports on node A
// holds on node B, and still holds after both nodes are restarted; skips keep two persons apart
// on every node; a spam wave spread over two nodes is counted once.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { sharedRedis, skipUnlessCI } from '../contract/redis-server.js';
import { Client, clientFrom, matchUp } from './helpers.js';
import { Node, withDb } from './redis-nodes.js';

const redis = await sharedRedis();
const reason = 'reason' in redis ? redis.reason : undefined;
const url = 'url' in redis ? withDb(redis.url, 5) : '';
const TOKEN = 'moderator-token-for-the-redis-test-0123456789';


/** `find` answered `searching` then `banned` (true), or `searching` and nothing else for a while (false). */
async function isBanned(c: Client): Promise<boolean> {
  c.send({ type: 'find' });
  await c.expect('searching');
  if (await c.quiet(300)) {
    c.send({ type: 'leave' });
    return false;
  }
  const m = await c.next();
  assert.equal(m.code, 'banned', JSON.stringify(m));
  return true;
}

describe('moderation across nodes on Redis', skipUnlessCI(reason), () => {
  let nodes: Node[] = [];
  const clients: Client[] = [];
  const start = (): Promise<Node[]> =>
    Promise.all([0, 1].map(() => Node.start(url, ['--trust-proxy'], { STRANGERS_ADMIN_TOKEN: TOKEN })));
  before(async () => {
    if (reason !== undefined) throw new Error(reason);
    const admin = new Redis(url);
    await admin.flushdb();
    admin.disconnect();
    nodes = await start();
  });
  after(async () => {
    for (const c of clients) c.conn.terminate();
    await Promise.all(nodes.map((n) => n.stop('SIGKILL').catch(() => {})));
    if ('stop' in redis) await redis.stop();
  });
  const open = async (n: Node, address: string): Promise<Client> => {
    const c = await clientFrom(n.base, address);
    clients.push(c);
    return c;
  };

  test('reports on node A ban on node B, by person and by address, and the ban survives restarting both nodes', async () => {
    const [a, b] = nodes as [Node, Node];
    const bad = await open(a, '198.51.100.200');
    // Three reporters, each on node B, talking to the target on node A (relay through Redis).
    for (let i = 1; i <= 3; i++) {
      const r = await open(b, `203.0.113.${200 + i}`);
      await matchUp(bad, r);
      bad.send({ type: 'msg', text: `rude ${i}` });
      assert.equal((await r.expect('msg')).text, `rude ${i}`);
      r.send({ type: 'report', reason: 'harassment' });
      await r.expect('reported');
      r.send({ type: 'leave' });
      await bad.expect('ended');
    }
    assert.ok(await isBanned(bad), 'banned on its own node');
    // Another person from the same address, on the other node.
    assert.ok(await isBanned(await open(b, '198.51.100.200')), 'its address is banned on node B');
    // The queue, from either node, has the case with the evidence from the reporter's node.
    const cases = (await (await fetch(`${a.base}/admin/reports`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as {
      reports: Array<{ reporters: number; target: { banned: boolean }; evidence: Array<{ from: string; text: string }> }>;
    };
    assert.equal(cases.reports.length, 1);
    assert.equal(cases.reports[0]!.reporters, 3);
    assert.equal(cases.reports[0]!.target.banned, true);
    assert.deepEqual(cases.reports[0]!.evidence.map((l) => [l.from, l.text]), [['target', 'rude 1'], ['target', 'rude 2'], ['target', 'rude 3']]);

    // Restart both nodes: the state is Redis's, not theirs.
    for (const c of clients.splice(0)) c.conn.terminate();
    await Promise.all(nodes.map((n) => n.stop('SIGTERM')));
    nodes = await start();
    assert.ok(await isBanned(await open(nodes[1]!, '198.51.100.200')), 'still banned after the restart');
    assert.equal(await isBanned(await open(nodes[0]!, '198.51.100.201')), false, 'others are not');
  });

  test('a skip keeps two persons apart, whichever nodes they are on', async () => {
    // Without sessions a person is one connection; the rule is checked through the queue on Redis.
    const [a, b] = nodes as [Node, Node];
    const x = await open(a, '203.0.113.10');
    const y = await open(b, '203.0.113.11');
    await matchUp(x, y);
    x.send({ type: 'next' });
    assert.deepEqual(await y.next(), { type: 'ended', reason: 'skipped' });
    await x.expect('searching');
    y.send({ type: 'find' });
    await y.expect('searching');
    assert.ok(await x.quiet(500), 'the two are not paired again');
    const z = await open(b, '203.0.113.12');
    z.send({ type: 'find' });
    await z.expect('searching');
    const firstMatched = await Promise.race([x.expect('matched').then(() => 'x'), y.expect('matched').then(() => 'y')]);
    assert.ok(firstMatched === 'x' || firstMatched === 'y');
    await z.expect('matched');
  });
});
