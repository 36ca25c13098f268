/** `strangers serve` as a process: --help, bad values (exit 2, one line), start and SIGTERM drain. */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseServeArgs } from '../../src/cli/config.js';
import { Client } from './helpers.js';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

test('--help lists every flag with its environment variable', () => {
  const r = spawnSync(process.execPath, [main, 'serve', '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0);
  for (const flag of ['host', 'port', 'tls-cert', 'tls-key', 'origins', 'rate-limit', 'rate-burst', 'max-per-ip', 'max-connections', 'max-message-chars', 'interest-wait', 'redis', 'redis-cluster', 'workers', 'log-level', 'gate', 'pow-cost', 'session-ttl', 'max-per-person']) {
    assert.ok(r.stdout.includes(`--${flag} `), flag);
    assert.ok(r.stdout.includes(`STRANGERS_${flag.toUpperCase().replace(/-/g, '_')}`), flag);
  }
});

test('a bad value exits 2 with one line naming the setting', () => {
  const cases: Array<[string[], Record<string, string>, string]> = [
    [['--port', 'x'], {}, '--port'],
    [['--rate-limit', '-1'], {}, '--rate-limit'],
    [[], { STRANGERS_MAX_PER_IP: 'lots' }, 'STRANGERS_MAX_PER_IP'],
    [['--redis', 'http://h'], {}, '--redis'],
    [['--tls-cert', '/nonexistent'], {}, '--tls-cert'],
    [['--interest-wait', 'soon'], {}, '--interest-wait'],
    [['--workers', '2'], {}, '--workers'],
    [['--log-level', 'loud'], {}, '--log-level'],
    [['--redis', 'redis://127.0.0.1:6379'], {}, 'STRANGERS_SECRET'],
    [['--secret', 'too-short'], {}, '--secret'],
    [[], { STRANGERS_SECRET: 'too-short' }, 'STRANGERS_SECRET'],
    [['--ipv6-prefix', '129'], {}, '--ipv6-prefix'],
    [['--internal-port', 'metrics'], {}, '--internal-port'],
    [['--gate', 'maybe'], {}, '--gate'],
    [['--pow-cost', '0'], {}, '--pow-cost'],
    [['--session-ttl', '31d'], {}, '--session-ttl'],
    [[], { STRANGERS_SESSION_TTL: '800h' }, 'STRANGERS_SESSION_TTL'],
    [['--max-per-person', 'few'], {}, '--max-per-person'],
    [['--redis-cluster', '10.0.0.1'], {}, '--redis-cluster'],
    [['--redis-cluster', 'http://10.0.0.1:6379'], {}, '--redis-cluster'],
    [[], { STRANGERS_REDIS_CLUSTER: 'redis://10.0.0.1:6379/2' }, 'STRANGERS_REDIS_CLUSTER'],
    [['--redis-cluster', 'redis://10.0.0.1:6379,rediss://10.0.0.2:6379'], {}, '--redis-cluster'],
    [['--redis-cluster', '10.0.0.1:6379'], {}, 'STRANGERS_SECRET'],
    [['--redis-cluster', '10.0.0.1:6379', '--redis', 'redis://10.0.0.1:6379'], { STRANGERS_SECRET: 'a-test-secret-of-at-least-32-characters' }, '--redis-cluster'],
  ];
  for (const [args, env, name] of cases) {
    const r = spawnSync(process.execPath, [main, 'serve', ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
    assert.equal(r.status, 2, args.join(' '));
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.ok(lines[0]!.includes(name), r.stderr);
  }
});

test('--redis-cluster: seeds from the flag or STRANGERS_REDIS_CLUSTER, credentials and TLS of the cluster on every seed', () => {
  const secret = 'a-test-secret-of-at-least-32-characters';
  const a = parseServeArgs(['--redis-cluster', '10.0.0.1:6379, 10.0.0.2:6380', '--workers', '2'], { STRANGERS_SECRET: secret });
  assert.ok(!a.help);
  if (a.help) return;
  assert.deepEqual(a.config.redisCluster, ['redis://10.0.0.1:6379', 'redis://10.0.0.2:6380']);
  assert.equal(a.config.redis, undefined);
  assert.equal(a.config.workers, 2);
  const b = parseServeArgs([], { STRANGERS_SECRET: secret, STRANGERS_REDIS_CLUSTER: 'rediss://strangers:p%40ss@redis-0.internal:6379,redis-1.internal:6379' });
  if (b.help) return;
  assert.deepEqual(b.config.redisCluster, ['rediss://strangers:p%40ss@redis-0.internal:6379', 'rediss://strangers:p%40ss@redis-1.internal:6379']);
  const c = parseServeArgs(['--redis-cluster', '[::1]:7000'], { STRANGERS_SECRET: secret });
  if (c.help) return;
  assert.deepEqual(c.config.redisCluster, ['redis://[::1]:7000']);
});

test('flags win over environment; defaults', () => {
  const p = parseServeArgs(['--port', '9000', '--interest-wait', '250ms', '--origins', 'https://a, https://b'], { STRANGERS_PORT: '7000', STRANGERS_RATE_LIMIT: '0' });
  assert.equal(p.help, false);
  if (p.help) return;
  assert.equal(p.config.port, 9000);
  assert.equal(p.config.chat?.rateLimit, 0);
  assert.equal(p.config.chat?.interestWaitMs, 250);
  assert.deepEqual(p.config.origins, ['https://a', 'https://b']);
  const d = parseServeArgs([], {});
  if (d.help) return;
  assert.equal(d.config.port, 8080);
  assert.equal(d.config.chat?.maxMessageChars, 2000);
  assert.equal(d.config.workers, 1);
  // The protected service by default: the gate on, a day-long session, three connections each.
  assert.equal(d.config.gate, true);
  assert.equal(d.config.powCost, 500);
  assert.equal(d.config.sessionTtlMs, 86_400_000);
  assert.equal(d.config.maxPerPerson, 3);
  const g = parseServeArgs(['--gate', 'off', '--session-ttl', '90m', '--pow-cost', '50'], { STRANGERS_MAX_PER_PERSON: '0' });
  if (g.help) return;
  assert.equal(g.config.gate, false);
  assert.equal(g.config.sessionTtlMs, 90 * 60_000);
  assert.equal(g.config.powCost, 50);
  assert.equal(g.config.maxPerPerson, 0);
  const h = parseServeArgs([], { STRANGERS_GATE: 'OFF', STRANGERS_SESSION_TTL: '168h' });
  if (h.help) return;
  assert.equal(h.config.gate, false);
  assert.equal(h.config.sessionTtlMs, 7 * 86_400_000);
});

test('serve --resume-window 0: JSON start line, SIGTERM drains (ended shutdown, 1001) and exits 0 with a stop line', async () => {
  const child = spawn(process.execPath, [main, 'serve', '--port', '0', '--host', '127.0.0.1', '--gate', 'off', '--resume-window', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const started = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/[^"]+)"/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', () => reject(new Error(`exited early: ${out}`)));
  });
  const base = await started;
  const start = JSON.parse(out.split('\n')[0]!);
  assert.equal(start.event, 'start');
  const a = await Client.welcomed(base);
  const b = await Client.welcomed(base);
  a.c.send({ type: 'find' });
  b.c.send({ type: 'find' });
  await a.c.expect('searching');
  await a.c.expect('matched');
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  assert.deepEqual(await a.c.next(), { type: 'ended', reason: 'shutdown' });
  assert.equal((await a.c.closed()).code, 1001);
  assert.equal(await exited, 0);
  const stop = out.trim().split('\n').map((l) => JSON.parse(l)).find((l) => l.event === 'stop');
  assert.equal(stop?.reason, 'SIGTERM');
});
