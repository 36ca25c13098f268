/**
 * Certificates without restarts: `reloadTls()` (what SIGHUP calls) on a real HTTPS server, then
 * the real signal on a spawned `strangers serve`. Two certificates with distinct keys made by
 * openssl; a new handshake must present the new one, an open WebSocket must keep working, and
 * every bad pair (malformed, missing, a key of another certificate, a directory) must be refused
 * with the previous certificate still served.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { freePort } from '../contract/redis-server.js';
import { startServer, stopServersAfterEachTest } from '../integration/helpers.js';
import { cli } from '../integration/redis-nodes.js';
import { parseExposition, total } from '../support/prometheus.js';
import { LiveFiles, Served, badPairs, certificates, fingerprint } from '../support/tls-reload.js';
import { getOverTls, peerFingerprint, WssChat } from '../support/tls-client.js';

stopServersAfterEachTest();

test('reloadTls: new handshakes get the new certificate, an open WebSocket keeps working, bad pairs are refused', async (t) => {
  const certs = certificates(t);
  if (certs === undefined) return;
  t.after(() => certs.remove());
  const files = new LiveFiles(join(certs.dir, 'live'));
  files.install(certs.server);
  const logs: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(line) });
  const s = await startServer({ tlsCert: files.cert, tlsKey: files.key, logger });
  const port = Number(new URL(s.url).port);
  const first = fingerprint(certs.server.cert);
  const second = fingerprint(certs.impostor.cert);
  assert.notEqual(first, second);
  assert.equal(await peerFingerprint(port), first);

  const a = await WssChat.open(s.url);
  const b = await WssChat.open(s.url);
  await a.expect('welcome');
  await b.expect('welcome');
  a.send({ type: 'find' });
  b.send({ type: 'find' });
  await a.expect('searching');
  await b.expect('searching');
  await a.expect('matched');
  await b.expect('matched');

  files.install(certs.impostor);
  assert.equal(s.reloadTls(), true);
  assert.equal(await peerFingerprint(port), second, 'a new handshake gets the new certificate');
  a.send({ type: 'msg', text: 'still here' });
  assert.equal((await b.expect('msg')).text, 'still here', 'the open connection is untouched');
  const ok = logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.event === 'tls_reload' && l.ok === true);
  assert.equal(ok?.fingerprint256, second);

  for (const [what, apply] of badPairs(files, certs, certs.server)) {
    const before = logs.length;
    apply();
    assert.equal(s.reloadTls(), false, what);
    assert.equal(await peerFingerprint(port), second, `${what}: the previous certificate is still served`);
    const line = logs.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.event === 'tls_reload');
    assert.equal(line?.ok, false, what);
    assert.equal(line?.level, 50, `${what}: logged as an error`);
    assert.equal(typeof line?.err, 'string');
  }
  a.send({ type: 'msg', text: 'and still' });
  assert.equal((await b.expect('msg')).text, 'and still');
  assert.ok(!logs.some((l) => l.includes('PRIVATE KEY') || l.includes(readFileSync(certs.impostor.key, 'utf8').split('\n')[1]!)), 'no key material in the logs');

  const m = parseExposition(await getOverTls(port, '/metrics'));
  assert.equal(total(m, 'strangers_tls_reloads_total', { result: 'ok' }), 1);
  assert.equal(total(m, 'strangers_tls_reloads_total', { result: 'failed' }), 5);
  assert.equal(total(m, 'strangers_tls_certificate_expiry_seconds'), Math.floor(Date.parse(new X509Certificate(readFileSync(certs.impostor.cert)).validTo) / 1000));

  files.install(certs.server); // a good pair again: taken
  assert.equal(s.reloadTls(), true);
  assert.equal(await peerFingerprint(port), first);
  a.close();
  b.close();
});

test('strangers serve: SIGHUP reloads the certificate; a bad pair is logged, the old one kept, the process alive', async (t) => {
  const certs = certificates(t);
  if (certs === undefined) return;
  t.after(() => certs.remove());
  const files = new LiveFiles(join(certs.dir, 'live'));
  files.install(certs.server);
  const port = await freePort();
  const proc = spawn(process.execPath, [cli, 'serve', '--host', '127.0.0.1', '--port', String(port), '--gate', 'off', '--tls-cert', files.cert, '--tls-key', files.key], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, STRANGERS_REDIS: '', STRANGERS_WORKERS: '' },
  });
  const served = new Served(proc);
  t.after(() => {
    if (served.alive) proc.kill('SIGKILL');
  });
  await served.waitFor(/listening on https:/);
  assert.equal(await peerFingerprint(port), fingerprint(certs.server.cert));
  const a = await WssChat.open(`https://127.0.0.1:${port}`);
  await a.expect('welcome');

  files.install(certs.impostor);
  let from = served.lines.length;
  proc.kill('SIGHUP');
  await served.waitFor(/"event":"tls_reload","ok":true/, from);
  assert.equal(await peerFingerprint(port), fingerprint(certs.impostor.cert));
  a.send({ type: 'find' });
  await a.expect('searching'); // the connection opened before the reload still talks

  for (const [what, apply] of badPairs(files, certs, certs.server)) {
    apply();
    from = served.lines.length;
    proc.kill('SIGHUP');
    const [line] = await served.waitFor(/"event":"tls_reload"/, from);
    assert.match(line!, /"ok":false/, what);
    assert.match(line!, /"level":50/, what);
    assert.ok(served.alive, `${what}: still running`);
    assert.equal(await peerFingerprint(port), fingerprint(certs.impostor.cert), `${what}: the previous certificate is still served`);
  }
  assert.ok(!served.lines.some((l) => l.includes('PRIVATE KEY')));
  a.send({ type: 'leave' });
  a.send({ type: 'find' });
  await a.expect('searching');
  a.close();
  proc.kill('SIGTERM');
  assert.equal(await served.exited, 0);
});
