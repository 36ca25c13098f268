/**
 * `npm install -g strangers` is a real way to install: `npm pack` makes the tarball the registry
 * would get; it holds what the server needs at run time (dist/src, dist/web, dist/admin) and
 * nothing of tests or sources (the WebSocket package, a workspace package, travels bundled and
 * built); installed into an empty folder (dependencies from the local npm
 * cache when it has them: --prefer-offline), `npx strangers serve` runs from there and serves the
 * page, /healthz and a WebSocket welcome.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import WebSocket from 'ws';
import { freePort, repoFile, run, ServeProcess } from './support.js';

describe('npm pack → npm install → npx strangers serve', () => {
  const dir = mkdtempSync(join(tmpdir(), 'strangers-pack-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const pkg = JSON.parse(repoFile('package.json')) as { name: string; version: string; bin: Record<string, string> };
  let tarball = '';

  it('packs what the server needs and nothing of tests or sources', () => {
    const r = run('npm', ['pack', '--json', '--pack-destination', dir], { timeoutMs: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    const [info] = JSON.parse(r.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    tarball = join(dir, info!.filename);
    const files = info!.files.map((f) => f.path);
    for (const needed of ['package.json', pkg.bin.strangers!, 'dist/src/http/server.js', 'dist/web/index.html', 'dist/web/app.js', 'dist/web/pow-worker.js', 'dist/admin/console.json']) {
      assert.ok(files.includes(needed), `${needed} is in the package`);
    }
    const unwanted = files.filter((f) => /^(dist\/test|test|src|web|bench|deploy|docs|scripts|packages|\.ci)\//.test(f) || (/\.ts$/.test(f) && !f.endsWith('.d.ts')) || f.startsWith('dist/bin/'));
    assert.deepEqual(unwanted, []);
    // The WebSocket layer (a workspace package, not on the registry) travels bundled, built only.
    const ws = 'node_modules/@strangers/websocket/';
    assert.ok(files.includes(`${ws}dist/index.js`) && files.includes(`${ws}package.json`), 'the bundled WebSocket package');
    assert.deepEqual(files.filter((f) => f.startsWith(ws) && /\/(src|test|build)\//.test(f)), []);
  });

  it('installs into an empty folder and `npx strangers serve` serves the page, /healthz and a welcome', async () => {
    assert.ok(tarball, 'packed by the previous test');
    const app = join(dir, 'app');
    mkdirSync(app);
    const install = run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--omit=dev', tarball], { cwd: app, timeoutMs: 180_000 });
    assert.equal(install.status, 0, install.stderr);
    const port = await freePort();
    // npx finds the installed bin (--no: never download). npx does not pass SIGTERM on to the
    // program it starts, so the test signals its whole process group (docs/deploy.md: run the bin
    // itself under a supervisor, not npx).
    const server = await ServeProcess.start(['--host', '127.0.0.1', '--port', String(port), '--gate', 'off', '--log-level', 'info'], {}, ['npx', '--no', '--prefix', app, 'strangers'], true);
    try {
      const base = `http://127.0.0.1:${port}`;
      const health = await fetch(`${base}/healthz`);
      assert.equal(health.status, 200);
      const page = await fetch(`${base}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<title>Strangers/);
      assert.equal((await fetch(`${base}/app.js`)).status, 200);
      const welcome = await new Promise<{ type: string }>((done, fail) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
        ws.once('message', (d) => {
          done(JSON.parse(d.toString()) as { type: string });
          ws.terminate();
        });
        ws.once('error', fail);
      });
      assert.equal(welcome.type, 'welcome');
      assert.ok(server.lines.some((l) => l.includes(`"port":${port}`)), 'its own start line');
    } finally {
      await server.stop('SIGTERM');
    }
    // The server drained (its stop line) and exited: nothing left listening.
    const deadline = Date.now() + 10_000;
    while (!server.lines.some((l) => l.includes('"event":"stop"'))) {
      assert.ok(Date.now() < deadline, `no stop line after SIGTERM: ${server.lines.slice(-3).join(' | ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`));
  });
});
