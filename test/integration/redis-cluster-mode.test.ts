// `strangers serve --redis-cluster` on a real Redis Cluster (three masters, one replica each, on
// loopback): cross-node chat, a storm of simultaneous finds, kill -9 of a node, --workers 2, the master of the
// queue's slot killed and failed over to its replica, then the queue's shard down altogether
// (master and replica) and restarted: no crash, /readyz tells the truth, service resumes.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { skipUnlessCI } from '../contract/redis-server.js';
import { RedisCluster, clusterUnavailable, type ClusterNode } from '../contract/redis-cluster-server.js';
import { Node, Talker, eventually } from './redis-nodes.js';

const missing = clusterUnavailable();
/** A key of the matching queue's slot (redis-scripts.ts `redisKeys`, default namespace). */
const QUEUE_KEY = '{strangers:q}:w';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('Redis Cluster: server processes on a cluster of three shards', skipUnlessCI(missing), () => {
  let cluster: RedisCluster;
  const nodes: Node[] = [];
  const talkers: Talker[] = [];
  before(async () => {
    if (missing !== undefined) throw new Error(missing);
    cluster = await RedisCluster.start({ masters: 3, replicas: 1 });
    // Each node is given one seed only (a different one): it discovers the rest.
    const seeds = cluster.seeds;
    nodes.push(...(await Promise.all([0, 1, 2].map((i) => Node.start({ cluster: [seeds[i]!] })))));
  });
  after(async () => {
    for (const t of talkers) t.close();
    await Promise.all(nodes.map((n) => n.stop('SIGKILL').catch(() => {})));
    await cluster?.stop();
  });
  const open = async (n: Node): Promise<Talker> => {
    const t = await Talker.open(n.base);
    talkers.push(t);
    return t;
  };
  const noViolations = (ts: Talker[]): void => assert.deepEqual(ts.flatMap((t) => t.violations), []);
  /** A waits on node `x`, b finds on node `y`: they are paired and chat both ways, in order. */
  const pairAndChat = async (x: Node, y: Node, ms = 5000, lines = 20): Promise<[Talker, Talker]> => {
    const a = await open(x);
    a.find();
    await a.until(() => a.state === 'searching', ms, 'searching');
    await sleep(50);
    const b = await open(y);
    b.find();
    await a.until(() => a.partner === b.id, ms, `a hears b (b: ${b.describe()})`);
    await b.until(() => b.partner === a.id, ms, 'b hears a');
    for (let i = 0; i < lines; i++) {
      a.say();
      b.say();
    }
    await a.until(() => a.received.length === lines + 1, ms, 'all of b');
    await b.until(() => b.received.length === lines + 1, ms, 'all of a');
    return [a, b];
  };

  test('each node says it runs on a cluster, and is ready', async () => {
    for (const n of nodes) {
      assert.ok(n.lines.some((l) => /"engine":"redis-cluster"/.test(l)), n.lines.join('\n'));
      assert.equal((await n.get('/readyz')).status, 200);
    }
  });

  test('users on different nodes are matched and chat both ways, in order; interests across nodes', async () => {
    const [a, b] = await pairAndChat(nodes[0]!, nodes[1]!, 5000, 50);
    assert.deepEqual(a.received.map((r) => r.n), Array.from({ length: 51 }, (_, i) => i));
    a.next();
    await b.until(() => b.ended.includes('skipped'), 5000, 'ended skipped');
    a.leave();
    const c = await open(nodes[1]!);
    const d = await open(nodes[2]!);
    c.find(['Chess', 'jazz']);
    await sleep(100);
    d.find(['jazz', 'poker']);
    await c.until(() => c.partner === d.id, 5000, 'c matched with d');
    assert.deepEqual(c.commons, [['jazz']]);
    for (const t of [c, d]) t.leave();
    noViolations([a, b, c, d]);
  });

  test('a storm of simultaneous finds across three nodes never double-matches', async () => {
    const ts = await Promise.all(Array.from({ length: 60 }, (_, i) => open(nodes[i % nodes.length]!)));
    for (const t of ts) t.find();
    await eventually(() => ts.filter((t) => t.partner !== undefined).length >= ts.length - 1, 10_000, 'storm settles');
    const byId = new Map(ts.map((t) => [t.id, t]));
    for (const t of ts) {
      if (t.partner === undefined) continue;
      assert.equal(byId.get(t.partner)?.partner, t.id, 'pairs are symmetric');
      assert.equal(t.partners.length, 1, 'one partner each');
    }
    for (let i = 0; i < 10; i++) for (const t of ts) t.say();
    await eventually(() => ts.every((t) => t.partner === undefined || t.received.length === 11), 10_000, 'storm messages');
    noViolations(ts);
    for (const t of ts) t.close();
  });

  test('kill -9 of a node: its partners on the other nodes are told disconnected within 5 s', async () => {
    const victim = await Node.start({ cluster: cluster.seeds });
    nodes.push(victim);
    const [a] = await pairAndChat(nodes[0]!, victim, 5000, 2);
    const killedAt = Date.now();
    victim.proc.kill('SIGKILL');
    await a.until(() => a.ended.includes('disconnected'), 5000, 'a told disconnected');
    assert.ok(Date.now() - killedAt <= 5000);
    nodes.pop();
    noViolations([a]);
  });

  test('--workers 2 --redis-cluster: one port, two nodes on the cluster, users across them matched; SIGTERM drains', async () => {
    const node = await Node.start({ cluster: cluster.seeds }, ['--workers', '2']);
    const ts: Talker[] = [];
    try {
      // Round-robin accept: consecutive connections land on alternate workers, so pairs cross.
      for (let i = 0; i < 8; i++) ts.push(await Talker.open(node.base));
      for (const x of ts) {
        x.find();
        await sleep(20);
      }
      await eventually(() => ts.every((x) => x.partner !== undefined), 5000, 'everyone matched');
      await eventually(() => ts.every((x) => ts.some((y) => y.id === x.partner && y.partner === x.id)), 5000, 'both sides of every pair know each other');
      for (let i = 0; i < 10; i++) for (const x of ts) x.say();
      await eventually(() => ts.every((x) => x.received.length === 11), 5000, 'chat through the workers');
      noViolations(ts);
      assert.match(node.lines.join('\n'), /"engine":"redis-cluster"/);
      const { code } = await node.stop('SIGTERM');
      assert.equal(code, 0);
      for (const x of ts) assert.ok(x.ended.includes('shutdown') || x.ended.includes('disconnected'), `told why: ${x.describe()}`);
    } finally {
      for (const x of ts) x.close();
      await node.stop('SIGKILL').catch(() => {});
    }
  });

  /** Polls /readyz of every node every 50 ms until stopped: what each answered, in order. */
  const watchReadiness = (): { stop(): Promise<number[][]> } => {
    const seen: number[][] = nodes.map(() => []);
    let on = true;
    const poll = (): Promise<unknown> =>
      Promise.all(nodes.map(async (n, i) => {
        const s = await n.get('/readyz').then((r) => r.status, () => 0);
        if (seen[i]!.at(-1) !== s) seen[i]!.push(s);
      }));
    const loop = (async () => {
      while (on) {
        await poll();
        await sleep(50);
      }
      await poll(); // the state at the end
    })();
    return {
      async stop() {
        on = false;
        await loop;
        return seen;
      },
    };
  };

  test('the master of the queue\'s slot killed: its replica takes over, no crash, service resumes', async (t) => {
    const [a, b] = await pairAndChat(nodes[0]!, nodes[1]!);
    const master = await cluster.masterOf(QUEUE_KEY);
    const watch = watchReadiness();
    let seen: number[][];
    const killedAt = Date.now();
    try {
      await master.kill();
      await eventually(async () => (await cluster.masterOf(QUEUE_KEY)).port !== master.port, 15_000, 'a replica promoted');
      await eventually(async () => (await Promise.all(nodes.map((n) => n.get('/readyz')))).every((r) => r.status === 200), 15_000, 'every node ready');
    } finally {
      seen = await watch.stop();
    }
    const back = Date.now() - killedAt;
    // Matching and chat across nodes work again.
    const [c] = await pairAndChat(nodes[1]!, nodes[2]!);
    assert.ok(nodes.every((n) => n.alive), 'no crash');
    for (const s of seen) assert.equal(s.at(-1), 200, `readiness ends ready: ${JSON.stringify(seen)}`);
    // The conversation that spanned the failover went on, or was ended as disconnected: never silently.
    for (const t of [a, b]) assert.ok(t.state === 'chatting' || t.ended.includes('disconnected'), t.describe());
    // The killed node comes back as a replica of the new master.
    await master.start();
    await cluster.waitOk();
    const promoted = await cluster.masterOf(QUEUE_KEY);
    await eventually(async () => (await cluster.replicasOf(promoted)).includes(master), 15_000, 'the old master is a replica');
    noViolations([a, b, c]);
    t.diagnostic(`failover: every node ready again ${back} ms after the kill; readiness seen ${JSON.stringify(seen)}`);
  });

  test('the queue\'s shard down (master and replica): not ready, find refused, recovery after restart', async (t) => {
    const master = await cluster.masterOf(QUEUE_KEY);
    const shard: ClusterNode[] = [master, ...(await cluster.replicasOf(master))];
    assert.ok(shard.length >= 2, 'the master has its replica back');
    const [a, b] = await pairAndChat(nodes[0]!, nodes[2]!);
    const watch = watchReadiness();
    let seen: number[][];
    try {
      await Promise.all(shard.map((n) => n.kill()));
      for (const n of nodes) await eventually(async () => (await n.get('/readyz')).status === 503, 10_000, `${n.base} not ready`);
      const late = await open(nodes[1]!);
      late.find();
      await late.until(() => late.errors.includes('engine_unavailable'), 5000, 'find refused with engine_unavailable');
      assert.ok(nodes.every((n) => n.alive), 'no crash while the shard is down');
      await sleep(1000);
      assert.deepEqual((await Promise.all(nodes.map((n) => n.get('/readyz')))).map((r) => r.status), nodes.map(() => 503), 'still not ready while the shard is down');

      await Promise.all(shard.map((n) => n.start()));
      await cluster.waitOk();
      for (const n of nodes) await eventually(async () => (await n.get('/readyz')).status === 200, 20_000, `${n.base} ready again`);
    } finally {
      seen = await watch.stop();
    }
    for (const s of seen) assert.deepEqual([s.includes(503), s.at(-1)], [true, 200], `not ready during the outage, ready after: ${JSON.stringify(seen)}`);
    { const m = await cluster.masterOf(QUEUE_KEY); const r = cluster.admin(m.port); await r.connect(); t.diagnostic('DBG queue ' + JSON.stringify(await r.hgetall('{strangers:q}:w')) + ' nodes ' + JSON.stringify(await r.hgetall('{strangers:q}:nodes')) + ' ours ' + nodes.map((n) => n.lines.filter((l) => /"node"|nodeId/.test(l)).slice(0, 1).join()).join(' | ')); r.disconnect(); }
    // Redis lost the queue: each node put back the waiters it still counted as waiting. One of
    // them may have left already (its node answers `ended: left` to whoever meets it, once);
    // the user searches again and meets a live stranger.
    const x = await open(nodes[0]!);
    const y = await open(nodes[2]!);
    x.find();
    await x.until(() => x.state === 'searching', 5000, 'searching');
    await sleep(50);
    y.find();
    const end = Date.now() + 15_000;
    while (!(x.partner === y.id && y.partner === x.id)) {
      if (Date.now() > end) throw new Error(`x and y not paired: ${x.describe()} / ${y.describe()}`);
      for (const z of [x, y]) {
        if (z.state === 'idle' && z.ended.at(-1) === 'left') {
          t.diagnostic('met a waiter put back after the data loss that had left: searching again');
          z.ended.push('searching again');
          z.find();
        }
      }
      await sleep(20);
    }
    for (let i = 0; i < 10; i++) {
      x.say();
      y.say();
    }
    await x.until(() => x.received.length === 11, 5000, 'all of y');
    await y.until(() => y.received.length === 11, 5000, 'all of x');
    assert.ok(nodes.every((n) => n.alive), 'no crash');
    // Out longer than the deadline: the conversation across nodes was ended as disconnected.
    for (const t of [a, b]) assert.ok(t.state === 'chatting' || t.ended.includes('disconnected'), t.describe());
    noViolations(talkers);
  });
});
