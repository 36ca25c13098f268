/**
 * A `matched` that crosses the page's `leave` on the wire (docs/protocol.md, `leave`): the user
 * pressed Stop while searching and Start again, and the server had paired them just before it
 * read the `leave`. The server ends that conversation at once (the stranger hears `left`); the
 * page must not show it, and must take the match that follows its new `searching`.
 *
 * The crossing is made deterministic by routing the page's WebSocket through the test
 * (Playwright's routeWebSocket): the server's messages from that `matched` on are held until the
 * page has sent `leave` and `find`, then delivered in order.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { Client } from '../integration/helpers.js';
import { startTestServer, type TestServer } from './server.js';

const CHROMIUM = '/usr/bin/chromium';
const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const STEP_MS = 10_000;
const haveChromium = existsSync(CHROMIUM);
const skip = !haveChromium && process.env.CI !== 'true' ? `${CHROMIUM} is missing` : undefined;

let browser: Browser | undefined;
let server: TestServer | undefined;
before(async () => {
  if (skip !== undefined) return;
  assert.ok(haveChromium, `${CHROMIUM} is missing; the end-to-end test must run in CI`);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
  server = await startTestServer(0, { gate: false });
});
after(async () => {
  await browser?.close();
  await server?.close();
});

test('a match that crossed Stop is not shown; the next one is', { skip, timeout: 60_000 }, async () => {
  const base = `http://127.0.0.1:${server!.port}`;
  const context = await browser!.newContext();
  const page = await context.newPage();
  /** Server → page frames held back (null: passing through). */
  let held: Array<string | Buffer> | null = null;
  let holdFromMatched = false;
  let deliver: ((m: string | Buffer) => void) | undefined;
  /** The page's language (it proposes the browser's): the strangers search in the same one. */
  let lang: string | undefined;
  await page.routeWebSocket(/\/ws/, (ws) => {
    const upstream = ws.connectToServer();
    deliver = (m) => ws.send(m);
    ws.onMessage((m) => {
      const f = JSON.parse(String(m)) as { type: string; lang?: string };
      if (f.type === 'find') lang = f.lang;
      upstream.send(m);
    });
    upstream.onMessage((m) => {
      if (holdFromMatched && held === null && String(m).includes('"type":"matched"')) held = [];
      if (held !== null) held.push(m);
      else ws.send(m);
    });
  });
  await page.goto(base);
  await page.locator('#app[data-link="open"]').waitFor({ timeout: STEP_MS });
  const state = (): Promise<string | null> => page.locator('#app').getAttribute('data-state');

  await page.locator('#start').click();
  await page.locator('#app[data-state="searching"]').waitFor({ timeout: STEP_MS });
  holdFromMatched = true;
  const b = await Client.open(base);
  await b.expect('welcome');
  b.send({ type: 'find', ...(lang === undefined ? {} : { lang }) });
  await b.expect('searching');
  await b.expect('matched'); // the page's `matched` is held
  assert.equal(await state(), 'searching');

  // Stop (the #next button reads "Stop" while searching), then Start again.
  await page.locator('#next').click();
  await page.locator('#app[data-state="idle"]').waitFor({ timeout: STEP_MS });
  assert.equal((await b.expect('ended')).reason, 'left', 'the server read the leave: the stranger hears left');
  await page.locator('#start').click();
  // The new `searching` reaches the server's answer queue behind the held `matched`.
  for (let i = 0; i < 100 && !(held ?? []).some((m) => String(m).includes('"type":"searching"')); i++) await new Promise((r) => setTimeout(r, 50));
  const frames: Array<string | Buffer> = held ?? [];
  assert.deepEqual(frames.map((m) => (JSON.parse(String(m)) as { type: string }).type), ['matched', 'searching']);
  held = null;
  holdFromMatched = false;
  for (const m of frames) deliver!(m);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await state(), 'searching', 'the stale match is not shown');

  // A real match now: shown, and its messages arrive.
  const c = await Client.open(base);
  await c.expect('welcome');
  c.send({ type: 'find', ...(lang === undefined ? {} : { lang }) });
  await c.expect('searching');
  await c.expect('matched');
  await page.locator('#app[data-state="chatting"]').waitFor({ timeout: STEP_MS });
  c.send({ type: 'msg', text: 'hello from C' });
  await page.locator('#log .msg.stranger .bubble').filter({ hasText: 'hello from C' }).first().waitFor({ timeout: STEP_MS });
  b.conn.close();
  c.conn.close();
  await context.close();
});
