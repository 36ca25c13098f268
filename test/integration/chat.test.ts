/**
 * The chat over real sockets: the real server in-process on 127.0.0.1:0, clients on src/ws.
 * Covers pairing, interests and the fallback, every `ended` reason, every error code, rate
 * limiting, connection limits and shutdown.
 */
import { strict as assert } from 'node:assert';
import { connect as netConnect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { MemoryEngine } from '../../src/engine/memory.js';
import type { StrangersServer } from '../../src/http/server.js';
import { WebSocketError, connect, encodeFrame } from '@strangers/websocket';
import { Client, pair, startServer, stopServersAfterEachTest } from './helpers.js';

stopServersAfterEachTest();

describe('chat over WebSocket', () => {
  let server: StrangersServer;
  let base: string;
  before(async () => {
    server = await startServer({ chat: { interestWaitMs: 60_000, rateLimit: 0 } });
    base = server.url;
  });
  after(() => server.stop());

  test('welcome: a fresh anonymous id per connection and the online count', async () => {
    const a = await Client.welcomed(base);
    const b = await Client.welcomed(base);
    assert.match(a.id, /^[0-9a-f-]{36}$/);
    assert.notEqual(a.id, b.id);
    assert.ok(b.online >= 2, `online ${b.online}`);
    a.c.close();
    b.c.close();
  });

  test('two finders are matched; msg and typing reach the partner only, in order', async () => {
    const [a, b] = await pair(base);
    for (let i = 0; i < 20; i++) a.send({ type: 'msg', text: `a${i}` });
    b.send({ type: 'typing', on: true });
    b.send({ type: 'msg', text: 'héllo 👋 "quoted" \\ \n' });
    for (let i = 0; i < 20; i++) assert.deepEqual(await b.next(), { type: 'msg', text: `a${i}`, seq: i + 1 });
    assert.deepEqual(await a.next(), { type: 'typing', on: true });
    assert.deepEqual(await a.next(), { type: 'msg', text: 'héllo 👋 "quoted" \\ \n', seq: 1 });
    a.close();
    assert.deepEqual(await b.next(), { type: 'ended', reason: 'disconnected' });
    b.close();
  });

  test('interests: a shared interest wins over the longest waiter; common is normalized', async () => {
    const x = await Client.welcomed(base);
    const y = await Client.welcomed(base);
    const z = await Client.welcomed(base);
    x.c.send({ type: 'find', interests: ['cats'] });
    await x.c.expect('searching');
    y.c.send({ type: 'find', interests: ['  Music ', 'MUSIC', 'Cafe\u0301'] });
    await y.c.expect('searching');
    z.c.send({ type: 'find', interests: ['café', 'music', 'dogs'] });
    await z.c.expect('searching');
    const my = await y.c.expect('matched');
    const mz = await z.c.expect('matched');
    assert.deepEqual([...(my.common as string[])].sort(), ['café', 'music']);
    assert.deepEqual(mz.common, my.common);
    assert.ok(await x.c.quiet(100), 'x (different interest) stays searching');
    for (const c of [x, y, z]) c.c.close();
  });

  test('next: partner gets skipped, the skipper searches again, and they are not paired again', async () => {
    const [a, b, aId] = await pair(base);
    a.send({ type: 'next' });
    assert.deepEqual(await a.next(), { type: 'searching' });
    assert.deepEqual(await b.next(), { type: 'ended', reason: 'skipped' });
    b.send({ type: 'find' });
    await b.expect('searching');
    assert.ok(await a.quiet(150), 'a and b must not be re-paired');
    assert.ok(await b.quiet(0));
    const c = await Client.welcomed(base);
    c.c.send({ type: 'find' });
    await c.c.expect('searching');
    await c.c.expect('matched');
    await a.expect('matched'); // a waited longest
    const d = await Client.welcomed(base);
    d.c.send({ type: 'find' });
    await d.c.expect('searching');
    await d.c.expect('matched');
    await b.expect('matched');
    assert.ok(aId);
    for (const x of [a, b, c.c, d.c]) x.close();
  });

  test('leave: partner gets left; the leaver is idle (msg -> not_matched), find works again', async () => {
    const [a, b] = await pair(base);
    a.send({ type: 'leave' });
    assert.deepEqual(await b.next(), { type: 'ended', reason: 'left' });
    a.send({ type: 'msg', text: 'anyone?' });
    assert.equal((await a.next()).code, 'not_matched');
    b.send({ type: 'msg', text: 'hello?' });
    assert.equal((await b.next()).code, 'not_matched');
    a.send({ type: 'leave' }); // idle leave: nothing
    a.send({ type: 'find' });
    assert.equal((await a.next()).type, 'searching');
    a.send({ type: 'leave' }); // leaving the queue
    b.send({ type: 'find' });
    await b.expect('searching');
    assert.ok(await b.quiet(100), 'a left the queue and must not be matched');
    a.close();
    b.close();
  });

  test('disconnect: the partner gets disconnected', async () => {
    const [a, b] = await pair(base);
    a.conn.terminate();
    assert.deepEqual(await b.next(), { type: 'ended', reason: 'disconnected' });
    b.close();
  });

  test('error codes: bad_message, not_matched, too_long, already_matched', async () => {
    const { c } = await Client.welcomed(base);
    for (const bad of ['not json', '[]', '"x"', '{"type":"nope"}', '{}', '{"type":"msg","text":""}', '{"type":"msg","text":5}', '{"type":"typing","on":"yes"}', '{"type":"find","interests":"x"}', '{"type":"find","interests":[1]}']) {
      c.send(bad);
      const m = await c.next();
      assert.equal(m.type, 'error', bad);
      assert.equal(m.code, 'bad_message', bad);
      assert.equal(typeof m.message, 'string');
    }
    c.conn.send(Buffer.from('{"type":"find"}'), true);
    assert.equal((await c.next()).code, 'bad_message');
    c.send({ type: 'msg', text: 'x' });
    assert.equal((await c.next()).code, 'not_matched');
    c.send({ type: 'report' });
    assert.equal((await c.next()).code, 'not_matched');
    c.send({ type: 'typing', on: true }); // ignored when not matched
    c.close();
    const [a, b] = await pair(base);
    a.send({ type: 'msg', text: 'x'.repeat(2001) });
    assert.equal((await a.next()).code, 'too_long');
    a.send({ type: 'msg', text: '😀'.repeat(2000) }); // 2000 characters, 4000 UTF-16 units
    assert.equal((await b.next()).text, '😀'.repeat(2000));
    a.send({ type: 'find' });
    assert.equal((await a.next()).code, 'already_matched');
    a.close();
    b.close();
  });

  test('a frame larger than the protocol needs closes with 1009', async () => {
    const { c } = await Client.welcomed(base);
    c.send({ type: 'msg', text: 'x'.repeat(200_000) });
    assert.equal((await c.closed()).code, 1009);
  });

  test('a peer that stops answering pings ends its conversation as disconnected', async () => {
    const s = await startServer({ heartbeatMs: 100 });
    const b = await Client.welcomed(s.url);
    // A raw client that completes the handshake, searches, then never answers a ping.
    const raw = netConnect({ host: '127.0.0.1', port: Number(new URL(s.url).port) });
    await new Promise((r) => raw.once('connect', r));
    raw.write('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    await new Promise((r) => raw.once('data', r));
    raw.on('data', () => {});
    raw.write(encodeFrame(1, '{"type":"find"}', true, true));
    b.c.send({ type: 'find' });
    await b.c.expect('searching');
    await b.c.expect('matched');
    // b keeps talking (so b itself answers pings); raw stays silent.
    assert.deepEqual(await b.c.next(2000), { type: 'ended', reason: 'disconnected' });
    raw.destroy();
    b.c.close();
    await s.stop();
  });
});

describe('limits and moderation', () => {
  test('rate limiting: over the bucket gets rate_limited, flooding closes 1008', async () => {
    const s = await startServer({ chat: { rateLimit: 2, rateBurst: 3, floodStrikes: 5 } });
    const [a, b] = await pair(s.url); // each used 1 token (find)
    a.send({ type: 'msg', text: '1' });
    a.send({ type: 'msg', text: '2' });
    a.send({ type: 'msg', text: '3' });
    assert.equal((await b.next()).text, '1');
    assert.equal((await b.next()).text, '2');
    const m = await a.next();
    assert.deepEqual([m.type, m.code], ['error', 'rate_limited']);
    a.send({ type: 'leave' }); // never limited
    assert.deepEqual(await b.next(), { type: 'ended', reason: 'left' });
    for (let i = 0; i < 10; i++) a.send({ type: 'typing', on: true });
    assert.equal((await a.closed()).code, 1008);
    b.close();
    await s.stop();
  });

  test('--rate-limit 0 turns limiting off', async () => {
    const s = await startServer({ chat: { rateLimit: 0 } });
    const [a, b] = await pair(s.url);
    for (let i = 0; i < 200; i++) a.send({ type: 'msg', text: String(i) });
    for (let i = 0; i < 200; i++) assert.equal((await b.next()).text, String(i));
    a.close();
    b.close();
    await s.stop();
  });

  test('connections per IP: 429 before any frame; another address is still admitted', async () => {
    const s = await startServer({ maxPerIp: 2 });
    const a = await Client.open(s.url);
    const b = await Client.open(s.url);
    await assert.rejects(Client.open(s.url), (e: unknown) => e instanceof WebSocketError && e.status === 429);
    const other = await connect(`${s.url.replace('http', 'ws')}/ws`, { handler: { message() {}, close() {} }, localAddress: '127.0.0.2' });
    a.close();
    await a.closed();
    const c = await Client.open(s.url); // a slot was freed
    for (const x of [b, c]) x.close();
    other.close();
    await s.stop();
  });

  test('behind a proxy (trustProxy): the limit counts X-Forwarded-For addresses, not the proxy', async () => {
    const s = await startServer({ maxPerIp: 1, trustProxy: true });
    const viaProxy = (client: string): Promise<Client> => Client.open(s.url, { 'X-Forwarded-For': `203.0.113.9, ${client}` });
    const a = await viaProxy('198.51.100.1');
    const b = await viaProxy('198.51.100.2'); // same socket address, another client behind the proxy
    await assert.rejects(viaProxy('198.51.100.1'), (e: unknown) => e instanceof WebSocketError && e.status === 429);
    a.close();
    b.close();
    await s.stop();

    // Without trustProxy the header is ignored: a client cannot pick its own address.
    const t = await startServer({ maxPerIp: 1 });
    const c = await Client.open(t.url, { 'X-Forwarded-For': '198.51.100.1' });
    await assert.rejects(Client.open(t.url, { 'X-Forwarded-For': '198.51.100.2' }), (e: unknown) => e instanceof WebSocketError && e.status === 429);
    c.close();
    await t.stop();
  });

  test('connections in total: 503 before any frame', async () => {
    const s = await startServer({ maxConnections: 2 });
    const a = await Client.open(s.url);
    const b = await Client.open(s.url);
    await assert.rejects(Client.open(s.url), (e: unknown) => e instanceof WebSocketError && e.status === 503);
    a.close();
    b.close();
    await s.stop();
  });

  test('report: reported ack; three distinct people get a user banned from new matches', async () => {
    const s = await startServer({ chat: { reportThreshold: 3, rateLimit: 0 } });
    const bad = await Client.welcomed(s.url);
    const reporters = [];
    for (const ip of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) reporters.push((await Client.welcomed(s.url, ip)).c);
    for (const r of reporters) {
      bad.c.send({ type: 'find' });
      await bad.c.expect('searching');
      r.send({ type: 'find' });
      await r.expect('searching');
      await r.expect('matched');
      await bad.c.expect('matched');
      r.send({ type: 'report' });
      assert.deepEqual(await r.next(), { type: 'reported' });
      r.send({ type: 'leave' });
      assert.deepEqual(await bad.c.next(), { type: 'ended', reason: 'left' });
    }
    bad.c.send({ type: 'find' });
    await bad.c.expect('searching');
    const banned = await bad.c.expect('error');
    assert.equal(banned.code, 'banned');
    assert.ok(typeof banned.until === 'number' && banned.until > Date.now() + 29 * 60_000, `until ${banned.until}`);
    bad.c.send({ type: 'next' });
    await bad.c.expect('searching');
    assert.equal((await bad.c.next()).code, 'banned');
    // Nothing identifying was ever sent: no message carries an address.
    assert.ok(!JSON.stringify(bad.c.inbox.messages).includes('127.0.0'));
    bad.c.close();
    for (const r of reporters) r.close();
    await s.stop();
  });

  test('engine_unavailable when the engine is not ready', async () => {
    class DownEngine extends MemoryEngine {
      override ready(): boolean {
        return false;
      }
    }
    const s = await startServer({ engine: new DownEngine() });
    const { c } = await Client.welcomed(s.url);
    c.send({ type: 'find' });
    assert.equal((await c.next()).code, 'engine_unavailable');
    const res = await fetch(`${s.url}/readyz`);
    assert.equal(res.status, 503);
    c.close();
    await s.stop();
  });
});

describe('shutdown', () => {
  test('drain: matched users get ended shutdown, everyone is closed 1001, new upgrades refused', async () => {
    const s = await startServer({ drainTimeoutMs: 5000 });
    const [a, b] = await pair(s.url);
    const { c } = await Client.welcomed(s.url);
    c.send({ type: 'find' });
    await c.expect('searching');
    const stopped = s.stop('test');
    assert.deepEqual(await a.next(), { type: 'ended', reason: 'shutdown' });
    assert.deepEqual(await b.next(), { type: 'ended', reason: 'shutdown' });
    assert.equal((await a.closed()).code, 1001);
    assert.equal((await b.closed()).code, 1001);
    assert.equal((await c.closed()).code, 1001);
    assert.equal(c.inbox.messages.filter((m) => m.type === 'ended').length, 0, 'searching users get no ended');
    const t0 = Date.now();
    await stopped;
    assert.ok(Date.now() - t0 < 5000);
    await assert.rejects(Client.open(s.url));
  });
});

