// Several `strangers serve` processes sharing one Redis: cross-node pairing and chat, a storm of
// simultaneous finds, kill -9 of a node, and cluster-wide counts.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { sharedRedis, skipUnlessCI } from '../contract/redis-server.js';
import { mulberry32 } from '../support/rng.js';
import { Node, Talker, eventually, withDb } from './redis-nodes.js';

const redis = await sharedRedis();
const reason = 'reason' in redis ? redis.reason : undefined;
// A database of its own: other test files share the CI Redis at the same time.
const url = 'url' in redis ? withDb(redis.url, 11) : '';

describe('Redis cluster: several server processes', skipUnlessCI(reason), () => {
  const nodes: Node[] = [];
  const talkers: Talker[] = [];
  before(async () => {
    if (reason !== undefined) throw new Error(reason);
    // Our database only: nothing left over from an earlier run (ghost waiters of killed nodes).
    const admin = new Redis(url);
    await admin.flushdb();
    admin.disconnect();
    nodes.push(...(await Promise.all([Node.start(url), Node.start(url), Node.start(url)])));
  });
  after(async () => {
    for (const t of talkers) t.close();
    await Promise.all(nodes.map((n) => n.stop('SIGKILL').catch(() => {})));
    if ('stop' in redis) await redis.stop();
  });
  const open = async (n: Node): Promise<Talker> => {
    const t = await Talker.open(n.base);
    talkers.push(t);
    return t;
  };
  const noViolations = (ts: Talker[]): void => assert.deepEqual(ts.flatMap((t) => t.violations), []);

  test('users on different nodes are matched and chat both ways, in order', async () => {
    const a = await open(nodes[0]!);
    a.find();
    await a.until(() => a.state === 'searching', 1000, 'searching');
    const b = await open(nodes[1]!);
    b.find();
    await a.until(() => a.partner === b.id, 5000, 'a hears b');
    await b.until(() => b.partner === a.id, 5000, 'b hears a');
    for (let i = 0; i < 50; i++) {
      a.say();
      b.say();
    }
    await a.until(() => a.received.length === 51, 5000, 'all of b');
    await b.until(() => b.received.length === 51, 5000, 'all of a');
    assert.deepEqual(a.received.map((r) => r.n), Array.from({ length: 51 }, (_, i) => i));
    assert.deepEqual(b.received.map((r) => r.n), Array.from({ length: 51 }, (_, i) => i));
    // next: the partner on the other node is told `skipped`.
    a.c.send({ type: 'next' });
    await b.until(() => b.ended.includes('skipped'), 5000, 'ended skipped');
    a.c.send({ type: 'leave' });
    noViolations([a, b]);
  });

  test('shared interests across nodes: paired with the common ones', async () => {
    const plain = await open(nodes[0]!);
    plain.find();
    const a = await open(nodes[1]!);
    const b = await open(nodes[2]!);
    a.find(['Chess', 'go', 'Jazz']);
    await new Promise((r) => setTimeout(r, 100));
    b.find(['jazz', 'poker']);
    await a.until(() => a.partner === b.id, 5000, 'a matched with b (shared interest first)');
    await b.until(() => b.partner === a.id, 5000, 'b matched with a');
    assert.deepEqual(a.commons, [['jazz']]);
    assert.deepEqual(b.commons, [['jazz']]);
    assert.equal(plain.state, 'searching', 'the longer-waiting stranger without the interest waits');
    for (const t of [plain, a, b]) t.c.send({ type: 'leave' });
    noViolations([plain, a, b]);
  });

  test('a storm of simultaneous finds across three nodes never double-matches', async () => {
    const per = 20;
    const ts = await Promise.all(Array.from({ length: per * nodes.length }, (_, i) => open(nodes[i % nodes.length]!)));
    for (const t of ts) t.find();
    // With no interests everyone is compatible: all but at most one end up in a conversation.
    await eventually(() => ts.filter((t) => t.partner !== undefined).length >= ts.length - 1, 10_000, 'storm settles');
    const byId = new Map(ts.map((t) => [t.id, t]));
    for (const t of ts) {
      if (t.partner === undefined) continue;
      const p = byId.get(t.partner);
      assert.ok(p, `${t.id}'s partner is one of the storm's users`);
      assert.equal(p.partner, t.id, 'pairs are symmetric');
      assert.equal(t.partners.length, 1, 'one partner each');
    }
    // Messages reach exactly the partner, in order.
    for (let i = 0; i < 20; i++) for (const t of ts) t.say();
    await eventually(() => ts.every((t) => t.partner === undefined || t.received.length === 21), 10_000, 'storm messages');
    noViolations(ts);

    // Random churn for a while: next, leave, find, talk; checked on every message received.
    const rnd = mulberry32(42);
    const end = Date.now() + 3000;
    while (Date.now() < end) {
      for (const t of ts) {
        const r = rnd();
        if (t.state === 'chatting') {
          if (r < 0.05) t.next();
          else if (r < 0.08) t.leave();
          else t.say();
        } else if (t.state === 'idle' && r < 0.3) t.find(rnd() < 0.5 ? ['a', 'b'].filter(() => rnd() < 0.6) : undefined);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const t of ts) t.leave();
    await new Promise((r) => setTimeout(r, 300));
    noViolations(ts);
    assert.ok(ts.reduce((n, t) => n + t.conv, 0) > ts.length, 'the churn made new pairs');
    // not_matched / already_matched are the client racing the server's view of its state (a
    // message sent as the partner leaves, a find as a match arrives); anything else is a fault.
    for (const t of ts) assert.deepEqual(t.errors.filter((e) => e !== 'not_matched' && e !== 'already_matched'), [], `${t.id} errors`);
    for (const t of ts) t.close();
  });

  test('/stats and online count the whole cluster', async () => {
    for (const t of talkers.splice(0)) t.close();
    await eventually(async () => (await nodes[0]!.get('/stats')).body.online === 0, 5000, 'empty cluster');
    const ts = [await open(nodes[0]!), await open(nodes[0]!), await open(nodes[1]!), await open(nodes[2]!)];
    ts[0]!.find();
    for (const n of nodes) {
      await eventually(async () => {
        const s = (await n.get('/stats')).body;
        return s.online === 4 && s.searching === 1;
      }, 5000, `cluster counts on ${n.base}`);
    }
    const late = await Talker.open(nodes[1]!.base);
    talkers.push(late);
    // welcome.online is read when the client connects: 4 others + itself.
    const welcome = late.c.inbox.messages[0]!;
    assert.equal(welcome.online, 5);
    for (const t of [...ts, late]) t.close();
  });

  test('kill -9 of a node: partners on the surviving nodes get ended/disconnected within 5 s', async () => {
    const victim = await Node.start(url);
    nodes.push(victim);
    const a = await open(nodes[0]!);
    const b = await open(victim);
    const c = await open(nodes[1]!);
    const d = await open(victim);
    a.find();
    await a.until(() => a.state === 'searching', 1000, 'a searching');
    await new Promise((r) => setTimeout(r, 50));
    b.find();
    await a.until(() => a.partner === b.id, 5000, `a-b pair; b: ${b.describe()}`);
    c.find();
    await new Promise((r) => setTimeout(r, 50));
    d.find();
    await c.until(() => c.partner === d.id, 5000, 'c-d pair');
    const waiting = await open(victim);
    waiting.find();
    await new Promise((r) => setTimeout(r, 100));
    const killedAt = Date.now();
    victim.proc.kill('SIGKILL');
    await a.until(() => a.ended.includes('disconnected'), 5000, 'a told disconnected');
    await c.until(() => c.ended.includes('disconnected'), 5000, 'c told disconnected');
    assert.ok(Date.now() - killedAt <= 5000, `told within ${Date.now() - killedAt} ms`);
    // The dead node's waiter left the queue: a new searcher is not matched with it.
    const e = await open(nodes[2]!);
    e.find();
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(e.state, 'searching');
    assert.equal(e.conv, 0, 'not matched with a ghost');
    e.c.send({ type: 'leave' });
    noViolations([a, c, e]);
  });
});

