/**
 * Interop: headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) opens a
 * WebSocket from a page to our echo server, sends text and binary, gets the echoes, closes with
 * 1000. Chromium offers permessage-deflate: a server without it declines it, one with it accepts
 * it and both sides compress. Skipped when Chromium or
 * playwright-core is missing, unless CI=true, where that is a failure.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { startEchoServer, type EchoServer } from '../echo-server.js';

const CHROMIUM = '/usr/bin/chromium';
const CI = process.env.CI === 'true';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

/** What the page reports back. */
interface PageResult {
  extensions: string;
  protocol: string;
  text: string;
  binary: number[];
  bigLength: number;
  bigChecksum: number;
  code: number;
  reason: string;
  wasClean: boolean;
  errors: number;
}

/** The page's script: runs the exchange and stores the outcome in window.result. */
function pageScript(url: string): string {
  return `
window.result = new Promise((resolve) => {
  const out = { errors: 0 };
  const ws = new WebSocket(${JSON.stringify(url)}, ['chat.v1']);
  ws.binaryType = 'arraybuffer';
  const big = new Uint8Array(256 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 255;
  let step = 0;
  ws.onopen = () => {
    out.extensions = ws.extensions;
    out.protocol = ws.protocol;
    ws.send('hello from chromium, \\u03ba\\u1f79\\u03c3\\u03bc\\u03b5 \\u{1F642}');
  };
  ws.onmessage = (e) => {
    step++;
    if (step === 1) {
      out.text = e.data;
      ws.send(new Uint8Array([0, 1, 2, 253, 254, 255]).buffer);
    } else if (step === 2) {
      out.binary = Array.from(new Uint8Array(e.data));
      ws.send(big.buffer);
    } else {
      const got = new Uint8Array(e.data);
      out.bigLength = got.length;
      let sum = 0;
      for (let i = 0; i < got.length; i++) sum = (sum + got[i] * (i % 251 + 1)) % 1000000007;
      out.bigChecksum = sum;
      ws.close(1000, 'bye');
    }
  };
  ws.onerror = () => { out.errors++; };
  ws.onclose = (e) => { out.code = e.code; out.reason = e.reason; out.wasClean = e.wasClean; resolve(out); };
});`;
}

let echo: EchoServer;
let deflating: EchoServer;
let page: http.Server;
let pageUrl = '';
/** Sec-WebSocket-Extensions of each upgrade request (to prove an offer was made). */
const offered: (string | undefined)[] = [];
/** Bytes the deflating server's sockets read and wrote (to prove messages went compressed). */
const wire = { read: 0, written: 0 };
before(async () => {
  echo = await startEchoServer({ port: 0, heartbeatIntervalMs: 0, protocols: ['chat.v1'] });
  deflating = await startEchoServer({ port: 0, heartbeatIntervalMs: 0, protocols: ['chat.v1'], perMessageDeflate: true });
  for (const s of [echo, deflating]) s.http.prependListener('upgrade', (req: http.IncomingMessage) => offered.push(req.headers['sec-websocket-extensions']));
  deflating.http.prependListener('upgrade', (_req: http.IncomingMessage, socket: import('node:net').Socket) => {
    socket.once('close', () => {
      wire.read += socket.bytesRead;
      wire.written += socket.bytesWritten;
    });
  });
  const pages: Record<string, string> = {
    '/': `<!doctype html><meta charset="utf-8"><title>interop</title><script>${pageScript(`${echo.url}/browser`)}</script>`,
    '/deflate': `<!doctype html><meta charset="utf-8"><title>interop</title><script>${pageScript(`${deflating.url}/browser`)}</script>`,
  };
  page = http.createServer((req, res) => {
    const html = pages[req.url ?? '/'] ?? '';
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(html) });
    res.end(html);
  });
  await new Promise<void>((resolve) => page.listen(0, '127.0.0.1', resolve));
  pageUrl = `http://127.0.0.1:${(page.address() as AddressInfo).port}/`;
});
after(async () => {
  page.closeAllConnections();
  await new Promise<void>((resolve) => page.close(() => resolve()));
  await echo.close();
  await deflating.close();
});

test('interop: headless Chromium sends text and binary, gets echoes, closes 1000; permessage-deflate declined, then accepted', { timeout: 90_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) {
    assert.ok(!CI, `${CHROMIUM} is missing (CI=true: required)`);
    t.skip(`${CHROMIUM} is missing`);
    return;
  }
  let playwright: typeof import('playwright-core');
  try {
    playwright = await import('playwright-core');
  } catch {
    assert.ok(!CI, 'playwright-core is not installed (CI=true: required)');
    t.skip('playwright-core is not installed');
    return;
  }
  const browser = await playwright.chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 60_000 });
  try {
    for (const deflate of [false, true]) {
      offered.length = 0;
      const tab = await browser.newPage();
      await tab.goto(`${pageUrl}${deflate ? 'deflate' : ''}`, { timeout: 30_000 });
      const result = (await tab.evaluate('window.result', undefined)) as PageResult;
      const big = new Uint8Array(256 * 1024);
      let sum = 0;
      for (let i = 0; i < big.length; i++) sum = (sum + ((i * 31) & 255) * ((i % 251) + 1)) % 1000000007;
      assert.equal(result.errors, 0);
      assert.match(offered[0] ?? '', /permessage-deflate/, 'Chromium offered permessage-deflate');
      if (deflate) assert.equal(result.extensions, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
      else assert.equal(result.extensions, '', 'permessage-deflate must be declined');
      assert.equal(result.protocol, 'chat.v1');
      assert.equal(result.text, 'hello from chromium, \u03ba\u1f79\u03c3\u03bc\u03b5 \u{1F642}');
      assert.deepEqual(result.binary, [0, 1, 2, 253, 254, 255]);
      assert.equal(result.bigLength, 256 * 1024);
      assert.equal(result.bigChecksum, sum);
      assert.equal(result.code, 1000);
      assert.equal(result.wasClean, true, 'the closing handshake completed and TCP closed cleanly');
      if (deflate) {
        // 256 KiB of a 31-step pattern each way: compressed, it is a few KiB on the wire.
        for (let i = 0; i < 50 && wire.written === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
        assert.ok(wire.read < 64 * 1024, `Chromium compressed what it sent (${wire.read} bytes read)`);
        assert.ok(wire.written < 64 * 1024, `we compressed what we sent back (${wire.written} bytes written)`);
      }
      await tab.close();
    }
  } finally {
    await browser.close();
  }
});
