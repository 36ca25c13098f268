/**
 * The single binary (scripts/build-binary.mjs): built from this tree, it must run `serve`
 * with the web client embedded, without node_modules or dist/web beside it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

test('the single binary serves the embedded web client and the health routes', { timeout: 180_000 }, async () => {
  await run(process.execPath, ['scripts/build-binary.mjs'], { maxBuffer: 16 * 1024 * 1024 });
  // Run it from an empty folder: nothing of the project may be needed at run time.
  const dir = mkdtempSync(join(tmpdir(), 'strangers-bin-'));
  const binary = join(dir, 'strangers');
  copyFileSync('dist/bin/strangers', binary);
  try {
    const { stdout } = await run(binary, ['--version'], { cwd: dir });
    assert.match(stdout.trim(), /^\d+\.\d+\.\d+$/);

    const child = spawn(binary, ['serve', '--host', '127.0.0.1', '--port', '0', '--log-level', 'info'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
          if (m !== null) resolve(Number(m[1]));
        });
        child.once('exit', (code) => reject(new Error(`binary exited with ${code}: ${out}`)));
      });
      const page = await fetch(`http://127.0.0.1:${port}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<title>Strangers/);
      assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(health.status, 200);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
