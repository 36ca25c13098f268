/**
 * Conversations that survive, on one node and real sockets: receipts (`seq`, `ack`,
 * `delivered`), a dropped connection held as `away` and resumed (`resumed`, replay in order with
 * the original numbers, `back`), the window closing, forged and used tokens, a takeover, a search
 * resumed, a client that never acks, and a deploy (drain) that hands places over.
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import type { StrangersServer } from '../../src/http/server.js';
import { Client, startServer, stopServersAfterEachTest, type Msg } from './helpers.js';

stopServersAfterEachTest();

const WINDOW = 3000;

async function server(extra: Parameters<typeof startServer>[0] = {}): Promise<StrangersServer> {
  return startServer({ ...extra, chat: { rateLimit: 0, resumeWindowMs: WINDOW, ...extra.chat } });
}

async function user(base: string): Promise<{ c: Client; resume: string }> {
  const c = await Client.open(base);
  const w = await c.expect('welcome');
  return { c, resume: w.resume as string };
}

async function pairUp(base: string): Promise<[{ c: Client; resume: string }, { c: Client; resume: string }]> {
  const a = await user(base);
  const b = await user(base);
  a.c.send({ type: 'find' });
  await a.c.expect('searching');
  b.c.send({ type: 'find' });
  await b.c.expect('searching');
  await a.c.expect('matched');
  await b.c.expect('matched');
  return [a, b];
}

/** Opens a connection and resumes with `token`; returns it and the `resumed` message. */
async function resume(base: string, token: string): Promise<{ c: Client; resumed: Msg }> {
  const c = await Client.open(base);
  await c.expect('welcome');
  c.send({ type: 'resume', token });
  return { c, resumed: await c.expect('resumed') };
}

describe('resume', () => {
  test('welcome carries an unguessable resume token; msg carries seq; ack gives the sender delivered', async () => {
    const s = await server();
    const [a, b] = await pairUp(s.url);
    assert.match(a.resume, /^r1\.[^.]+\.[^.]+\.[A-Za-z0-9_-]{22}$/, 'a MAC of 128 bits');
    assert.notEqual(a.resume, b.resume);
    for (let i = 1; i <= 3; i++) a.c.send({ type: 'msg', text: `m${i}` });
    for (let i = 1; i <= 3; i++) assert.deepEqual(await b.c.expect('msg'), { type: 'msg', text: `m${i}`, seq: i });
    b.c.send({ type: 'ack', seq: 2 });
    assert.deepEqual(await a.c.next(), { type: 'delivered', seq: 2 });
    b.c.send({ type: 'ack', seq: 3 });
    assert.deepEqual(await a.c.next(), { type: 'delivered', seq: 3 });
    b.c.send({ type: 'ack', seq: 3 }); // nothing new: no second `delivered`
    b.c.send({ type: 'ack', seq: 99 }); // beyond what was sent: ignored
    b.c.send({ type: 'msg', text: 'back at you' });
    assert.deepEqual(await a.c.next(), { type: 'msg', text: 'back at you', seq: 1 });
    assert.ok(await a.c.quiet(100));
  });

  test('a dropped connection: the partner hears away; a resume replays what was not acknowledged, in order, then back', async () => {
    const s = await server();
    const [a, b] = await pairUp(s.url);
    a.c.send({ type: 'msg', text: 'one' });
    a.c.send({ type: 'msg', text: 'two' });
    assert.equal((await b.c.expect('msg')).seq, 1);
    assert.equal((await b.c.expect('msg')).seq, 2);
    b.c.send({ type: 'ack', seq: 1 }); // b's client acknowledges (so its server keeps what it has not)
    await a.c.expect('delivered');
    b.c.conn.terminate(); // the network drops: no close frame, no leave
    assert.deepEqual(await a.c.next(), { type: 'away' });
    a.c.send({ type: 'msg', text: 'three' }); // to the absent user: kept
    a.c.send({ type: 'typing', on: true }); // not kept
    const { c: b2, resumed } = await resume(s.url, b.resume);
    assert.deepEqual(Object.keys(resumed).sort(), ['common', 'resume', 'sent', 'state', 'type']);
    assert.equal(resumed.sent, 0, 'b had sent nothing yet');
    assert.equal(resumed.state, 'chatting');
    assert.deepEqual(resumed.common, []);
    assert.notEqual(resumed.resume, b.resume, 'a new token');
    // Everything b's client had not acknowledged, with the original numbers, in order.
    assert.deepEqual(await b2.next(), { type: 'msg', text: 'two', seq: 2 });
    assert.deepEqual(await b2.next(), { type: 'msg', text: 'three', seq: 3 });
    assert.deepEqual(await a.c.next(), { type: 'back' });
    // The conversation goes on, both ways, numbering continued.
    a.c.send({ type: 'msg', text: 'four' });
    assert.deepEqual(await b2.next(), { type: 'msg', text: 'four', seq: 4 });
    b2.send({ type: 'msg', text: 'hi again' });
    assert.deepEqual(await a.c.next(), { type: 'msg', text: 'hi again', seq: 1 });
    b2.send({ type: 'ack', seq: 4 });
    assert.deepEqual(await a.c.next(), { type: 'delivered', seq: 4 });
    // The old token is used up.
    const again = await Client.open(s.url);
    await again.expect('welcome');
    again.send({ type: 'resume', token: b.resume });
    assert.equal((await again.expect('error')).code, 'resume_failed');
    assert.deepEqual(s.chat.stats.resumes, { resumed: 1, failed: 1, expired: 0 });
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    assert.match(metrics, /^strangers_resumes_total\{result="resumed"\} 1$/m);
    assert.match(metrics, /^strangers_resumes_total\{result="failed"\} 1$/m);
    assert.match(metrics, /^strangers_places_held 0$/m);
  });

  test('the window closes: the partner hears ended disconnected, and the token no longer works', async () => {
    const s = await server({ chat: { resumeWindowMs: 300 } });
    const [a, b] = await pairUp(s.url);
    b.c.close(); // a clean close without leave also holds the place
    assert.deepEqual(await a.c.next(), { type: 'away' });
    assert.deepEqual(await a.c.next(1500), { type: 'ended', reason: 'disconnected' });
    const c = await Client.open(s.url);
    const w = await c.expect('welcome');
    c.send({ type: 'resume', token: b.resume });
    assert.equal((await c.expect('error')).code, 'resume_failed');
    // ...and the connection goes on as the new user its welcome announced.
    c.send({ type: 'find' });
    await c.expect('searching');
    assert.ok([...s.chat.sessions()].some((x) => x.id === w.id));
  });

  test('forged or malformed tokens fail; the connection goes on as a new user', async () => {
    const s = await server();
    const [a] = await pairUp(s.url);
    const parts = a.resume.split('.');
    const forged = [
      [...parts.slice(0, 3), 'A'.repeat(22)].join('.'),
      [parts[0], parts[1], 'someone-else', parts[3]].join('.'),
      'r1.nope',
      '',
      'x'.repeat(300),
    ];
    const c = await Client.open(s.url);
    await c.expect('welcome');
    for (const token of forged) {
      c.send({ type: 'resume', token });
      const m = await c.next();
      assert.ok(m.type === 'error' && (m.code === 'resume_failed' || m.code === 'bad_message'), JSON.stringify(m));
    }
    assert.equal(s.chat.counts().chatting, 2, 'the real place is untouched');
  });

  test('resuming while the old connection is still open takes the place over: the old one is closed', async () => {
    const s = await server();
    const [a, b] = await pairUp(s.url);
    const { c: b2, resumed } = await resume(s.url, b.resume);
    assert.equal(resumed.state, 'chatting');
    assert.equal((await b.c.closed()).code, 4000);
    a.c.send({ type: 'msg', text: 'who is there?' });
    assert.deepEqual(await b2.next(), { type: 'msg', text: 'who is there?', seq: 1 });
    assert.ok(await a.c.quiet(100), 'no away or back for a takeover');
  });

  test('a searching user who drops searches again on resume', async () => {
    const s = await server();
    const a = await user(s.url);
    a.c.send({ type: 'find', interests: ['chess'] });
    await a.c.expect('searching');
    a.c.conn.terminate();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(s.chat.counts().searching, 0, 'out of the queue while away');
    const { c, resumed } = await resume(s.url, a.resume);
    assert.equal(resumed.state, 'searching');
    await c.expect('searching');
    const b = await user(s.url);
    b.c.send({ type: 'find', interests: ['chess'] });
    await b.c.expect('searching');
    assert.deepEqual(await c.expect('matched'), { type: 'matched', common: ['chess'] });
  });

  test('a client that never acks chats as before; what is kept for it stays within the evidence bound', async () => {
    const s = await server();
    const [a, b] = await pairUp(s.url);
    for (let i = 0; i < 50; i++) a.c.send({ type: 'msg', text: `x${i}` });
    for (let i = 0; i < 50; i++) assert.equal((await b.c.expect('msg')).seq, i + 1);
    const bs = [...s.chat.sessions()].find((x) => x.receipts !== undefined && x.receipts.toSeq === 50)!;
    assert.equal(bs.receipts!.pending.length, 0, 'nothing kept beyond the evidence for a client that does not ack');
    assert.deepEqual(bs.receipts!.log!.partnerLinesAfter(0).map(([seq]) => seq), Array.from({ length: 20 }, (_, i) => 31 + i), 'the evidence: the last 20, with their seq');
  });

  test('what is kept for an absent user is bounded', async () => {
    const s = await server({ chat: { maxUnacked: 10 } });
    const [a, b] = await pairUp(s.url);
    b.c.conn.terminate();
    await a.c.expect('away');
    for (let i = 1; i <= 25; i++) a.c.send({ type: 'msg', text: `m${i}` });
    const { c } = await resume(s.url, b.resume);
    const got: Msg[] = [];
    for (let i = 0; i < 10; i++) got.push(await c.next());
    assert.deepEqual(got.map((m) => m.seq), [16, 17, 18, 19, 20, 21, 22, 23, 24, 25], 'the newest 10, with their numbers');
    assert.ok(await c.quiet(100));
  });

  test('a deploy: the drain closes with 1012 and holds the places for a resume elsewhere', async () => {
    // The hand-over to another node is tested across two nodes (redis-resume.test.ts); here,
    // the node's own side: 1012, places held while draining, and no longer than their window.
    const s = await server({ drainTimeoutMs: 8000 });
    const [a, b] = await pairUp(s.url);
    const stopping = s.stop('test');
    assert.equal((await a.c.closed()).code, 1012);
    assert.equal((await b.c.closed()).code, 1012);
    for (const end = Date.now() + 2000; s.chat.held() < 2 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
    assert.equal(s.chat.held(), 2, 'both places are held for a resume elsewhere');
    const t = Date.now();
    await stopping;
    // Nobody came back: the node waited for the window (not the whole drain timeout) and left.
    assert.ok(Date.now() - t < 4000, `stopped after ${Date.now() - t} ms`);
  });
});
