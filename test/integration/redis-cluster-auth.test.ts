// A Redis Cluster that demands a password, with the least-privilege ACL user of docs/safety.md
// for a cluster: nodes as that user chat across nodes; wrong credentials keep a node from
// starting, at once, with the code redis_auth and no password in the output.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { RedisCluster, clusterUnavailable } from '../contract/redis-cluster-server.js';
import { skipUnlessCI } from '../contract/redis-server.js';
import { Node, NodeExitedError, Talker } from './redis-nodes.js';

/**
 * The cluster's ACL rule in docs/safety.md, word for word: the three key families of a cluster
 * (queue, moderation, gate), the sharded relay channels, and the commands the engine and its
 * scripts send, with the two CLUSTER subcommands the client needs to find the shards.
 */
const clusterAclRule =
  'user strangers on >PASSWORD ~{strangers:q}:* ~{strangers:m}:* ~strangers:g:* &strangers:relay:* -@all +hello +auth +client|setname +info +quit +cluster|slots +cluster|info +evalsha +eval +spublish +ssubscribe +del +hdel +hexists +hget +hgetall +hset +sadd +smembers +srem +time +zadd +zrange +zrangebyscore +zrem +get +set +incr +pexpire +hmget +hincrby +zscore +zcard +zrevrange +zremrangebyscore +zremrangebyrank +pttl';

const missing = clusterUnavailable();

describe('Redis Cluster with a password and an ACL user', skipUnlessCI(missing), () => {
  const adminPassword = randomBytes(12).toString('hex');
  const nodePassword = randomBytes(12).toString('hex');
  let cluster: RedisCluster | undefined;
  const nodes: Node[] = [];
  const seed = (i: number, credentials: string): string => `redis://${credentials}@127.0.0.1:${cluster!.nodes[i]!.port}`;

  before(async () => {
    if (missing !== undefined) throw new Error(missing);
    const [directive, ...words] = clusterAclRule.replace('>PASSWORD', `>${nodePassword}`).split(' ');
    cluster = await RedisCluster.start({ masters: 3, password: adminPassword, args: ['--requirepass', adminPassword, '--masterauth', adminPassword, `--${directive}`, ...words] });
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop('SIGKILL').catch(() => {})));
    await cluster?.stop();
  });

  test('docs/safety.md gives the cluster ACL rule tested here', () => {
    assert.ok(readFileSync('docs/safety.md', 'utf8').includes(clusterAclRule));
  });

  test('nodes as the ACL user, each given another seed, match and chat across nodes; no password in the logs', async () => {
    const [a, b] = await Promise.all([Node.start({ cluster: [seed(0, `strangers:${nodePassword}`)] }), Node.start({ cluster: [seed(1, `strangers:${nodePassword}`), `127.0.0.1:${cluster!.nodes[2]!.port}`] })]);
    nodes.push(a!, b!);
    for (const [x, y] of [[a!, b!], [b!, a!]] as const) {
      const p = await Talker.open(x.base);
      const q = await Talker.open(y.base);
      p.find();
      await p.until(() => p.state === 'searching', 2000, 'searching');
      q.find();
      await p.until(() => p.partner === q.id, 5000, 'p hears q');
      await q.until(() => q.partner === p.id, 5000, 'q hears p');
      for (let i = 0; i < 20; i++) {
        p.say();
        q.say();
      }
      await p.until(() => p.received.length === 21, 5000, 'all of q');
      await q.until(() => q.received.length === 21, 5000, 'all of p');
      assert.deepEqual([...p.violations, ...q.violations], []);
      p.close();
      q.close();
    }
    for (const n of [a!, b!]) {
      const out = n.lines.join('\n');
      assert.ok(!out.includes(nodePassword), 'no password in the logs');
      assert.match(out, /"redis":"cluster redis:\/\/strangers:\*\*\*@127\.0\.0\.1/);
    }
  });

  test('wrong credentials: the node does not start (exit 1, redis_auth, no password in the output)', async () => {
    const cases = [seed(0, 'strangers:wrong-password'), seed(1, `nobody:${nodePassword}`), `redis://127.0.0.1:${cluster!.nodes[2]!.port}`];
    for (const url of cases) {
      let exit: unknown;
      try {
        const n = await Node.start({ cluster: [url] });
        await n.stop('SIGKILL');
      } catch (err) {
        exit = err;
      }
      assert.ok(exit instanceof NodeExitedError, `${url}: the node must exit before listening (${String(exit)})`);
      const output = exit.lines.join('\n');
      const text = exit.lines.flatMap((l) => l.split('\n')).find((l) => l.includes('could not start'));
      assert.ok(text !== undefined, output);
      const line = JSON.parse(text) as Record<string, unknown>;
      assert.equal(exit.code, 1);
      assert.equal(line.code, 'redis_auth', output);
      assert.ok(!output.includes(nodePassword) && !output.includes('wrong-password'), 'no password in the output');
    }
  });
});
