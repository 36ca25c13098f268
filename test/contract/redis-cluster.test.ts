// The engine contract (match queue, relay, presence, node death, moderation, the session gate's
// store), run on the Redis engine against a real Redis Cluster of three masters on loopback.
import { after, before } from 'node:test';
import { randomBytes } from 'node:crypto';
import { RedisEngine, createRedisEngine } from '../../src/engine/redis.js';
import { runEngineContract } from './engine-contract.js';
import { RedisCluster, clusterUnavailable } from './redis-cluster-server.js';
import { isCI } from './redis-server.js';

const missing = clusterUnavailable();
let cluster: RedisCluster | undefined;
before(async () => {
  if (missing === undefined) cluster = await RedisCluster.start({ masters: 3 });
});
after(async () => {
  await cluster?.stop();
});

/**
 * Liveness timing shortened for tests (production defaults are 1000 / 3000 ms), a little longer
 * than on one Redis: three redis-servers share the machine with the test, and a heartbeat late
 * past the deadline makes the others drop the node's waiters (the storm then finds one missing).
 */
const heartbeatMs = 200;
const deadlineMs = 1500;

runEngineContract('redis-cluster', {
  async create(n) {
    if (cluster === undefined) throw new Error(missing ?? 'the cluster did not start');
    // A fresh namespace per test: a cluster has only database 0.
    const keyPrefix = `{strangers-test-${randomBytes(6).toString('hex')}}`;
    return Array.from({ length: n }, () => createRedisEngine({ cluster: cluster!.seeds }, { keyPrefix, heartbeatMs, deadlineMs }));
  },
  maxNodes: 8,
  crash: (engine) => (engine as RedisEngine).abort(),
  nodeDownWithinMs: deadlineMs + 2 * heartbeatMs + 500,
  presenceWithinMs: 5 * heartbeatMs + 500,
  skip: missing !== undefined && !isCI ? missing : undefined,
});
