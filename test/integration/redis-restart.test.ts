// Redis restarted under load, with two server processes on a redis-server of our own: no crash,
// /readyz not ready while it is down, `find` refused with an error code, recovery by itself,
// and no message ever delivered to the wrong user.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RedisServer, haveRedisServer, skipUnlessCI } from '../contract/redis-server.js';
import { Node, Talker, eventually } from './redis-nodes.js';

test('Redis restarted under load: not ready, refusals, recovery, nobody gets a stranger\'s message', skipUnlessCI(haveRedisServer() ? undefined : 'redis-server is not installed'), async (t) => {
  const redis = await RedisServer.start();
  t.after(() => redis.stop());
  const [n1, n2] = await Promise.all([Node.start(redis.url), Node.start(redis.url)]);
  const talkers: Talker[] = [];
  t.after(async () => {
    for (const x of talkers) x.close();
    await Promise.all([n1.stop('SIGKILL'), n2.stop('SIGKILL')]);
  });
  const open = async (n: Node): Promise<Talker> => {
    const x = await Talker.open(n.base);
    talkers.push(x);
    return x;
  };
  // Pairs split across the nodes (a waits on n1, b finds on n2), talking all the time.
  const pairs: Array<[Talker, Talker]> = [];
  for (let i = 0; i < 6; i++) {
    const a = await open(n1);
    const b = await open(n2);
    a.find();
    await a.until(() => a.state === 'searching', 1000, 'searching');
    await new Promise((r) => setTimeout(r, 30));
    b.find();
    await a.until(() => a.partner === b.id, 5000, 'pair');
    pairs.push([a, b]);
  }
  let talking = true;
  const load = (async () => {
    while (talking) {
      for (const [a, b] of pairs) {
        a.say();
        b.say();
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();

  await redis.kill();
  for (const n of [n1, n2]) {
    await eventually(async () => (await n.get('/readyz')).status === 503, 5000, `${n.base} not ready`);
  }
  const late = await open(n1);
  late.find();
  await late.until(() => late.errors.includes('engine_unavailable'), 3000, 'find refused with engine_unavailable');
  assert.ok(n1.alive && n2.alive, 'no crash while Redis is down');
  await new Promise((r) => setTimeout(r, 1000));

  await redis.restart();
  for (const n of [n1, n2]) {
    await eventually(async () => (await n.get('/readyz')).status === 200, 10_000, `${n.base} ready again`);
  }
  // Matching across the nodes works again.
  const c = await open(n1);
  const d = await open(n2);
  c.find();
  await c.until(() => c.state === 'searching', 1000, 'searching');
  await new Promise((r) => setTimeout(r, 30));
  d.find();
  await c.until(() => c.partner === d.id, 5000, 'a new cross-node pair after recovery');
  for (let i = 0; i < 10; i++) {
    c.say();
    d.say();
  }
  await d.until(() => d.received.length === 11, 5000, 'chat after recovery');
  talking = false;
  await load;
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(n1.alive && n2.alive, 'no crash');
  assert.deepEqual(talkers.flatMap((x) => x.violations), [], 'every message reached exactly its partner, in order');
  // Conversations that outlived the outage's deadline were ended as disconnected, never silently.
  for (const [a, b] of pairs) {
    assert.ok(a.state === 'chatting' || a.ended.includes('disconnected'), `a: ${a.describe()}`);
    assert.ok(b.state === 'chatting' || b.ended.includes('disconnected'), `b: ${b.describe()}`);
  }
});
