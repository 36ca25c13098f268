// Redis is the cluster's trust boundary (docs/safety.md): real `strangers serve` processes on a
// real redis-server that demands a password (and an ACL user), then one that speaks only TLS with
// a certificate from a private CA. Nodes with the right settings chat across nodes; every wrong
// setting keeps a node from starting, at once and with a reason, except a plain connection to the
// TLS port, which no error names (it fails when the start timeout runs out).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { Redis } from 'ioredis';
import { RedisServer, haveRedisServer, skipUnlessCI } from '../contract/redis-server.js';
import { haveOpenssl, makeTestCertificates, type TestCertificates } from '../support/tls-certs.js';
import { Node, NodeExitedError, Talker, eventually } from './redis-nodes.js';

/**
 * The least-privilege ACL user that docs/safety.md recommends, word for word (checked below):
 * the engine's keys and channels only, and only the commands it sends or its scripts call.
 */
const aclRule =
  'user strangers on >PASSWORD ~{strangers}:* &{strangers}:* -@all +hello +auth +client|setname +select +info +quit +evalsha +eval +publish +subscribe +del +hdel +hexists +hget +hgetall +hset +sadd +smembers +srem +time +zadd +zrange +zrangebyscore +zrem +get +set +incr +pexpire +hmget +hincrby +zscore +zcard +zrevrange +zremrangebyscore +zremrangebyrank +pttl';

/** The rule as redis-server command-line arguments (`--user NAME RULE...`), with `password`. */
function aclArgs(password: string): string[] {
  const [directive, ...words] = aclRule.replace('>PASSWORD', `>${password}`).split(' ');
  return [`--${directive}`, ...words];
}

const noRedis = haveRedisServer() ? undefined : 'redis-server is not installed';
const noTls = noRedis ?? (haveOpenssl() ? undefined : 'openssl is not installed (needed to make test certificates)');

/** Pairs a user on `a` with a user on `b` and checks 20 messages each way, in order. */
async function chatAcross(a: Node, b: Node): Promise<void> {
  const x = await Talker.open(a.base);
  const y = await Talker.open(b.base);
  try {
    x.find();
    await x.until(() => x.state === 'searching', 2000, 'searching');
    y.find();
    await x.until(() => x.partner === y.id, 5000, 'x hears y');
    await y.until(() => y.partner === x.id, 5000, 'y hears x');
    for (let i = 0; i < 20; i++) {
      x.say();
      y.say();
    }
    const all = Array.from({ length: 21 }, (_, i) => i);
    await x.until(() => x.received.length === 21, 5000, 'all of y');
    await y.until(() => y.received.length === 21, 5000, 'all of x');
    assert.deepEqual(x.received.map((r) => r.n), all);
    assert.deepEqual(y.received.map((r) => r.n), all);
    assert.deepEqual([...x.violations, ...y.violations], []);
  } finally {
    x.close();
    y.close();
  }
}

/**
 * Starts a node that must not start: resolves with its exit error (exit code, lines), the
 * parsed "could not start" log line, and the whole output (to check no secret leaked).
 */
async function refused(redis: string, env: NodeJS.ProcessEnv = {}): Promise<{ exit: NodeExitedError; line: Record<string, unknown>; output: string }> {
  let exit: unknown;
  try {
    const node = await Node.start(redis, [], env);
    await node.stop('SIGKILL');
  } catch (err) {
    exit = err;
  }
  assert.ok(exit instanceof NodeExitedError, `the node must exit before listening (${String(exit)})`);
  const output = exit.lines.join('\n');
  const text = exit.lines.flatMap((l) => l.split('\n')).find((l) => l.includes('could not start'));
  assert.ok(text !== undefined, `a "could not start" line in:\n${output}`);
  return { exit, line: JSON.parse(text) as Record<string, unknown>, output };
}

/** Sends one command on a raw TCP connection, without authenticating; resolves with the first reply line. */
function rawCommand(port: number, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1');
    let buf = '';
    socket.setTimeout(3000, () => socket.destroy(new Error('no reply')));
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`closed without a reply${buf === '' ? '' : ` (${JSON.stringify(buf.slice(0, 40))})`}`)));
    socket.on('data', (d: Buffer) => {
      buf += d.toString();
      const i = buf.indexOf('\r\n');
      if (i < 0) return;
      socket.destroy();
      resolve(buf.slice(0, i));
    });
    socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
  });
}

describe('Redis with a password and an ACL user', skipUnlessCI(noRedis), () => {
  const adminPassword = randomBytes(12).toString('hex');
  const nodePassword = randomBytes(12).toString('hex');
  let redis: RedisServer | undefined;
  let admin: Redis | undefined;
  const nodes: Node[] = [];
  const at = (credentials: string): string => `redis://${credentials}@127.0.0.1:${redis!.port}`;

  before(async () => {
    if (noRedis !== undefined) throw new Error(noRedis);
    redis = await RedisServer.start({ args: ['--requirepass', adminPassword, ...aclArgs(nodePassword)] });
    admin = new Redis(at(`:${adminPassword}`));
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop('SIGKILL').catch(() => {})));
    admin?.disconnect();
    await redis?.stop();
  });

  test('docs/safety.md gives the ACL rule tested here', () => {
    assert.ok(readFileSync('docs/safety.md', 'utf8').includes(aclRule), 'the rule in docs/safety.md matches aclRule');
  });

  test('a node as the ACL user and a node with the default password match and chat across nodes', async () => {
    const a = await Node.start(at(`strangers:${nodePassword}`));
    nodes.push(a);
    const b = await Node.start(at(`:${adminPassword}`) + '/0');
    nodes.push(b);
    await chatAcross(a, b);
    await chatAcross(b, a);
    // The ACL user's connections are the node's: both are open, named after the node.
    const clients = String(await admin!.client('LIST'));
    assert.match(clients, /user=strangers/);
    // Logs show the URL with the password hidden.
    for (const n of [a, b]) {
      const out = n.lines.join('\n');
      assert.ok(!out.includes(nodePassword) && !out.includes(adminPassword), 'no password in the logs');
      assert.match(out, /redis:\/\/(strangers)?:\*\*\*@127\.0\.0\.1/);
    }
  });

  test('without the right credentials a node does not start: exit 1, code redis_auth, the reason, no password in the output', async () => {
    const cases = {
      'no credentials': at('').replace('@', ''),
      'a wrong password': at(':wrong-password'),
      'the ACL user with a wrong password': at('strangers:wrong-password'),
      'an unknown user': at(`nobody:${nodePassword}`),
    };
    const results = await Promise.all(Object.values(cases).map((url) => refused(url)));
    Object.keys(cases).forEach((name, i) => {
      const { exit, line, output } = results[i]!;
      assert.equal(exit.code, 1, name);
      // redis_auth comes only from the immediate refusal: a retry until the timeout says redis_unreachable.
      assert.equal(line.code, 'redis_auth', `${name}: ${output}`);
      assert.match(String(line.err), /refused the credentials: (WRONGPASS|NOAUTH)/, name);
      assert.ok(!output.includes(nodePassword) && !output.includes('wrong-password'), `${name}: no password in the output`);
    });
  });

  test('without the password nothing can be read or written; the ACL user is confined to the chat keys and channels', async () => {
    const port = redis!.port;
    // An outsider who can reach the port: every command is refused, relay channels included.
    for (const args of [['SUBSCRIBE', '{strangers}:relay:node'], ['PUBLISH', '{strangers}:relay:node', '[1,"msg","u","v","forged"]'], ['HGETALL', '{strangers}:w'], ['KEYS', '*']]) {
      assert.match(await rawCommand(port, args), /^-NOAUTH/, args[0]);
    }
    // The node's own user: the engine's keys and channels, nothing else.
    const user = new Redis(at(`strangers:${nodePassword}`));
    try {
      assert.equal(await user.publish('{strangers}:relay:node', 'x'), 0, 'it may publish on a relay channel (what a node does)');
      assert.equal(await user.hget('{strangers}:nodes', 'node'), null, 'and read the engine keys');
      const noperm = /NOPERM/;
      await assert.rejects(user.config('GET', 'requirepass'), noperm);
      await assert.rejects(user.call('ACL', 'SETUSER', 'strangers', 'nopass'), noperm);
      await assert.rejects(user.flushall(), noperm);
      await assert.rejects(user.keys('*'), noperm);
      await assert.rejects(user.call('MONITOR'), noperm);
      await assert.rejects(user.get('other-app:key'), noperm);
      await assert.rejects(user.lpush('{strangers}:x', '1'), noperm);
      await assert.rejects(user.set('other-app:key', '1'), noperm);
      await assert.rejects(user.publish('other-channel', 'x'), noperm);
    } finally {
      user.disconnect();
    }
  });

  test('the password changed under a running node: not ready, one warning, ready again once it is restored', async () => {
    const n = await Node.start(at(`strangers:${nodePassword}`));
    nodes.push(n);
    assert.equal((await n.get('/readyz')).status, 200);
    await admin!.call('ACL', 'LOG', 'RESET');
    await admin!.call('ACL', 'SETUSER', 'strangers', 'resetpass', `>${randomBytes(12).toString('hex')}`);
    await admin!.client('KILL', 'USER', 'strangers');
    await eventually(async () => (await n.get('/readyz')).status === 503, 5000, 'not ready');
    // ioredis retries about every second: let it fail several times.
    const failures = async (): Promise<number> => {
      const log = (await admin!.call('ACL', 'LOG')) as unknown[][];
      return log.reduce((sum, e) => sum + (e.includes('auth') ? Number(e[e.indexOf('count') + 1]) : 0), 0);
    };
    await eventually(async () => (await failures()) >= 6, 8000, 'several refused reconnections');
    const warnings = n.lines.filter((l) => /WRONGPASS/.test(l));
    assert.equal(warnings.length, 1, `one warning for the whole outage, not one per retry:\n${warnings.join('\n')}`);
    await admin!.call('ACL', 'SETUSER', 'strangers', 'resetpass', `>${nodePassword}`);
    await eventually(async () => (await n.get('/readyz')).status === 200, 5000, 'ready again');
    assert.ok(n.alive);
  });
});

describe('Redis over TLS, with a private CA', skipUnlessCI(noTls), () => {
  const password = randomBytes(12).toString('hex');
  let certs: TestCertificates | undefined;
  const servers: RedisServer[] = [];
  const nodes: Node[] = [];
  /** A TLS-only redis-server (`--port 0`) with this certificate, not asking clients for one. */
  const tlsRedis = async (pair: { cert: string; key: string }, ca: string): Promise<RedisServer> => {
    const s = await RedisServer.start({
      tls: true,
      args: ['--requirepass', password, '--tls-cert-file', pair.cert, '--tls-key-file', pair.key, '--tls-ca-cert-file', ca, '--tls-auth-clients', 'no'],
    });
    servers.push(s);
    return s;
  };
  const withPassword = (s: RedisServer): string => s.url.replace('://', `://:${password}@`);
  let main: RedisServer | undefined;

  before(async () => {
    if (noTls !== undefined) throw new Error(noTls);
    certs = makeTestCertificates();
    main = await tlsRedis(certs.server, certs.ca);
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop('SIGKILL').catch(() => {})));
    await Promise.all(servers.map((s) => s.stop()));
    certs?.remove();
  });

  test('two nodes on rediss://, trusting the CA through NODE_EXTRA_CA_CERTS, chat across nodes', async () => {
    const env = { NODE_EXTRA_CA_CERTS: certs!.ca };
    const [a, b] = await Promise.all([Node.start(withPassword(main!), [], env), Node.start(withPassword(main!), [], env)]);
    nodes.push(a!, b!);
    await chatAcross(a!, b!);
    assert.match(a!.lines.join('\n'), /"redis":"rediss:\/\/:\*\*\*@127\.0\.0\.1/);
    // The server has no plain port at all: only TLS reaches it.
    await assert.rejects(rawCommand(main!.port, ['PING']), /closed without a reply|ECONNRESET/);
  });

  test('a certificate the node does not trust is refused at once: exit 1, code redis_tls', async () => {
    const impostor = await tlsRedis(certs!.impostor, certs!.otherCa);
    const wrongName = await tlsRedis(certs!.wrongName, certs!.ca);
    const trusting = { NODE_EXTRA_CA_CERTS: certs!.ca };
    const [untrusted, forged, misnamed] = await Promise.all([
      refused(withPassword(main!), { NODE_EXTRA_CA_CERTS: undefined }), // the private CA not given
      refused(withPassword(impostor), trusting), // signed by another CA
      refused(withPassword(wrongName), trusting), // our CA, another host's name
    ]);
    for (const r of [untrusted, forged, misnamed]) {
      assert.equal(r.exit.code, 1);
      assert.equal(r.line.code, 'redis_tls', r.output);
      assert.ok(!r.output.includes(password), 'no password in the output');
    }
    assert.match(String(untrusted.line.err), /not trusted: .*for a private CA, start the node with NODE_EXTRA_CA_CERTS/);
    assert.match(String(forged.line.err), /not trusted: .*is that the CA that signed/);
    assert.match(String(misnamed.line.err), /does not name this host/);
  });

  test('a plain redis:// to the TLS port: the node does not start (redis_unreachable once the start timeout runs out)', async () => {
    const { exit, line } = await refused(`redis://:${password}@127.0.0.1:${main!.port}`, { NODE_EXTRA_CA_CERTS: certs!.ca });
    assert.equal(exit.code, 1);
    assert.equal(line.code, 'redis_unreachable');
    assert.match(String(line.err), /cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ within \d+ ms \(last error: /);
  });
});
