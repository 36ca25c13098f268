/**
 * Moderation end to end on a real server and real sockets: reports with evidence, bans of the
 * person and its address, spam waves, and the moderator API with its token, limits and audit.
 */
import { strict as assert } from 'node:assert';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import type { Logger } from '../../src/http/log.js';
import { Client, startServer, stopServersAfterEachTest, clientFrom, matchUp } from './helpers.js';

stopServersAfterEachTest();

const TOKEN = 'moderator-token-'.padEnd(40, 'x');
const auth = { authorization: `Bearer ${TOKEN}` };

/** Collects a server's log lines. */
function logSink(): { lines: string[]; logger: Logger } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, logger: pino({ level: 'info' }, sink) as Logger };
}


async function api(base: string, path: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`, { ...init, headers: { ...auth, 'content-type': 'application/json', ...(init.headers as Record<string, string> | undefined) } });
  const text = await res.text();
  return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : text };
}

describe('moderation', () => {
  test('reports keep the conversation as evidence; three people from three addresses ban; the queue shows it all', async () => {
    const { lines, logger } = logSink();
    const s = await startServer({ trustProxy: true, adminToken: TOKEN, logger, chat: { rateLimit: 0 } });
    const bad = await clientFrom(s.url, '198.51.100.66');
    for (let i = 1; i <= 3; i++) {
      const r = await clientFrom(s.url, `203.0.113.${i}`);
      await matchUp(bad, r);
      r.send({ type: 'msg', text: `hello ${i}` });
      assert.equal((await bad.expect('msg')).text, `hello ${i}`);
      bad.send({ type: 'msg', text: `something nasty ${i}` });
      assert.equal((await r.expect('msg')).text, `something nasty ${i}`);
      r.send({ type: 'report', reason: i === 3 ? 'harassment' : 'sexual' });
      await r.expect('reported');
      r.send({ type: 'leave' });
      await bad.expect('ended');
      r.close();
    }
    bad.send({ type: 'find' });
    await bad.expect('searching');
    const banned = await bad.expect('error');
    assert.equal(banned.code, 'banned');

    const { status, body } = await api(s.url, '/admin/reports');
    assert.equal(status, 200);
    assert.equal(body.reports.length, 1);
    const r = body.reports[0];
    assert.deepEqual(Object.keys(r).sort(), ['at', 'automatic', 'evidence', 'id', 'reason', 'reporters', 'target']);
    assert.equal(r.reason, 'harassment');
    assert.equal(r.reporters, 3);
    assert.equal(r.target.banned, true);
    assert.equal(typeof r.target.person, 'string');
    // The evidence of all three reports, in order.
    assert.deepEqual(r.evidence.map((l: { from: string; text: string }) => [l.from, l.text]), [1, 2, 3].flatMap((i) => [
      ['reporter', `hello ${i}`],
      ['target', `something nasty ${i}`],
    ]));
    // Chat text is evidence only: never in the logs.
    assert.ok(!lines.some((l) => l.includes('nasty') || l.includes('hello')), 'no chat text in logs');

    // The ban covers the address too: a new person from the same address cannot search.
    const sameAddress = await clientFrom(s.url, '198.51.100.66');
    sameAddress.send({ type: 'find' });
    await sameAddress.expect('searching');
    assert.equal((await sameAddress.expect('error')).code, 'banned');

    // A moderator lifts the ban (and the address ban with it).
    assert.deepEqual((await api(s.url, `/admin/bans/${encodeURIComponent(r.target.person)}`, { method: 'DELETE' })).status, 200);
    assert.equal((await api(s.url, `/admin/bans/${encodeURIComponent(r.target.person)}`, { method: 'DELETE' })).status, 404);
    sameAddress.send({ type: 'find' });
    assert.deepEqual(await sameAddress.next(), { type: 'searching' });
    assert.ok(await sameAddress.quiet(100), 'no ban any more');
    assert.equal((await api(s.url, `/admin/reports/${r.id}/dismiss`, { method: 'POST' })).status, 200);
    assert.equal((await api(s.url, `/admin/reports/${r.id}/dismiss`, { method: 'POST' })).status, 404);
    assert.deepEqual((await api(s.url, '/admin/reports')).body, { reports: [] });
    const audits = lines.map((l) => JSON.parse(l) as { event?: string; action?: string }).filter((l) => l.event === 'audit');
    assert.deepEqual(audits.map((a) => a.action), ['unban', 'dismiss']);
    for (const c of [bad, sameAddress]) c.close();
  });

  test('one person cannot ban anyone alone: many reports from one address count once', async () => {
    const s = await startServer({ trustProxy: true, chat: { rateLimit: 0 } });
    const target = await clientFrom(s.url, '198.51.100.1');
    for (let i = 0; i < 4; i++) {
      const r = await clientFrom(s.url, '203.0.113.50'); // a new connection (person) each time, one address
      await matchUp(target, r);
      r.send({ type: 'report', reason: 'spam' });
      await r.expect('reported');
      r.close();
      await target.expect('ended');
    }
    target.send({ type: 'find' });
    assert.deepEqual(await target.next(), { type: 'searching' });
    assert.ok(await target.quiet(100), 'not banned');
    target.close();
  });

  test('a spam wave: the same ad reaches five partners, then no one; it is queued for review; "hi" to everyone is fine', async () => {
    const s = await startServer({ trustProxy: true, adminToken: TOKEN, chat: { rateLimit: 0 } });
    const spammer = await clientFrom(s.url, '198.51.100.9');
    const got: boolean[] = [];
    for (let i = 1; i <= 7; i++) {
      const p = await clientFrom(s.url, `203.0.113.${100 + i}`);
      await matchUp(spammer, p);
      spammer.send({ type: 'msg', text: 'hi' });
      assert.equal((await p.expect('msg')).text, 'hi');
      spammer.send({ type: 'msg', text: i % 2 === 0 ? 'Hot singles at SPAM.example  ' : 'hot singles at spam.example' });
      spammer.send({ type: 'msg', text: 'still there?' });
      const next = await p.next();
      got.push(next.text !== 'still there?');
      if (next.text !== 'still there?') assert.equal((await p.expect('msg')).text, 'still there?');
      p.close();
      await spammer.expect('ended');
    }
    assert.deepEqual(got, [true, true, true, true, true, false, false]);
    assert.equal(s.chat.moderation.stats.spamDropped, 2);
    const { body } = await api(s.url, '/admin/reports');
    assert.equal(body.reports.length, 1);
    assert.deepEqual([body.reports[0].reason, body.reports[0].automatic, body.reports[0].reporters], ['spam', true, 0]);
    assert.match(body.reports[0].evidence[0].text, /spam\.example/i);
    spammer.close();
  });

  test('the moderator API: 404 without a token; 401 without the right one; bad input is a clear 4xx', async () => {
    const off = await startServer();
    assert.equal((await fetch(`${off.url}/admin/reports`, { headers: auth })).status, 404);
    assert.equal((await fetch(`${off.url}/admin/`)).status, 404);

    const s = await startServer({ adminToken: TOKEN });
    assert.equal((await fetch(`${s.url}/admin/reports`)).status, 401);
    assert.equal((await fetch(`${s.url}/admin/reports`, { headers: { authorization: `Bearer ${TOKEN}x` } })).status, 401);
    assert.equal((await fetch(`${s.url}/admin/reports`, { headers: { authorization: TOKEN } })).status, 401);
    assert.equal((await api(s.url, '/admin/reports')).status, 200);
    assert.equal((await api(s.url, '/admin/bans', { method: 'POST', body: '{"person":' })).status, 400);
    assert.equal((await api(s.url, '/admin/bans', { method: 'POST', body: JSON.stringify({ person: 'p', minutes: 0 }) })).status, 400);
    assert.equal((await api(s.url, '/admin/bans', { method: 'POST', body: JSON.stringify({ person: 'p', minutes: 1.5 }) })).status, 400);
    assert.equal((await api(s.url, '/admin/bans', { method: 'POST', body: JSON.stringify({ minutes: 5 }) })).status, 400);
    assert.equal((await api(s.url, '/admin/bans', { method: 'POST', body: JSON.stringify({ person: 'x'.repeat(2000), minutes: 5 }) })).status, 413);
    assert.equal((await api(s.url, '/admin/bans', { method: 'GET' })).status, 405);
    assert.equal((await api(s.url, '/admin/nothing')).status, 404);
    const ban = await api(s.url, '/admin/bans', { method: 'POST', body: JSON.stringify({ person: 'someone', minutes: 5 }) });
    assert.equal(ban.status, 200);
    assert.equal(ban.body.person, 'someone');
    assert.ok(Math.abs(ban.body.until - (Date.now() + 5 * 60_000)) < 5000);
  });

  test('a moderator ban stops a connected person; with --internal-port the API is only there', async () => {
    const s = await startServer({ adminToken: TOKEN, internalPort: 0, chat: { rateLimit: 0 } });
    assert.equal((await fetch(`${s.url}/admin/reports`, { headers: auth })).status, 404);
    const a = await Client.welcomed(s.url);
    const person = [...s.chat.sessions()][0]!.person;
    assert.equal((await api(s.internalUrl, '/admin/bans', { method: 'POST', body: JSON.stringify({ person, minutes: 10 }) })).status, 200);
    a.c.send({ type: 'find' });
    await a.c.expect('searching');
    assert.equal((await a.c.expect('error')).code, 'banned');
    a.c.close();
  });
});
