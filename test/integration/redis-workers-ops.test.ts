/**
 * Operations of `strangers serve --workers 2 --redis` (spawned, real Redis): one scrape of
 * /metrics answers for the whole group whichever worker takes it; a scrape while a worker is
 * stopped or restarting answers with the workers that are up; SIGHUP reloads every worker's
 * certificate and a bad pair is refused by all of them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { sharedRedis, skipUnlessCI } from '../contract/redis-server.js';
import { parseExposition, total, type Sample } from '../support/prometheus.js';
import { peerFingerprint, WssChat } from '../support/tls-client.js';
import { LiveFiles, badPairs, certificates, fingerprint } from '../support/tls-reload.js';
import { Node, Talker, eventually, withDb } from './redis-nodes.js';

const redis = await sharedRedis();
const reason = 'reason' in redis ? redis.reason : undefined;

/**
 * GET /metrics on a new TCP connection each time (no keep-alive: the primary hands each
 * connection to the next worker), abandoned after `ms`. Undefined when it did not answer.
 */
function scrape(port: number, ms = 10_000): Promise<Sample[] | undefined> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics', agent: false, timeout: ms }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(parseExposition(body)) : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('timeout', () => {
      req.destroy();
      resolve(undefined);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The pids of the workers, from their start lines. */
function workerPids(node: Node): number[] {
  return node.lines.filter((l) => /"event":"start"/.test(l) && /listening on/.test(l)).map((l) => (JSON.parse(l) as { pid: number }).pid);
}

async function cluster(t: { after(fn: () => unknown): void }, db: number, extra: string[] = []): Promise<Node> {
  if (reason !== undefined) throw new Error(reason);
  const url = withDb((redis as { url: string }).url, db);
  const admin = new Redis(url);
  await admin.flushdb();
  // Two live nodes in Redis: the two workers.
  const node = await Node.start(url, ['--workers', '2', ...extra]);
  t.after(async () => {
    await node.stop('SIGKILL').catch(() => {});
    admin.disconnect();
  });
  await eventually(async () => Object.keys(await admin.hgetall('{strangers}:nodes')).length === 2, 5000, 'two workers announced');
  return node;
}

test.after(() => ('stop' in redis ? redis.stop() : undefined));

test('--workers 2: one scrape sums both workers, whichever answers; a stopped or restarting worker never hangs it', skipUnlessCI(reason), async (t) => {
  const node = await cluster(t, 9);
  const talkers: Talker[] = [];
  t.after(() => {
    for (const x of talkers) x.close();
  });
  // Round-robin accept: consecutive connections land on alternate workers, so pairs cross.
  for (let i = 0; i < 8; i++) talkers.push(await Talker.open(node.base));
  for (const x of talkers) {
    x.find();
    await new Promise((r) => setTimeout(r, 20));
  }
  await eventually(() => talkers.every((x) => x.partner !== undefined && x.received.length >= 1), 5000, 'everyone matched and greeted');
  // Each worker learns the other's counts through Redis presence, once a second.
  await eventually(async () => total((await scrape(node.port))!, 'strangers_cluster_users', { state: 'chatting' }) === 8, 5000, 'presence');

  const matchedSeen: number[] = [];
  const check = (m: Sample[]): void => {
    matchedSeen.push(total(m, 'strangers_matched_total'));
  };
  for (let i = 0; i < 6; i++) {
    const m = (await scrape(node.port))!;
    check(m);
    assert.equal(total(m, 'strangers_matched_total'), 8, `scrape ${i}: both workers' matches`);
    assert.equal(total(m, 'strangers_match_wait_seconds_count'), 8);
    assert.equal(total(m, 'strangers_messages_total'), 8, 'the hellos, local and remote');
    assert.equal(total(m, 'strangers_workers'), 2);
    assert.equal(total(m, 'strangers_workers_scraped'), 2);
    // Per worker where it helps: each worker's connections apart, and their sum.
    const w0 = total(m, 'strangers_connections', { worker: '0' });
    const w1 = total(m, 'strangers_connections', { worker: '1' });
    assert.ok(w0 > 0 && w1 > 0, `connections on both workers (${w0}, ${w1})`);
    assert.equal(w0 + w1, 8);
    assert.ok(total(m, 'strangers_process_resident_memory_bytes', { worker: 'primary' }) > 0);
    // Cluster-wide figures are each worker's view of the whole cluster: not summed.
    assert.equal(total(m, 'strangers_cluster_users', { state: 'chatting' }), 8);
  }
  // A conversation whose two sides may be on different workers: both sides count.
  talkers[0]!.next();
  await eventually(async () => {
    const m = (await scrape(node.port))!;
    check(m);
    return total(m, 'strangers_conversation_seconds_count') === 2 && total(m, 'strangers_skips_total') === 1;
  }, 5000, 'the skip and the conversation it ended, summed over workers');

  // A stopped worker: connected, but mute. Scrapes it takes hang (it is stopped); the others
  // answer within the primary's bound with the live worker, the counters as they were.
  const [, stopped] = workerPids(node);
  assert.ok(stopped !== undefined);
  process.kill(stopped, 'SIGSTOP');
  t.after(() => {
    try {
      process.kill(stopped, 'SIGCONT');
    } catch {
      // gone already
    }
  });
  let answered = 0;
  for (let i = 0; i < 8 && answered < 2; i++) {
    const m = await scrape(node.port, 4500);
    if (m === undefined) continue; // handed to the stopped worker
    answered++;
    check(m);
    assert.equal(total(m, 'strangers_workers_scraped'), 1);
    assert.equal(total(m, 'strangers_matched_total'), 8, "the stopped worker's counters are kept");
  }
  assert.equal(answered, 2, 'the live worker answered');
  process.kill(stopped, 'SIGCONT');
  await eventually(async () => total((await scrape(node.port))!, 'strangers_workers_scraped') === 2, 10_000, 'the worker answers again');

  // A killed worker: until its replacement listens, every scrape answers (the primary hands no
  // connection to a dead worker) with the live one; after, with both again.
  const [, killed] = workerPids(node);
  process.kill(killed!, 'SIGKILL');
  let sawOne = false;
  await eventually(async () => {
    // 12 s: a worker that was just forked may take the connection while it still loads (seconds
    // on a loaded machine); the property is that it answers, not how fast.
    const m = await scrape(node.port, 12_000);
    assert.ok(m !== undefined, 'a scrape during the restart answered');
    check(m);
    const scraped = total(m, 'strangers_workers_scraped');
    if (scraped === 1) sawOne = true;
    return scraped === 2 && workerPids(node).length === 3;
  }, 40_000, 'the worker restarted and answers');
  t.diagnostic(`saw a scrape with one worker during the restart: ${sawOne}`);
  const m = (await scrape(node.port))!;
  check(m);
  assert.ok(total(m, 'strangers_matched_total') >= 8, "the dead worker's matches stay counted");
  // Never a drop that rate() would read as a counter reset.
  for (let i = 1; i < matchedSeen.length; i++) assert.ok(matchedSeen[i]! >= matchedSeen[i - 1]!, `matched_total went ${matchedSeen.join(' → ')}`);
});

test('--workers 2 --tls-cert: SIGHUP to the primary reloads every worker; bad pairs refused by all, the group alive', skipUnlessCI(reason), async (t) => {
  const certs = certificates(t);
  if (certs === undefined) return;
  t.after(() => certs.remove());
  const files = new LiveFiles(join(certs.dir, 'live'));
  files.install(certs.server);
  const node = await cluster(t, 10, ['--tls-cert', files.cert, '--tls-key', files.key]);
  const first = fingerprint(certs.server.cert);
  const second = fingerprint(certs.impostor.cert);
  /** Fingerprints of 4 new handshakes: the primary deals them to both workers in turn. */
  const served = async (): Promise<string[]> => {
    const out: string[] = [];
    for (let i = 0; i < 4; i++) out.push(await peerFingerprint(node.port));
    return out;
  };
  assert.deepEqual(await served(), [first, first, first, first]);
  const base = `https://127.0.0.1:${node.port}`;
  const a = await WssChat.open(base);
  const b = await WssChat.open(base);
  t.after(() => (a.close(), b.close()));
  await a.expect('welcome');
  await b.expect('welcome');
  a.send({ type: 'find' });
  b.send({ type: 'find' });
  await a.expect('searching');
  await b.expect('searching');
  await a.expect('matched');
  await b.expect('matched');

  const reloads = (from: number, ok: boolean): number => node.lines.slice(from).filter((l) => l.includes('"event":"tls_reload"') && l.includes(`"ok":${ok}`) && /"level":(30|50)/.test(l) && !l.includes('"workers"')).length;
  files.install(certs.impostor);
  let from = node.lines.length;
  node.proc.kill('SIGHUP');
  await eventually(() => reloads(from, true) === 2, 10_000, 'both workers reloaded');
  assert.deepEqual(await served(), [second, second, second, second]);
  a.send({ type: 'msg', text: 'across the reload' });
  assert.equal((await b.expect('msg')).text, 'across the reload');

  for (const [what, apply] of badPairs(files, certs, certs.server)) {
    apply();
    from = node.lines.length;
    node.proc.kill('SIGHUP');
    await eventually(() => reloads(from, false) === 2, 10_000, `${what}: refused by both workers`);
    assert.deepEqual(await served(), [second, second, second, second], `${what}: the previous certificate everywhere`);
  }
  assert.ok(node.alive);
  assert.ok(!node.lines.some((l) => l.includes('worker died')), 'no worker died');
  assert.ok(!node.lines.some((l) => l.includes('PRIVATE KEY')));
  a.send({ type: 'msg', text: 'still' });
  assert.equal((await b.expect('msg')).text, 'still');
  const { code } = await node.stop('SIGTERM');
  assert.equal(code, 0);
});
