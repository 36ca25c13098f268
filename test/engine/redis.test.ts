// Redis-specific behaviour the shared contract cannot express: Redis going away and coming back,
// undecodable messages on a node's channel, and a start without Redis.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { EngineUnavailableError } from '../../src/engine/engine.js';
import { createRedisEngine, type RedisEngine, type RedisStartError } from '../../src/engine/redis.js';
import { Recorder, eventually, waiter } from '../contract/engine-contract.js';
import { RedisServer, freePort, haveRedisServer, skipUnlessCI } from '../contract/redis-server.js';

const missing = haveRedisServer() ? undefined : 'redis-server is not installed';
const opts = skipUnlessCI(missing);
const heartbeatMs = 100;
const deadlineMs = 400;
const prefix = () => `{strangers-test-${randomBytes(6).toString('hex')}}`;

const engines: RedisEngine[] = [];
after(async () => {
  await Promise.all(engines.map((e) => e.close()));
});

async function started(url: string, keyPrefix: string, deadline = deadlineMs): Promise<[RedisEngine, Recorder]> {
  const e = createRedisEngine(url, { keyPrefix, heartbeatMs, deadlineMs: deadline });
  engines.push(e);
  const r = new Recorder();
  await e.start(r);
  return [e, r];
}

test('Redis going away and coming back: not ready, refusals, drops counted, recovery by itself', opts, async (t) => {
  const redis = await RedisServer.start();
  t.after(() => redis.stop());
  const keyPrefix = prefix();
  const [a, ra] = await started(redis.url, keyPrefix);
  const [b, rb] = await started(redis.url, keyPrefix);
  const w = waiter(a, { since: Date.now() });
  assert.equal(await a.queue.pairOrEnqueue(w, Date.now()), null);
  a.relay.send(b.nodeId, { kind: 'msg', to: 'x', from: 'y', text: 'before', n: 0 });
  await rb.until(() => rb.events.length === 1, 2000, 'relay before the outage');

  await redis.kill();
  await Promise.all([ra.until(() => ra.readyChanges.at(-1) === false, 3000, 'a not ready'), rb.until(() => rb.readyChanges.at(-1) === false, 3000, 'b not ready')]);
  assert.equal(a.ready(), false);
  await assert.rejects(a.queue.pairOrEnqueue(waiter(a, { since: Date.now() }), Date.now()), (err: unknown) => err instanceof EngineUnavailableError && err.code === 'engine_unavailable');
  await assert.rejects(a.queue.remove('nobody'), EngineUnavailableError);
  const dropped = a.stats().publishDropped;
  a.relay.send(b.nodeId, { kind: 'msg', to: 'x', from: 'y', text: 'lost', n: 0 });
  assert.equal(a.stats().publishDropped, dropped + 1, 'a cross-node send while down is dropped and counted');
  a.relay.send(a.nodeId, { kind: 'msg', to: 'x', from: 'y', text: 'local', n: 0 });
  await ra.until(() => ra.events.some((e) => e.kind === 'msg' && e.text === 'local'), 1000, 'own-node delivery without Redis');

  // Down longer than the deadline, then back empty (no persistence).
  await new Promise((r) => setTimeout(r, deadlineMs + 200));
  await redis.restart();
  await Promise.all([ra.until(() => ra.readyChanges.at(-1) === true, 5000, 'a ready again'), rb.until(() => rb.readyChanges.at(-1) === true, 5000, 'b ready again')]);
  // Out of the cluster past the deadline: each ended its conversations with the other.
  await ra.until(() => ra.downs.includes(b.nodeId), 3000, 'a fenced itself from b');
  assert.ok(a.stats().fenced >= 1);
  // Redis lost the queue; a put its waiter back, so b finds it.
  await eventually(() => a.stats().reenqueued >= 1, 3000, 're-enqueue');
  const m = await b.queue.pairOrEnqueue(waiter(b, { since: Date.now() }), Date.now());
  assert.equal(m?.partner.userId, w.userId);
  // Relay works again, through the resubscribed channel.
  a.relay.send(b.nodeId, { kind: 'msg', to: 'x', from: 'y', text: 'after', n: 0 });
  await rb.until(() => rb.events.some((e) => e.kind === 'msg' && e.text === 'after'), 3000, 'relay after recovery');
  assert.ok(!rb.events.some((e) => e.kind === 'msg' && e.text === 'lost'), 'what was dropped stays dropped');
});

test('a short Redis blip keeps cross-node conversations (no fencing)', opts, async (t) => {
  const redis = await RedisServer.start();
  t.after(() => redis.stop());
  const keyPrefix = prefix();
  // A blip is shorter than the deadline: 2 s here, so that the clients' reconnection (ioredis's
  // backoff, slower on a loaded machine) fits in it; at 400 ms it once did not.
  const [a, ra] = await started(redis.url, keyPrefix, 2000);
  const [b] = await started(redis.url, keyPrefix, 2000);
  await eventually(() => a.stats().heartbeats >= 3, 2000, 'heartbeats');
  // Stop Redis and restart it at once; a blip shorter than the deadline... but Redis restarts
  // empty, so the node entries are gone: that is a fence too. A blip without data loss is a
  // dropped connection: kill the clients' connections instead.
  const admin = new Redis(redis.url);
  t.after(() => admin.disconnect());
  await admin.call('CLIENT', 'KILL', 'TYPE', 'normal');
  await ra.until(() => ra.readyChanges.length >= 2 && ra.readyChanges.at(-1) === true, 5000, 'a reconnected');
  await new Promise((r) => setTimeout(r, 3 * heartbeatMs));
  assert.equal(a.stats().fenced, 0);
  assert.ok(!ra.downs.includes(b.nodeId), 'b is not reported down');
});

test('undecodable messages on a node channel are counted, not delivered, not fatal', opts, async (t) => {
  const env = process.env.STRANGERS_TEST_REDIS_URL;
  const own = env ? undefined : await RedisServer.start();
  if (own) t.after(() => own.stop());
  const url = env || own!.url;
  const keyPrefix = prefix();
  const [a, ra] = await started(url, keyPrefix);
  const pub = new Redis(url);
  t.after(() => pub.disconnect());
  const channel = `${keyPrefix}:relay:${a.nodeId}`;
  await pub.publish(channel, 'garbage');
  await pub.publish(channel, '[99,"msg","a","b","c"]');
  await pub.publish(channel, '[1,"msg","to","from","fine"]');
  await ra.until(() => ra.events.length === 1, 2000, 'the valid message');
  assert.equal(a.stats().undecodable, 2);
  assert.deepEqual(ra.events, [{ kind: 'msg', to: 'to', from: 'from', text: 'fine', n: 0 }]);
});

test('start() fails with one clear error when Redis is unreachable', async () => {
  const port = await freePort();
  const e = createRedisEngine(`redis://:secret@127.0.0.1:${port}`, { startTimeoutMs: 500 });
  await assert.rejects(e.start(new Recorder()), (err: RedisStartError) => {
    assert.equal(err.code, 'redis_unreachable');
    assert.match(err.message, /^cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ within 500 ms \(last error: .*ECONNREFUSED/);
    assert.ok(!err.message.includes('secret'));
    return true;
  });
});

test('start() fails at once, naming the cause, when Redis refuses the credentials', opts, async (t) => {
  const redis = await RedisServer.start({ args: ['--requirepass', 'right-password'] });
  t.after(() => redis.stop());
  for (const credentials of ['', ':wrong-password@', 'nobody:right-password@']) {
    const e = createRedisEngine(redis.url.replace('://', `://${credentials}`), { startTimeoutMs: 10_000 });
    const started = Date.now();
    await assert.rejects(e.start(new Recorder()), (err: RedisStartError) => {
      assert.equal(err.code, 'redis_auth', err.message);
      assert.match(err.message, /refused the credentials: (NOAUTH|WRONGPASS)/);
      assert.ok(!err.message.includes('password@'), 'no password in the message');
      return true;
    });
    assert.ok(Date.now() - started < 5000, `refused at once, not after the 10 s start timeout (${credentials})`);
    assert.equal(e.ready(), false);
  }
  // The right password: ready (the failures above came from the credentials, not the server).
  const e = createRedisEngine(redis.url.replace('://', '://:right-password@'), { keyPrefix: prefix(), heartbeatMs, deadlineMs });
  engines.push(e);
  await e.start(new Recorder());
  assert.equal(e.ready(), true);
});

test('an ACL user without a command the scripts call: start() fails at once with redis_permission', opts, async (t) => {
  // Everything on the engine's keys and channels but TIME, which the heartbeat script calls.
  const redis = await RedisServer.start({ args: ['--user', 'limited', 'on', '>pw', '~*', '&*', '+@all', '-time'] });
  t.after(() => redis.stop());
  const e = createRedisEngine(redis.url.replace('://', '://limited:pw@'), { startTimeoutMs: 10_000, keyPrefix: prefix() });
  const started = Date.now();
  await assert.rejects(e.start(new Recorder()), (err: RedisStartError) => err.code === 'redis_permission' && /(NOPERM|can't run this command).*script/.test(err.message) && /docs\/safety\.md/.test(err.message));
  assert.ok(Date.now() - started < 5000, 'refused at once');
});

test('rediss:// to a plain Redis port: start() fails after its timeout, saying the TLS handshake never completed', opts, async (t) => {
  const redis = await RedisServer.start();
  t.after(() => redis.stop());
  const e = createRedisEngine(redis.url.replace('redis://', 'rediss://'), { startTimeoutMs: 500 });
  await assert.rejects(e.start(new Recorder()), (err: RedisStartError) => err.code === 'redis_unreachable' && /within 500 ms \((no error reported: the connection or its TLS handshake never completed|last error: .+)\)$/.test(err.message));
});

test('a key prefix without a hash tag is refused (scripts must stay valid on Redis Cluster)', () => {
  assert.throws(() => createRedisEngine('redis://127.0.0.1:1', { keyPrefix: 'strangers' }), TypeError);
});

