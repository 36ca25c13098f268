// A Redis Cluster that demands a password, with the least-privilege ACL user of docs/safety.md
// for a cluster: nodes as that user chat across nodes; wrong credentials keep a node from
// starting, at once, with the code redis_auth and no password in the output. Then a cluster that
// speaks only TLS (client port, cluster bus, replication), with a certificate from a private CA.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { RedisCluster, clusterUnavailable } from '../contract/redis-cluster-server.js';
import { skipUnlessCI } from '../contract/redis-server.js';
import { haveOpenssl, makeTestCertificates, type TestCertificates } from '../support/tls-certs.js';
import { Node, NodeExitedError, Talker } from './redis-nodes.js';

/**
 * The cluster's ACL rule in docs/safety.md, word for word: the key families of a cluster (the
 * queue; moderation by person, by address and its indexes; the gate), the sharded relay channels, and the commands the engine and its
 * scripts send, with the two CLUSTER subcommands the client needs to find the shards.
 */
const clusterAclRule =
  'user strangers on >PASSWORD ~{strangers:q}:* ~{strangers:m* ~{strangers:a:* ~strangers:g:* &strangers:relay:* -@all +hello +auth +client|setname +info +quit +cluster|slots +cluster|info +evalsha +eval +spublish +ssubscribe +del +hdel +hexists +hget +hgetall +hset +sadd +smembers +srem +time +zadd +zrange +zrangebyscore +zrem +get +set +incr +pexpire +hmget +hincrby +zscore +zcard +zrevrange +zremrangebyscore +zremrangebyrank +pttl';

const missing = clusterUnavailable();
const noTls = missing ?? (haveOpenssl() ? undefined : 'openssl is not installed (needed to make test certificates)');

/** Pairs a user on `x` with one on `y` and checks 20 lines each way, in order. */
async function chatAcross(x: Node, y: Node): Promise<void> {
  const p = await Talker.open(x.base);
  const q = await Talker.open(y.base);
  try {
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
  } finally {
    p.close();
    q.close();
  }
}

/** Starts a node that must not start; returns its exit, its "could not start" line and its output. */
async function refused(seeds: string[], env: NodeJS.ProcessEnv = {}): Promise<{ exit: NodeExitedError; line: Record<string, unknown>; output: string }> {
  let exit: unknown;
  try {
    const n = await Node.start({ cluster: seeds }, [], env);
    await n.stop('SIGKILL');
  } catch (err) {
    exit = err;
  }
  assert.ok(exit instanceof NodeExitedError, `${seeds.join()}: the node must exit before listening (${String(exit)})`);
  const output = exit.lines.join('\n');
  const text = exit.lines.flatMap((l) => l.split('\n')).find((l) => l.includes('could not start'));
  assert.ok(text !== undefined, output);
  return { exit, line: JSON.parse(text) as Record<string, unknown>, output };
}

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
    await chatAcross(a!, b!);
    await chatAcross(b!, a!);
    for (const n of [a!, b!]) {
      const out = n.lines.join('\n');
      assert.ok(!out.includes(nodePassword), 'no password in the logs');
      assert.match(out, /"redis":"cluster redis:\/\/strangers:\*\*\*@127\.0\.0\.1/);
    }
  });

  test('wrong credentials: the node does not start (exit 1, redis_auth, no password in the output)', async () => {
    const cases = [seed(0, 'strangers:wrong-password'), seed(1, `nobody:${nodePassword}`), `redis://127.0.0.1:${cluster!.nodes[2]!.port}`];
    for (const url of cases) {
      const { exit, line, output } = await refused([url]);
      assert.equal(exit.code, 1);
      assert.equal(line.code, 'redis_auth', output);
      assert.ok(!output.includes(nodePassword) && !output.includes('wrong-password'), 'no password in the output');
    }
  });
});

describe('Redis Cluster over TLS, with a private CA', skipUnlessCI(noTls), () => {
  const password = randomBytes(12).toString('hex');
  let certs: TestCertificates | undefined;
  let cluster: RedisCluster | undefined;
  const nodes: Node[] = [];
  const seeds = (): string[] => cluster!.seeds.map((u) => u.replace('://', `://:${password}@`));

  before(async () => {
    if (noTls !== undefined) throw new Error(noTls);
    certs = makeTestCertificates();
    cluster = await RedisCluster.start({ masters: 3, password, args: ['--requirepass', password, '--masterauth', password], tls: { ...certs.server, ca: certs.ca } });
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop('SIGKILL').catch(() => {})));
    await cluster?.stop();
    certs?.remove();
  });

  test('two nodes on rediss:// seeds, trusting the CA through NODE_EXTRA_CA_CERTS, chat across nodes', async () => {
    const env = { NODE_EXTRA_CA_CERTS: certs!.ca };
    const [a, b] = await Promise.all([Node.start({ cluster: [seeds()[0]!] }, [], env), Node.start({ cluster: [seeds()[1]!] }, [], env)]);
    nodes.push(a!, b!);
    await chatAcross(a!, b!);
    assert.match(a!.lines.join('\n'), /"redis":"cluster rediss:\/\/:\*\*\*@127\.0\.0\.1/);
  });

  test('without the CA the node does not start: exit 1, code redis_tls', async () => {
    const { exit, line, output } = await refused([seeds()[2]!], { NODE_EXTRA_CA_CERTS: undefined });
    assert.equal(exit.code, 1);
    assert.equal(line.code, 'redis_tls', output);
    assert.ok(!output.includes(password), 'no password in the output');
  });
});
