// `strangers serve --workers N`: several processes behind one port (node:cluster), on Redis.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { sharedRedis, skipUnlessCI } from '../contract/redis-server.js';
import { Node, Talker, cli, eventually, withDb } from './redis-nodes.js';

test('--workers 2 without --redis: exit 2 with one line', () => {
  const r = spawnSync(process.execPath, [cli, 'serve', '--workers', '2'], { encoding: 'utf8', env: { ...process.env, STRANGERS_REDIS: '' } });
  assert.equal(r.status, 2);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /--redis/);
});

const redis = await sharedRedis();
const reason = 'reason' in redis ? redis.reason : undefined;

test('--workers 2 --redis: one port, two nodes, users on both matched; SIGTERM drains', skipUnlessCI(reason), async (t) => {
  if (reason !== undefined) throw new Error(reason);
  t.after(() => ('stop' in redis ? redis.stop() : undefined));
  const url = withDb((redis as { url: string }).url, 12);
  const admin = new Redis(url);
  t.after(() => admin.disconnect());
  await admin.flushdb();
  const node = await Node.start(url, ['--workers', '2']);
  const talkers: Talker[] = [];
  t.after(async () => {
    for (const x of talkers) x.close();
    await node.stop('SIGKILL').catch(() => {});
  });
  // Two live nodes in Redis: the two workers.
  await eventually(async () => Object.keys(await admin.hgetall('{strangers}:nodes')).length === 2, 5000, 'two workers announced');
  // Round-robin accept: consecutive connections land on alternate workers, so these pairs cross.
  for (let i = 0; i < 8; i++) talkers.push(await Talker.open(node.base));
  for (const x of talkers) {
    x.find();
    await new Promise((r) => setTimeout(r, 20));
  }
  await eventually(() => talkers.every((x) => x.partner !== undefined), 5000, 'everyone matched');
  for (let i = 0; i < 10; i++) for (const x of talkers) x.say();
  await eventually(() => talkers.every((x) => x.received.length === 11), 5000, 'chat through the workers');
  assert.deepEqual(talkers.flatMap((x) => x.violations), []);
  const stats = (await node.get('/stats')).body;
  await eventually(async () => (await node.get('/stats')).body.chatting === 8, 5000, `cluster-wide chatting (${JSON.stringify(stats)})`);

  const { code } = await node.stop('SIGTERM');
  assert.equal(code, 0);
  // Both workers drain at once: a user hears `shutdown` from its own worker, or `disconnected`
  // when the partner's worker went first (the chat's rule for a partner on a stopping node).
  for (const x of talkers) assert.ok(x.ended.includes('shutdown') || x.ended.includes('disconnected'), `told why: ${x.describe()}`);
  assert.ok(talkers.some((x) => x.ended.includes('shutdown')));
  for (const x of talkers) assert.equal((await x.c.closed(3000)).code, 1001);
});
