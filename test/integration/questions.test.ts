/**
 * Languages and question mode on one server (memory engine), on real sockets: the rules of
 * docs/protocol.md (see question-scenarios.ts), local-first relay between the three members.
 */
import { strict as assert } from 'node:assert';
import { describe, test, before, after } from 'node:test';
import type { StrangersServer } from '../../src/http/server.js';
import { clientFrom, startServer, type Client } from './helpers.js';
import { askerLeaves, discussersEnd, drops, languages, priority, watching, type ScenarioContext } from './question-scenarios.js';

const TOKEN = 'moderator-token-for-the-question-tests-0123';

describe('languages and questions (memory engine)', () => {
  let server: StrangersServer;
  let n = 0;
  const clients: Client[] = [];
  before(async () => {
    // A resume window, as in production: question places must not be held, ordinary ones are.
    server = await startServer({ trustProxy: true, adminToken: TOKEN, drainTimeoutMs: 200, chat: { rateLimit: 0, resumeWindowMs: 5000 } });
  });
  after(async () => {
    for (const c of clients) c.conn.terminate();
    await server.stop();
  });
  const ctx: ScenarioContext = {
    async open() {
      const c = await clientFrom(server.url, `203.0.113.${(++n % 250) + 1}`);
      clients.push(c);
      return c;
    },
    async reports() {
      const res = await fetch(`${server.url}/admin/reports`, { headers: { authorization: `Bearer ${TOKEN}` } });
      return ((await res.json()) as { reports: Awaited<ReturnType<ScenarioContext['reports']>> }).reports;
    },
  };
  test('a language matches only the same language; none only none; a bad one is refused', () => languages(ctx));
  test('the asker watches: from, order, typing, not_allowed; reports for every role; asker_left', () => watching(ctx));
  test('a discusser\'s next, leave or disconnect ends it for all three', () => discussersEnd(ctx));
  test('the asker\'s next asks again; its disconnect leaves an ordinary pair', () => askerLeaves(ctx));
  test('a waiting question goes first, within its language; willing users also pair normally', () => priority(ctx));
  test('resume: question places are not held; a question search is; after asker_left a pair is', () => drops(ctx));
  test('/stats counts searching users per language', async () => {
    const a = await ctx.open(0);
    const b = await ctx.open(0);
    a.send({ type: 'find', lang: 'ja' });
    b.send({ type: 'ask', question: 'q?', lang: 'ko' });
    await a.expect('searching');
    await b.expect('searching');
    const stats = (await (await fetch(`${server.url}/stats`)).json()) as { langs: Record<string, number> };
    assert.equal(stats.langs.ja, 1);
    assert.equal(stats.langs.ko, 1);
    a.send({ type: 'leave' });
    b.send({ type: 'leave' });
  });
});
