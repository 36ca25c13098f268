/**
 * The moderator console page (src/http/admin-page.ts, built by scripts/build-web.mjs): served
 * only at /admin/ behind the admin token, with a CSP that allows its inline code by hash alone,
 * and never by the public static server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readConsole } from '../../src/http/admin-page.js';
import { startServer, stopServersAfterEachTest } from '../integration/helpers.js';

stopServersAfterEachTest();

const TOKEN = 'moderator-token-'.padEnd(40, 'y');
const built = readConsole();
/** Only the console has this form. */
const MARKER = 'id="signin-form"';

/** Every path where a console might be looked for. */
const PATHS = [
  '/admin',
  '/admin/',
  '/admin/index.html',
  '/admin/console.json',
  '/admin/admin.js',
  '/admin/admin.css',
  '/console.json',
  '/admin.js',
  '/admin.css',
  '/admin.html',
  '/index.html',
  '/',
  '/../admin/console.json',
  '/%2e%2e/admin/console.json',
];

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

test('the public static files hold no console and no path of the public server serves it', async () => {
  for (const file of filesUnder('dist/web')) {
    assert.ok(!readFileSync(file, 'utf8').includes(MARKER), `${file} holds the console`);
  }
  const off = await startServer();
  // With the API on the internal port, the public port serves no /admin either.
  const internal = await startServer({ adminToken: TOKEN, internalPort: 0 });
  for (const base of [off.url, internal.url]) {
    for (const path of PATHS) {
      for (const headers of [{}, { authorization: `Bearer ${TOKEN}` }] as Array<Record<string, string>>) {
        const res = await fetch(`${base}${path}`, { headers });
        const body = await res.text();
        assert.ok(!body.includes(MARKER), `${base}${path} served the console`);
        if (path.includes('admin') || path.includes('console')) assert.equal(res.status, 404, `${path}`);
      }
    }
  }
  const inside = await fetch(`${internal.internalUrl}/admin/`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(inside.status, 200, 'the internal port serves it');
  assert.ok((await inside.text()).includes(MARKER));
});

test('GET /admin/: 404 without --admin-token, 401 with the page without the token, 200 with it; a hash-only CSP', async () => {
  const off = await startServer();
  assert.equal((await fetch(`${off.url}/admin/`)).status, 404);

  const s = await startServer({ adminToken: TOKEN });
  for (const path of ['/admin/', '/admin']) {
    for (const [authorization, status] of [
      [undefined, 401],
      [`Bearer ${TOKEN}x`, 401],
      [TOKEN, 401],
      [`Bearer ${TOKEN}`, 200],
    ] as const) {
      const res = await fetch(`${s.url}${path}`, { headers: authorization === undefined ? {} : { authorization } });
      assert.equal(res.status, status, `${path} with ${authorization ?? 'no authorization'}`);
      assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(res.headers.get('x-frame-options'), 'DENY');
      assert.equal(res.headers.get('www-authenticate'), status === 401 ? 'Bearer' : null);
      assert.equal(await res.text(), built.html, 'the same page either way (it holds no data)');
      const csp = res.headers.get('content-security-policy') ?? '';
      assert.equal(csp, built.csp);
    }
  }

  // The CSP: nothing by default, the inline script and style by their hashes, the API on 'self'.
  const directives = new Map(built.csp.split(';').map((d) => {
    const [name = '', ...values] = d.trim().split(/\s+/);
    return [name, values.join(' ')] as const;
  }));
  assert.doesNotMatch(built.csp, /unsafe-inline|unsafe-eval|unsafe-hashes|\*/);
  assert.equal(directives.get('default-src'), "'none'");
  assert.equal(directives.get('connect-src'), "'self'");
  assert.equal(directives.get('img-src'), "'self' data:");
  assert.equal(directives.get('base-uri'), "'none'");
  assert.equal(directives.get('form-action'), "'none'");
  assert.equal(directives.get('frame-ancestors'), "'none'");
  const scripts = [...built.html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
  const styles = [...built.html.matchAll(/<style>([\s\S]*?)<\/style>/g)];
  assert.equal(scripts.length, 1, 'one inline script');
  assert.equal(styles.length, 1, 'one inline style');
  assert.doesNotMatch(scripts[0]![1]!, /src=/, 'the script is inline');
  assert.equal(directives.get('script-src'), sha256(scripts[0]![2]!));
  assert.equal(directives.get('style-src'), sha256(styles[0]![1]!));
  assert.doesNotMatch(built.html, /<link rel="stylesheet"|\sstyle="|\son[a-z]+="/i, 'no external stylesheet, style attribute or inline handler');
  assert.doesNotMatch(built.html, /https?:\/\//, 'no absolute URL: nothing from another origin');

  const head = await fetch(`${s.url}/admin/`, { method: 'HEAD', headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), '');
  // Only GET and HEAD are the page; other methods are the API's (404 here).
  const post = await fetch(`${s.url}/admin/`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(post.status, 404);
  assert.ok(!(await post.text()).includes(MARKER));
});
