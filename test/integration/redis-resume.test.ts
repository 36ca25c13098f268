// Resume across server processes on one real Redis: a user drops on node A and resumes on node B
// (the place is handed over; the partner, on A, hears away then back; nothing is lost or
// repeated); and a deploy: SIGTERM on node A closes its users with 1012, they resume on node B,
// and their conversations carry on with no `ended`.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { sharedRedis, skipUnlessCI } from '../contract/redis-server.js';
import { Client, type Msg } from './helpers.js';
import { Node, withDb } from './redis-nodes.js';

const redis = await sharedRedis();
const reason = 'reason' in redis ? redis.reason : undefined;
const url = 'url' in redis ? withDb(redis.url, 6) : '';

async function user(n: Node): Promise<{ c: Client; resume: string }> {
  const c = await Client.open(n.base);
  const w = await c.expect('welcome');
  return { c, resume: w.resume as string };
}

async function resume(n: Node, token: string): Promise<{ c: Client; resumed: Msg }> {
  const c = await Client.open(n.base);
  await c.expect('welcome');
  c.send({ type: 'resume', token });
  return { c, resumed: await c.expect('resumed', 5000) };
}

async function pairUp(x: { c: Client }, y: { c: Client }): Promise<void> {
  x.c.send({ type: 'find' });
  await x.c.expect('searching');
  y.c.send({ type: 'find' });
  await y.c.expect('searching');
  await x.c.expect('matched', 5000);
  await y.c.expect('matched', 5000);
}

describe('resume across nodes on Redis', skipUnlessCI(reason), () => {
  let nodes: Node[] = [];
  const clients: Client[] = [];
  const start = (): Promise<Node> => Node.start(url, ['--resume-window', '10s', '--drain-timeout', '12s']);
  before(async () => {
    if (reason !== undefined) throw new Error(reason);
    const admin = new Redis(url);
    await admin.flushdb();
    admin.disconnect();
    nodes = await Promise.all([start(), start()]);
  });
  after(async () => {
    for (const c of clients) c.conn.terminate();
    await Promise.all(nodes.map((n) => n.stop('SIGKILL').catch(() => {})));
    if ('stop' in redis) await redis.stop();
  });
  const track = <T extends { c: Client }>(x: T): T => {
    clients.push(x.c);
    return x;
  };

  test('dropped on node A, resumed on node B: replay in order, the partner hears away then back, and they go on', async () => {
    const [a, b] = nodes as [Node, Node];
    const x = track(await user(a));
    const y = track(await user(a));
    await pairUp(x, y);
    x.c.send({ type: 'msg', text: 'one' });
    assert.equal((await y.c.expect('msg')).seq, 1);
    y.c.send({ type: 'ack', seq: 1 });
    assert.deepEqual(await x.c.next(), { type: 'delivered', seq: 1 });
    y.c.conn.terminate();
    assert.deepEqual(await x.c.next(), { type: 'away' });
    x.c.send({ type: 'msg', text: 'two' });
    x.c.send({ type: 'msg', text: 'three' });
    const r = await resume(b, y.resume);
    clients.push(r.c);
    assert.equal(r.resumed.state, 'chatting');
    // What y's client had not acknowledged, with its numbers, in order: nothing lost, nothing twice.
    assert.deepEqual(await r.c.next(), { type: 'msg', text: 'two', seq: 2 });
    assert.deepEqual(await r.c.next(), { type: 'msg', text: 'three', seq: 3 });
    assert.deepEqual(await x.c.next(), { type: 'back' });
    // Both ways, across the nodes now.
    x.c.send({ type: 'msg', text: 'four' });
    assert.deepEqual(await r.c.next(), { type: 'msg', text: 'four', seq: 4 });
    r.c.send({ type: 'msg', text: 'from B' });
    assert.deepEqual(await x.c.next(), { type: 'msg', text: 'from B', seq: 1 });
    r.c.send({ type: 'ack', seq: 4 });
    assert.deepEqual(await x.c.next(), { type: 'delivered', seq: 4 });
    x.c.send({ type: 'typing', on: true });
    assert.deepEqual(await r.c.next(), { type: 'typing', on: true });
    // The old token is used up, on either node.
    const again = track(await user(a));
    again.c.send({ type: 'resume', token: y.resume });
    assert.equal((await again.c.expect('error', 5000)).code, 'resume_failed');
    r.c.send({ type: 'leave' });
    assert.deepEqual(await x.c.next(), { type: 'ended', reason: 'left' });
  });

  test('a deploy: SIGTERM on node A closes with 1012; its users resume on node B and no conversation ends', async () => {
    const [a, b] = nodes as [Node, Node];
    // Two pairs: one wholly on A, one across A and B.
    const p1 = track(await user(a));
    const p2 = track(await user(a));
    await pairUp(p1, p2);
    const q1 = track(await user(a));
    const q2 = track(await user(b));
    await pairUp(q1, q2);
    for (const [from, to] of [[p1, p2], [q1, q2], [q2, q1]] as const) {
      from.c.send({ type: 'msg', text: 'before' });
      assert.equal((await to.c.expect('msg')).text, 'before');
    }
    const exited = a.stop('SIGTERM', 20_000);
    for (const x of [p1, p2, q1]) assert.equal((await x.c.closed(5000)).code, 1012);
    assert.deepEqual(await q2.c.next(), { type: 'away' });
    q2.c.send({ type: 'msg', text: 'while you were away' });
    // They come back on node B (a load balancer would send them there: A is not ready).
    const [r1, r2, s1] = await Promise.all([resume(b, p1.resume), resume(b, p2.resume), resume(b, q1.resume)]);
    for (const r of [r1, r2, s1]) {
      clients.push(r.c);
      assert.equal(r.resumed.state, 'chatting');
    }
    // q1's client never acknowledged: everything since the match is replayed, numbered (a client
    // drops what it already has by its seq).
    assert.deepEqual(await s1.c.next(), { type: 'msg', text: 'before', seq: 1 });
    assert.deepEqual(await s1.c.next(), { type: 'msg', text: 'while you were away', seq: 2 });
    assert.deepEqual(await q2.c.next(), { type: 'back' });
    // The pair that was wholly on A is now wholly on B, and talks.
    // (Both resumed at once: one may hear `away` then `back`, while the other's place is still held.)
    const nextMsg = async (c: Client): Promise<Msg> => {
      for (;;) {
        const m = await c.next(5000);
        if (m.type !== 'away' && m.type !== 'back') return m;
      }
    };
    assert.deepEqual(await nextMsg(r2.c), { type: 'msg', text: 'before', seq: 1 }); // the replay
    r1.c.send({ type: 'msg', text: 'still here' });
    assert.deepEqual(await nextMsg(r2.c), { type: 'msg', text: 'still here', seq: 2 });
    s1.c.send({ type: 'msg', text: 'me too' });
    assert.equal((await q2.c.expect('msg', 5000)).text, 'me too');
    // Node A leaves as soon as every place is handed over.
    const { code } = await exited;
    assert.equal(code, 0);
    for (const x of [p1, p2, q1, q2, r1, r2, s1]) assert.ok(!x.c.inbox.messages.some((m) => m.type === 'ended'), 'no conversation ended');
  });
});
