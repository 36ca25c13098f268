import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { StaticSite } from '../../src/http/static.js';

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function fetchRaw(port: number, path: string, init: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: init.method ?? 'GET', headers: init.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function withSite(fn: (port: number) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'strangers-static-'));
  const js = `console.log(${JSON.stringify('x'.repeat(2000))});\n`;
  writeFileSync(join(dir, 'index.html'), '<!doctype html><link rel="stylesheet" href="style.css"><script type="module" src="app.js"></script><a href="/">home</a>');
  writeFileSync(join(dir, 'app.js'), js);
  writeFileSync(join(dir, 'style.css'), 'body{color:red}');
  const site = new StaticSite(dir);
  const server: Server = createServer((req, res) => {
    if (!site.serve(req, res)) {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await fn((server.address() as AddressInfo).port);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  }
}

test('index.html: versioned asset URLs, no-cache, security headers', async () => {
  await withSite(async (port) => {
    const r = await fetchRaw(port, '/');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(r.headers['cache-control'], 'no-cache');
    const csp = String(r.headers['content-security-policy']);
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, new RegExp(`connect-src 'self' ws://127\\.0\\.0\\.1:${port} wss://127\\.0\\.0\\.1:${port}`));
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.headers['referrer-policy'], 'no-referrer');
    assert.equal(r.headers['x-frame-options'], 'DENY');
    const html = r.body.toString();
    assert.match(html, /src="\/app\.js\?v=[\w-]{16}"/);
    assert.match(html, /href="\/style\.css\?v=[\w-]{16}"/);
    assert.match(html, /href="\/"/, 'links to non-files are left alone');
  });
});

test('a versioned asset is immutable, an unversioned or stale one is revalidated', async () => {
  await withSite(async (port) => {
    const html = (await fetchRaw(port, '/')).body.toString();
    const url = /src="(\/app\.js\?v=[\w-]+)"/.exec(html)?.[1];
    assert.ok(url);
    const a = await fetchRaw(port, url);
    assert.equal(a.status, 200);
    assert.equal(a.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(a.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal((await fetchRaw(port, '/app.js')).headers['cache-control'], 'no-cache');
    assert.equal((await fetchRaw(port, '/app.js?v=old')).headers['cache-control'], 'no-cache');
  });
});

test('ETag revalidation answers 304 without a body', async () => {
  await withSite(async (port) => {
    const first = await fetchRaw(port, '/style.css');
    const etag = String(first.headers.etag);
    assert.match(etag, /^"[\w-]+"$/);
    const again = await fetchRaw(port, '/style.css', { headers: { 'If-None-Match': `W/${etag}` } });
    assert.equal(again.status, 304);
    assert.equal(again.body.length, 0);
    assert.equal(again.headers['x-content-type-options'], 'nosniff');
    const changed = await fetchRaw(port, '/style.css', { headers: { 'If-None-Match': '"other"' } });
    assert.equal(changed.status, 200);
  });
});

test('brotli and gzip when accepted, plain otherwise; each with its own ETag', async () => {
  await withSite(async (port) => {
    const plain = await fetchRaw(port, '/app.js');
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.headers.vary, 'Accept-Encoding');
    const br = await fetchRaw(port, '/app.js', { headers: { 'Accept-Encoding': 'gzip, deflate, br' } });
    assert.equal(br.headers['content-encoding'], 'br');
    assert.deepEqual(brotliDecompressSync(br.body), plain.body);
    const gz = await fetchRaw(port, '/app.js', { headers: { 'Accept-Encoding': 'gzip, br;q=0' } });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.deepEqual(gunzipSync(gz.body), plain.body);
    assert.equal(new Set([plain.headers.etag, br.headers.etag, gz.headers.etag]).size, 3);
    assert.ok(br.body.length < plain.body.length / 4);
  });
});

test('HEAD has the headers and no body; unknown paths and other methods are not handled', async () => {
  await withSite(async (port) => {
    const head = await fetchRaw(port, '/', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.ok(Number(head.headers['content-length']) > 0);
    assert.equal(head.body.length, 0);
    assert.equal((await fetchRaw(port, '/nope.js')).status, 404);
    assert.equal((await fetchRaw(port, '/../package.json')).status, 404);
    assert.equal((await fetchRaw(port, '/', { method: 'POST' })).status, 404);
  });
});

test('a missing folder serves nothing', () => {
  assert.equal(new StaticSite(join(tmpdir(), 'strangers-no-such-dir-' + process.pid)).size, 0);
});
