/**
 * The other deployment files, each by the strongest check that runs without a container engine or
 * an init system: deploy/compose.yaml by `docker-compose config` (Debian's docker-compose, which
 * validates against the Compose schema and interpolates the environment); the systemd unit by
 * `systemd-analyze verify` and `systemd-analyze security --offline`; the Dockerfile by
 * dockerfile-utils' linter plus our rules (pinned base, non-root user, health check), with its
 * HEALTHCHECK command run against a real node; every shell script by shellcheck. Each tool that
 * is missing skips its test with a message, except in CI (CI=true), where it fails.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { validate as lintDockerfile } from 'dockerfile-utils';
import { parse as parseYaml } from 'yaml';
import { serverConfigDefaults } from '../../src/http/server.js';
import { freePort, missingTool, repoFile, repoRoot, run, ServeProcess, skipUnlessCI } from './support.js';

/* eslint-disable @typescript-eslint/no-explicit-any */

// ---------------------------------------------------------------------------------------------
describe('deploy/compose.yaml', skipUnlessCI(missingTool('docker-compose', ['version'], 'docker-compose')), () => {
  const env = { ...process.env, REDIS_PASSWORD: 'test-redis-password', STRANGERS_SECRET: 'a-test-secret-of-at-least-32-characters', STRANGERS_ORIGINS: 'https://chat.example.com' };
  const config = (text: string): ReturnType<typeof run> =>
    // From stdin, relative paths resolve from the working directory: the file's own, deploy/.
    run('docker-compose', ['-f', '-', 'config'], { cwd: join(repoRoot, 'deploy'), env, input: text });

  it('is valid for `docker-compose config` (the Compose schema), and the check refuses a typo', () => {
    const shipped = repoFile('deploy/compose.yaml');
    const ok = config(shipped);
    assert.equal(ok.status, 0, ok.stderr);
    const typo = config(shipped.replace('stop_grace_period:', 'stop_grace_periode:'));
    assert.notEqual(typo.status, 0);
    assert.match(typo.stderr, /stop_grace_periode/);
    const missing = run('docker-compose', ['-f', '-', 'config'], { cwd: join(repoRoot, 'deploy'), env: { ...env, STRANGERS_SECRET: '' }, input: shipped });
    assert.notEqual(missing.status, 0, 'a missing secret stops compose');
    assert.match(missing.stderr, /STRANGERS_SECRET/);
  });

  it('keeps Redis and the nodes off the outside, nginx the only door, secrets out of the file', () => {
    const r = config(repoFile('deploy/compose.yaml'));
    const c = parseYaml(r.stdout) as { services: Record<string, any>; networks: Record<string, any> };
    const { redis, strangers, nginx } = c.services;
    assert.deepEqual(Object.keys(c.services).sort(), ['nginx', 'redis', 'strangers']);
    // Only nginx publishes ports (HTTP and HTTPS); the internal port 9090 is never published.
    assert.equal(redis.ports, undefined);
    assert.equal(strangers.ports, undefined);
    assert.deepEqual(nginx.ports.map((p: any) => p.target).sort(), [443, 80]);
    // Redis only on the internal backend network, with the nodes; nginx not on it.
    assert.equal(c.networks.backend.internal, true);
    assert.deepEqual(Object.keys(redis.networks), ['backend']);
    assert.deepEqual(Object.keys(nginx.networks), ['frontend']);
    assert.deepEqual(Object.keys(strangers.networks).sort(), ['backend', 'frontend']);
    assert.match(redis.command.join(' '), /--requirepass "\$\$REDIS_PASSWORD"/, 'the password from the environment, not the command line');
    assert.equal(strangers.environment.STRANGERS_REDIS, 'redis://:test-redis-password@redis:6379');
    // The nodes: trust nginx's X-Forwarded-For, internal port set, hardened, drain inside the grace period.
    assert.ok(strangers.command.includes('--trust-proxy'));
    assert.equal(strangers.environment.STRANGERS_INTERNAL_PORT, '9090');
    assert.equal(strangers.read_only, true);
    assert.deepEqual(strangers.cap_drop, ['ALL']);
    assert.ok(Number.parseInt(strangers.stop_grace_period, 10) > serverConfigDefaults.drainTimeoutMs / 1000);
    assert.equal(redis.read_only, true);
    assert.notEqual(String(redis.user).split(':')[0], '0');
    // nginx runs the shipped config with the certificate directory it names.
    const volumes = nginx.volumes.map((v: any) => (typeof v === 'string' ? v.replace(/:ro$/, '') : `${v.source}:${v.target}`));
    assert.ok(volumes.includes(`${join(repoRoot, 'deploy/nginx/strangers.conf')}:/etc/nginx/conf.d/default.conf`));
    assert.ok(volumes.some((v: string) => v.endsWith(':/etc/nginx/tls')));
    assert.match(repoFile('deploy/nginx/strangers.conf'), /ssl_certificate\s+\/etc\/nginx\/tls\//);
  });
});

// ---------------------------------------------------------------------------------------------
describe('deploy/systemd/strangers.service', () => {
  const unit = repoFile('deploy/systemd/strangers.service');
  const tool = missingTool('systemd-analyze', ['--version'], 'systemd');
  // verify checks that ExecStart's program exists: /usr/bin/node, where Debian's nodejs puts it.
  const noNode = existsSync('/usr/bin/node') ? undefined : '/usr/bin/node (ExecStart) does not exist on this machine';
  const inTemp = <T>(f: (path: string) => T): T => {
    const dir = mkdtempSync(join(tmpdir(), 'strangers-unit-'));
    try {
      const path = join(dir, 'strangers.service');
      writeFileSync(path, unit);
      return f(path);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('passes `systemd-analyze verify` without a warning', skipUnlessCI(tool ?? noNode), () => {
    const r = inTemp((path) => run('systemd-analyze', ['verify', path]));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), '', 'no warning (an unknown key is only a warning)');
    // The check has teeth: a misspelt key is reported.
    const dir = mkdtempSync(join(tmpdir(), 'strangers-unit-'));
    try {
      writeFileSync(join(dir, 'strangers.service'), unit.replace('ProtectSystem=strict', 'ProtectSystm=strict'));
      assert.match(run('systemd-analyze', ['verify', join(dir, 'strangers.service')]).stderr, /Unknown key 'ProtectSystm'/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('scores at most 2.0 ("OK") in `systemd-analyze security --offline`', skipUnlessCI(tool), () => {
    const r = inTemp((path) => run('systemd-analyze', ['security', '--offline=true', '--threshold=20', '--no-pager', path]));
    const overall = /Overall exposure level for strangers\.service: ([\d.]+)/.exec(r.stdout + r.stderr);
    assert.ok(overall, r.stdout + r.stderr);
    assert.equal(r.status, 0, `exposure ${overall[1]} is above 2.0`);
  });

  it('has the hardening options, room for the drain, and a descriptor per connection', () => {
    const has = (line: string): void => assert.match(unit, new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'), line);
    for (const line of [
      'DynamicUser=yes', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes', 'PrivateDevices=yes',
      'PrivateUsers=yes', 'ProtectKernelTunables=yes', 'ProtectKernelModules=yes', 'ProtectKernelLogs=yes', 'ProtectControlGroups=yes',
      'ProtectProc=invisible', 'RestrictNamespaces=yes', 'RestrictSUIDSGID=yes', 'LockPersonality=yes', 'CapabilityBoundingSet=',
      'SystemCallArchitectures=native', 'SystemCallFilter=@system-service', 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX', 'UMask=0077',
      'KillSignal=SIGTERM',
    ]) {
      has(line);
    }
    assert.doesNotMatch(unit, /^MemoryDenyWriteExecute=yes/m, "V8's JIT needs writable executable memory");
    const stop = Number(/^TimeoutStopSec=(\d+)$/m.exec(unit)?.[1]);
    assert.ok(stop > serverConfigDefaults.drainTimeoutMs / 1000, `TimeoutStopSec=${stop} covers the drain`);
    const nofile = Number(/^LimitNOFILE=(\d+)$/m.exec(unit)?.[1]);
    assert.ok(nofile > serverConfigDefaults.maxConnections * 2, `LimitNOFILE=${nofile}`);
  });
});

// ---------------------------------------------------------------------------------------------
/** Instructions of a Dockerfile (continuation lines joined, comments dropped). */
function instructions(text: string): Array<{ op: string; args: string }> {
  const out: Array<{ op: string; args: string }> = [];
  let cur = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (cur === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue; // a comment inside a continuation
    if (line.endsWith('\\')) {
      cur += `${line.slice(0, -1)} `;
      continue;
    }
    cur += line;
    const m = /^(\w+)\s+([\s\S]*)$/.exec(cur);
    if (m) out.push({ op: m[1]!.toUpperCase(), args: m[2]! });
    cur = '';
  }
  return out;
}

describe('Dockerfile', () => {
  const text = repoFile('Dockerfile');
  const all = instructions(text);
  const lastFrom = all.map((i) => i.op).lastIndexOf('FROM');
  const runtime = all.slice(lastFrom);

  it('passes the dockerfile-utils linter', () => {
    assert.deepEqual(lintDockerfile(text).map((d) => `line ${d.range.start.line + 1}: ${d.message}`), []);
    // It has teeth: an unknown instruction and a bad port are reported.
    assert.equal(lintDockerfile(`${text}\nEXPOSE http\nRUNN true\n`).length, 2);
  });

  it('pins its base image to an exact release, in every stage', () => {
    const stages = new Set<string>();
    for (const { op, args } of all.filter((i) => i.op === 'FROM')) {
      const [image, as, name] = args.split(/\s+/);
      if (stages.has(image!)) continue; // FROM an earlier stage
      assert.ok(op === 'FROM' && image, args);
      assert.match(image, /^[\w./-]+:\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?$/, `${image}: an exact version (not latest, not a major version)`);
      if (as?.toUpperCase() === 'AS' && name) stages.add(name);
    }
  });

  it('runs as a non-root user, with a health check, draining on SIGTERM, exposing the ports deploy/ uses', () => {
    const user = runtime.filter((i) => i.op === 'USER').at(-1)?.args;
    assert.ok(user && !/^(root|0)(:|$)/.test(user), `USER ${user}`);
    const userAt = runtime.findIndex((i) => i.op === 'USER');
    assert.ok(runtime.slice(userAt).every((i) => i.op !== 'RUN'), 'no RUN after USER: the code is not writable by the user that runs it');
    assert.ok(runtime.some((i) => i.op === 'HEALTHCHECK' && /\/healthz/.test(i.args)));
    assert.equal(runtime.find((i) => i.op === 'STOPSIGNAL')?.args, 'SIGTERM');
    const exposed = runtime.filter((i) => i.op === 'EXPOSE').flatMap((i) => i.args.split(/\s+/)).sort();
    assert.deepEqual(exposed, ['8080', '9090']);
    assert.match(runtime.filter((i) => i.op === 'ENV').map((i) => i.args).join(' '), /STRANGERS_PORT=8080/);
    assert.ok(!all.some((i) => i.op === 'ADD'), 'COPY, never ADD (no remote fetches or archives)');
    assert.ok(all.filter((i) => i.op === 'RUN' && /\bnpm\b/.test(i.args)).every((i) => /\bnpm ci\b|npm run build|npm cache clean/.test(i.args)), 'npm ci from the lockfile');
  });

  it('copies into the image every dist/ directory the package ships, and the built workspace packages it depends on', () => {
    const pkg = JSON.parse(repoFile('package.json')) as { files: string[]; bundleDependencies: string[] };
    const copied = runtime.filter((i) => i.op === 'COPY' && i.args.startsWith('--from=')).map((i) => i.args.split(/\s+/)[1]!.replace(/^\/app\//, ''));
    const workspaces = pkg.bundleDependencies.map((name) => `packages/${name.split('/')[1]}/dist`);
    assert.deepEqual(copied.sort(), [...pkg.files.filter((f) => f.startsWith('dist/')), ...workspaces].sort());
  });

  it('has a HEALTHCHECK command that passes against a running node and fails without one', async () => {
    const hc = runtime.find((i) => i.op === 'HEALTHCHECK')!.args;
    const cmd = JSON.parse(hc.slice(hc.indexOf('CMD') + 3).trim()) as string[];
    assert.equal(cmd[0], 'node');
    const port = await freePort();
    const node = await ServeProcess.start(['--host', '127.0.0.1', '--port', String(port), '--gate', 'off', '--log-level', 'info']);
    try {
      const ok = run(process.execPath, cmd.slice(1), { env: { ...process.env, STRANGERS_PORT: String(port) }, timeoutMs: 10_000 });
      assert.equal(ok.status, 0, ok.stderr);
    } finally {
      await node.stop();
    }
    const down = run(process.execPath, cmd.slice(1), { env: { ...process.env, STRANGERS_PORT: String(port) }, timeoutMs: 10_000 });
    assert.equal(down.status, 1);
  });
});

// ---------------------------------------------------------------------------------------------
/** Every shell script the repository tracks: *.sh, and files whose first line is a sh/bash shebang. */
function shellScripts(): string[] {
  const files = run('git', ['ls-files', '-z']).stdout.split('\0').filter(Boolean);
  return files.filter((f) => {
    if (f.endsWith('.sh')) return true;
    if (!existsSync(join(repoRoot, f))) return false;
    const head = run('head', ['-c', '64', f]).stdout;
    return /^#!\S*(\/|\s)(ba|da|k)?sh\b/.test(head) || /^#!\/usr\/bin\/env (ba|da|k)?sh\b/.test(head);
  });
}

describe('shell scripts', skipUnlessCI(missingTool('shellcheck', ['--version'], 'shellcheck') ?? missingTool('git', ['--version'], 'git')), () => {
  it('pass shellcheck (.ci/run among them)', () => {
    const scripts = shellScripts();
    assert.ok(scripts.includes('.ci/run'), scripts.join(', '));
    const r = run('shellcheck', ['--format=gcc', ...scripts]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    // It has teeth: an unquoted expansion is reported.
    const bad = run('shellcheck', ['--shell=bash', '-'], { input: '#!/bin/bash\nrm -rf $1/tmp\n' });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stdout, /SC2086/);
  });
});
