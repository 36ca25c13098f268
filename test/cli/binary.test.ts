/**
 * The single binary (scripts/build-binary.mjs): built from this tree, it must run `serve`
 * with the web client and the moderator console embedded, without node_modules or dist/ beside it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isCI, sharedRedis } from '../contract/redis-server.js';

const run = promisify(execFile);

/** Resolves with the port once the server logs that it listens. */
function listeningPort(child: ChildProcess): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m !== null) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`binary exited with ${code}: ${out}`)));
  });
}

test('the single binary serves the embedded web client and the health routes', { timeout: 180_000 }, async () => {
  await run(process.execPath, ['scripts/build-binary.mjs'], { maxBuffer: 16 * 1024 * 1024 });
  // Run it from an empty folder: nothing of the project may be needed at run time.
  const dir = mkdtempSync(join(tmpdir(), 'strangers-bin-'));
  const binary = join(dir, 'strangers');
  copyFileSync('dist/bin/strangers', binary);
  try {
    const { stdout } = await run(binary, ['--version'], { cwd: dir });
    assert.match(stdout.trim(), /^\d+\.\d+\.\d+$/);

    const token = 'binary-test-admin-token-'.padEnd(40, 'k');
    const child = spawn(binary, ['serve', '--host', '127.0.0.1', '--port', '0', '--log-level', 'info'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, STRANGERS_ADMIN_TOKEN: token },
    });
    try {
      const port = await listeningPort(child);
      const page = await fetch(`http://127.0.0.1:${port}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<title>Strangers/);
      assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(health.status, 200);
      // The moderator console is embedded too: the page itself, 401 without the token.
      const built = JSON.parse(readFileSync('dist/admin/console.json', 'utf8')) as { html: string; csp: string };
      const admin = await fetch(`http://127.0.0.1:${port}/admin/`);
      assert.equal(admin.status, 401);
      assert.equal(await admin.text(), built.html);
      assert.equal(admin.headers.get('content-security-policy'), built.csp);
      const signedIn = await fetch(`http://127.0.0.1:${port}/admin/`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(signedIn.status, 200);
      await signedIn.arrayBuffer();
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the single binary runs --workers 2 on the Redis engine', { timeout: 60_000 }, async (t) => {
  const shared = await sharedRedis();
  if ('reason' in shared) {
    if (isCI) throw new Error(shared.reason);
    return t.skip(shared.reason);
  }
  t.after(() => shared.stop());
  const redis = shared.url;
  // node:cluster shares one port among workers, so pick a free one (port 0 would differ per worker).
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address() as { port: number };
      probe.close(() => resolve(free));
    });
  });
  const child = spawn('dist/bin/strangers', ['serve', '--host', '127.0.0.1', '--port', String(port), '--workers', '2', '--redis', redis], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, STRANGERS_SECRET: 'a-test-secret-of-at-least-32-characters' } });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  try {
    await listeningPort(child);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(health.status, 200);
    const stats = (await (await fetch(`http://127.0.0.1:${port}/stats`)).json()) as Record<string, number>;
    assert.equal(typeof stats.online, 'number');
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
  assert.doesNotMatch(stderr, /Warning/, 'the binary printed a warning');
});
