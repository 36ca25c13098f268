/** HTTP side of the server on a real socket: health, readiness, stats, static, TLS. */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { request } from 'node:https';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect } from '@strangers/websocket';
import { Client, pair, startServer, stopServersAfterEachTest } from '../integration/helpers.js';

stopServersAfterEachTest();

test('healthz, readyz, stats (live counts), 404, 405, 426 on plain GET /ws', async () => {
  const s = await startServer();
  const base = s.url;
  assert.deepEqual(await (await fetch(`${base}/healthz`)).json(), { status: 'ok' });
  const ready = await fetch(`${base}/readyz`);
  assert.equal(ready.status, 200);
  const [a, b] = await pair(base);
  const { c } = await Client.welcomed(base);
  c.send({ type: 'find' });
  await c.expect('searching');
  const stats = await fetch(`${base}/stats`);
  assert.equal(stats.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.deepEqual(await stats.json(), { online: 3, searching: 1, chatting: 2, langs: {} });
  const missing = await fetch(`${base}/nope`);
  assert.equal(missing.status, 404);
  // Every response carries the security headers, not only the web client's files.
  for (const res of [missing, stats, ready]) {
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'/);
  }
  assert.equal((await fetch(`${base}/stats`, { method: 'POST' })).status, 405);
  assert.equal((await fetch(`${base}/ws`)).status, 426);
  const drained = s.stop();
  // While draining: not ready (the listener may already be closed: then the request fails).
  await drained;
  for (const x of [a, b, c]) assert.equal((await x.closed()).code, 1001);
});

test('https and wss with --tls-cert/--tls-key', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'strangers-tls-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  } catch {
    if (process.env.CI === 'true') throw new Error('openssl is required in CI');
    return t.skip('openssl not available');
  }
  const s = await startServer({ tlsCert: join(dir, 'cert.pem'), tlsKey: join(dir, 'key.pem') });
  assert.match(s.url, /^https:/);
  const body = await new Promise<string>((resolve, reject) => {
    request(`${s.url}/healthz`, { rejectUnauthorized: false }, (res) => {
      let d = '';
      res.on('data', (x) => (d += x));
      res.on('end', () => resolve(d));
    }).on('error', reject).end();
  });
  assert.deepEqual(JSON.parse(body), { status: 'ok' });
  const got: string[] = [];
  let resolveMsg!: () => void;
  const first = new Promise<void>((r) => (resolveMsg = r));
  const conn = await connect(`${s.url.replace('https', 'wss')}/ws`, {
    rejectUnauthorized: false,
    handler: { message: (_c, d) => { got.push(d.toString()); resolveMsg(); }, close() {} },
  });
  await first;
  assert.equal(JSON.parse(got[0]!).type, 'welcome');
  conn.close();
  await s.stop();
});

test('readyz is 503 once draining', async () => {
  const s = await startServer();
  const { c } = await Client.welcomed(s.url);
  // Keep the listener: check readiness through the router while draining.
  const stopping = s.stop();
  assert.equal(s.draining, true);
  await stopping;
  assert.equal((await c.closed()).code, 1001);
});

test('/metrics: Prometheus text with connections, matches, messages, refusals and protocol errors', async () => {
  const s = await startServer();
  const base = s.url;
  const [a, b] = await pair(base);
  a.send({ type: 'msg', text: 'hello' });
  await b.expect('msg');
  a.send({ type: 'msg', text: 'x'.repeat(3000) });
  assert.equal((await a.expect('error')).code, 'too_long');
  b.send({ type: 'report', reason: 'spam' });
  await b.expect('reported');
  // A refused upgrade (wrong path) and a protocol error (an unmasked frame from a raw socket).
  await assert.rejects(connect(`${base.replace('http', 'ws')}/elsewhere`, { handler: { message() {}, close() {} } }));
  await new Promise<void>((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port: Number(new URL(base).port) }, () => {
      sock.write(`GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
      sock.write(Buffer.from([0x81, 0x02, 0x68, 0x69])); // text frame without a mask
    });
    sock.on('data', () => {});
    sock.on('close', () => resolve());
  });

  const res = await fetch(`${base}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await res.text();
  const value = (line: string): number => {
    const m = new RegExp(`^${line.replace(/[{}"]/g, '\\$&')} (\\d+(?:\\.\\d+)?)$`, 'm').exec(text);
    assert.ok(m, `no sample ${line} in:\n${text.slice(0, 2000)}`);
    return Number(m[1]);
  };
  assert.equal(value('strangers_matched_total'), 2);
  assert.equal(value('strangers_messages_total{path="local"}'), 1);
  assert.equal(value('strangers_chat_errors_total{code="too_long"}'), 1);
  assert.equal(value('strangers_upgrades_total{result="404"}'), 1);
  assert.equal(value('strangers_ws_protocol_errors_total{code="unmasked_frame"}'), 1);
  assert.equal(value('strangers_upgrades_total{result="accepted"}'), 3);
  assert.equal(value('strangers_engine_ready'), 1);
  assert.equal(value('strangers_reports_total{reason="spam"}'), 1);
  assert.equal(value('strangers_reports_total{reason="minor"}'), 0);
  assert.equal(value('strangers_bans_total'), 0);
  assert.equal(value('strangers_bans_in_force'), 0);
  assert.equal(value('strangers_spam_dropped_total'), 0);
  assert.ok(value('strangers_process_resident_memory_bytes') > 0);
  a.close();
  b.close();
  await s.stop();
});
