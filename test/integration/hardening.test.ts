/**
 * The security review's findings on the chat and HTTP side, each reproduced as the attack was
 * described, on real sockets: the `leave` flood, IPv6 prefixes, foreign origins, `/metrics` on
 * the public port, and address keys kept out of logs.
 */
import { strict as assert } from 'node:assert';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { WebSocketError } from '@strangers/websocket';
import { Client, startServer, stopServersAfterEachTest } from './helpers.js';

stopServersAfterEachTest();

const refusedWith = (status: number) => (e: unknown) => e instanceof WebSocketError && e.status === status;

describe('hardening: chat and HTTP', () => {
  test('a flood of `leave` that changes nothing is closed with 1008; a real leave is never limited', async () => {
    const s = await startServer({ chat: { rateLimit: 5, rateBurst: 10 } });
    // A leave that ends something always works, however fast: 30 conversations left in a row.
    const a = await Client.welcomed(s.url);
    const leave = { type: 'leave', pad: 'x'.repeat(12_000) };
    for (let i = 0; i < 30; i++) {
      a.c.send({ type: 'leave' });
    }
    // 30 leaves while idle are a flood (20 strikes, forgiven at one per second): closed.
    const closed = await a.c.closed(5000);
    assert.equal(closed.code, 1008);

    const b = await Client.welcomed(s.url);
    for (let i = 0; i < 2000 && b.c.inbox.closed === undefined; i++) {
      b.c.send(leave);
      if (i % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    assert.equal((await b.c.closed(5000)).code, 1008);
  });

  test('leave while searching is never counted: searching and stopping 40 times stays open', async () => {
    const s = await startServer({ chat: { rateLimit: 0 } });
    const a = await Client.welcomed(s.url);
    for (let i = 0; i < 40; i++) {
      a.c.send({ type: 'find' });
      await a.c.expect('searching');
      a.c.send({ type: 'leave' });
    }
    a.c.send({ type: 'find' });
    await a.c.expect('searching');
    assert.equal(a.c.inbox.closed, undefined);
    a.c.close();
  });

  test('IPv6: one /64 is one address for the per-address cap; another /64 is another', async () => {
    const s = await startServer({ trustProxy: true, maxPerIp: 20 });
    const clients: Client[] = [];
    // 20 different addresses of one /64 fill the cap of 20...
    for (let i = 1; i <= 20; i++) clients.push(await Client.open(s.url, { 'X-Forwarded-For': `2001:db8:1:2::${i.toString(16)}` }));
    // ...so the 21st address of that /64 is refused, however different it looks.
    await assert.rejects(Client.open(s.url, { 'X-Forwarded-For': '2001:db8:1:2:ffff:eeee:dddd:cccc' }), refusedWith(429));
    // Another /64 is another subscriber.
    clients.push(await Client.open(s.url, { 'X-Forwarded-For': '2001:db8:1:3::1' }));
    for (const c of clients) c.close();
  });

  test('IPv6: --ipv6-prefix 128 counts single addresses', async () => {
    const s = await startServer({ trustProxy: true, maxPerIp: 1, ipv6Prefix: 128 });
    const a = await Client.open(s.url, { 'X-Forwarded-For': '2001:db8::1' });
    const b = await Client.open(s.url, { 'X-Forwarded-For': '2001:db8::2' });
    await assert.rejects(Client.open(s.url, { 'X-Forwarded-For': '2001:db8::2' }), refusedWith(429));
    a.close();
    b.close();
  });

  test('IPv6: reporters from one /64 are one reporter; three /64s ban', async () => {
    const s = await startServer({ trustProxy: true, chat: { rateLimit: 0, interestWaitMs: 60_000 } });
    const target = await Client.open(s.url, { 'X-Forwarded-For': '198.51.100.7' });
    await target.expect('welcome');
    const reportFrom = async (address: string): Promise<void> => {
      const r = await Client.open(s.url, { 'X-Forwarded-For': address });
      await r.expect('welcome');
      target.send({ type: 'find' });
      await target.expect('searching');
      r.send({ type: 'find' });
      await r.expect('searching');
      await target.expect('matched');
      await r.expect('matched');
      r.send({ type: 'report' });
      await r.expect('reported');
      r.send({ type: 'leave' });
      await target.expect('ended');
      r.close();
    };
    for (let i = 1; i <= 3; i++) await reportFrom(`2001:db8:aaaa:1::${i}`);
    target.send({ type: 'find' });
    assert.deepEqual(await target.next(), { type: 'searching' }); // not banned: one reporter
    target.send({ type: 'leave' });
    await reportFrom('2001:db8:aaaa:2::1');
    await reportFrom('2001:db8:aaaa:3::1');
    target.send({ type: 'find' });
    await target.expect('searching');
    assert.equal((await target.expect('error')).code, 'banned');
    target.close();
  });

  test('origins: by default only the page itself and non-browsers; --origins widens; * allows all', async () => {
    const s = await startServer();
    const own = s.url; // http://127.0.0.1:PORT: the Origin of the page this server serves
    await assert.rejects(Client.open(s.url, { Origin: 'https://evil.example' }), refusedWith(403));
    await assert.rejects(Client.open(s.url, { Origin: own.replace('127.0.0.1', '127.0.0.1.evil.example') }), refusedWith(403));
    await assert.rejects(Client.open(s.url, { Origin: 'null' }), refusedWith(403));
    (await Client.open(s.url, { Origin: own })).close();
    (await Client.open(s.url)).close(); // no Origin: not a browser

    const listed = await startServer({ origins: ['https://chat.example'] });
    (await Client.open(listed.url, { Origin: 'https://chat.example' })).close();
    (await Client.open(listed.url, { Origin: listed.url })).close();
    await assert.rejects(Client.open(listed.url, { Origin: 'https://evil.example' }), refusedWith(403));

    const any = await startServer({ origins: ['*'] });
    (await Client.open(any.url, { Origin: 'https://evil.example' })).close();
  });

  test('--internal-port: /metrics only there, 404 on the public port; without it, public as before', async () => {
    const s = await startServer({ internalPort: 0 });
    assert.ok(s.internalUrl.startsWith('http://127.0.0.1:'), s.internalUrl);
    assert.equal((await fetch(`${s.url}/metrics`)).status, 404);
    const m = await fetch(`${s.internalUrl}/metrics`);
    assert.equal(m.status, 200);
    assert.match(await m.text(), /strangers_connections/);
    assert.equal((await fetch(`${s.internalUrl}/readyz`)).status, 200);
    assert.equal((await fetch(`${s.internalUrl}/`)).status, 404); // not the page
    assert.equal((await fetch(`${s.url}/`)).status, 200);

    const plain = await startServer();
    assert.equal((await fetch(`${plain.url}/metrics`)).status, 200);
  });

  test('a ban logs no person id and no address key', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const s = await startServer({ trustProxy: true, logger: pino({ level: 'debug' }, sink), chat: { rateLimit: 0 } });
    const target = await Client.open(s.url, { 'X-Forwarded-For': '203.0.113.9' });
    await target.expect('welcome');
    for (let i = 1; i <= 3; i++) {
      const r = await Client.open(s.url, { 'X-Forwarded-For': `203.0.113.${20 + i}` });
      await r.expect('welcome');
      target.send({ type: 'find' });
      await target.expect('searching');
      r.send({ type: 'find' });
      await r.expect('searching');
      await r.expect('matched');
      await target.expect('matched');
      r.send({ type: 'report' });
      await r.expect('reported');
      r.close();
      await target.expect('ended');
    }
    target.send({ type: 'find' });
    await target.expect('searching');
    assert.equal((await target.expect('error')).code, 'banned');
    const people = [...s.chat.sessions()].flatMap((x) => [x.person, x.address]);
    assert.ok(people.length > 0);
    const banned = lines.filter((l) => l.includes('"banned"'));
    assert.equal(banned.length, 1, lines.join(''));
    for (const line of lines) for (const key of people) assert.ok(!line.includes(key), `a key in the logs: ${line}`);
    for (const line of lines) assert.ok(!line.includes('203.0.113'), `an address in the logs: ${line}`);
    target.close();
  });
});
