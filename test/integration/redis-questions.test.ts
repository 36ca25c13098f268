/**
 * Languages and question mode across `strangers serve` processes on one real Redis: the same
 * rules as on one server (question-scenarios.ts), with the asker and the two discussers on three
 * different nodes, and on two (the asker and discusser 2 sharing one).
 */
import { describe, test, before, after } from 'node:test';
import { strict as assert } from 'node:assert';
import { Redis } from 'ioredis';
import { sharedRedis, skipUnlessCI } from '../contract/redis-server.js';
import { clientFrom, type Client } from './helpers.js';
import { Node, withDb } from './redis-nodes.js';
import { askerLeaves, discussersEnd, drops, languages, priority, watching, type ScenarioContext } from './question-scenarios.js';

const redis = await sharedRedis();
const reason = 'reason' in redis ? redis.reason : undefined;
// A database of its own (20): other test files share the CI Redis at the same time.
const url = 'url' in redis ? withDb(redis.url, 20) : '';
const TOKEN = 'moderator-token-for-the-redis-questions-0123';

describe('languages and questions across nodes on Redis', skipUnlessCI(reason), () => {
  let nodes: Node[] = [];
  const clients: Client[] = [];
  let n = 0;
  before(async () => {
    if (reason !== undefined) throw new Error(reason);
    const admin = new Redis(url);
    await admin.flushdb();
    admin.disconnect();
    // A resume window, as in production: question places must not be held, ordinary ones are.
    nodes = await Promise.all([0, 1, 2].map(() => Node.start(url, ['--trust-proxy', '--resume-window', '5s'], { STRANGERS_ADMIN_TOKEN: TOKEN })));
  });
  after(async () => {
    for (const c of clients) c.conn.terminate();
    await Promise.all(nodes.map((x) => x.stop('SIGKILL').catch(() => {})));
    if ('stop' in redis) await redis.stop();
  });
  /** Participant k on node `placement[k]`. */
  const on = (placement: readonly number[]): ScenarioContext => ({
    async open(k) {
      const c = await clientFrom(nodes[placement[k]!]!.base, `198.51.100.${(++n % 250) + 1}`);
      clients.push(c);
      return c;
    },
    async reports() {
      const res = await fetch(`${nodes[0]!.base}/admin/reports`, { headers: { authorization: `Bearer ${TOKEN}` } });
      return ((await res.json()) as { reports: Awaited<ReturnType<ScenarioContext['reports']>> }).reports;
    },
  });
  const three = on([0, 1, 2]);
  const two = on([0, 1, 0]);

  test('languages across nodes', () => languages(three));
  test('the asker watches discussers on two other nodes; reports; asker_left', () => watching(three));
  test('the asker watches, sharing a node with one discusser', () => watching(two));
  test('a discusser ends it for all three, across nodes', async () => {
    await discussersEnd(three);
    await discussersEnd(two);
  });
  test('the asker\'s next and disconnect, across nodes', async () => {
    await askerLeaves(three);
    await askerLeaves(two);
  });
  test('a waiting question goes first, cluster-wide', () => priority(three));
  test('resume across nodes: question places are not held; a question search is; after asker_left a pair is', () => drops(three));
  test('/stats counts searching users per language, cluster-wide', async () => {
    const a = await three.open(1);
    const b = await three.open(2);
    a.send({ type: 'find', lang: 'ja' });
    b.send({ type: 'ask', question: 'q?', lang: 'ja' });
    await a.expect('searching');
    await b.expect('searching');
    // Node 0 has nobody searching: it learns of the others through the heartbeat.
    const deadline = Date.now() + 5000;
    let langs: Record<string, number> = {};
    while (Date.now() < deadline) {
      langs = ((await (await fetch(`${nodes[0]!.base}/stats`)).json()) as { langs: Record<string, number> }).langs;
      if (langs.ja === 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(langs.ja, 2);
    a.close();
    b.close();
  });
});
