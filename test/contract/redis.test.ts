// The engine contract, run on the Redis engine against a real redis-server.
import { after, before } from 'node:test';
import { randomBytes } from 'node:crypto';
import { RedisEngine, createRedisEngine } from '../../src/engine/redis.js';
import { runEngineContract } from './engine-contract.js';
import { isCI, sharedRedis } from './redis-server.js';

const redis = await sharedRedis();
let stop: (() => Promise<void>) | undefined;
before(() => {
  if ('stop' in redis) stop = redis.stop;
});
after(async () => {
  await stop?.();
});

/** Liveness timing shortened for tests; production defaults are 1000 / 3000 ms. */
const heartbeatMs = 100;
const deadlineMs = 400;

runEngineContract('redis', {
  async create(n) {
    if ('reason' in redis) throw new Error(redis.reason);
    // A fresh key prefix per cluster: test files and tests never see each other's keys.
    const keyPrefix = `{strangers-test-${randomBytes(6).toString('hex')}}`;
    return Array.from({ length: n }, () => createRedisEngine(redis.url, { keyPrefix, heartbeatMs, deadlineMs }));
  },
  maxNodes: 8,
  crash: (engine) => (engine as RedisEngine).abort(),
  nodeDownWithinMs: deadlineMs + 2 * heartbeatMs + 500,
  presenceWithinMs: 5 * heartbeatMs + 500,
  skip: 'reason' in redis && !isCI ? redis.reason : undefined,
});
