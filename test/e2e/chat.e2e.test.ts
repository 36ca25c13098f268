/**
 * End to end: the real server in this process, the built page (dist/web) in headless Chromium.
 * The session gate is on: each page solves the proof-of-work challenge in Web Workers and gets
 * its session cookie before it connects. Two strangers find each other by a shared interest,
 * talk both ways, see each other typing, survive a server restart on the same port (the page
 * reconnects by itself, with a new session: the old one died with the server's secret), and one
 * skips.
 *
 * Needs /usr/bin/chromium (driven by playwright-core, never a downloaded browser): without it
 * the test is skipped, except under CI=true where that is a failure.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startTestServer, type TestServer } from './server.js';

const CHROMIUM = '/usr/bin/chromium';
const LAUNCH_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** Upper bound for any one thing the page must do (a match, a message, a reconnect). */
const STEP_MS = 10_000;
const XSS = '<img src=x onerror=alert(1)>';

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === 'true') {
  test('chromium is required in CI', () => {
    assert.fail(`${CHROMIUM} is missing; the end-to-end test must run in CI`);
  });
}

/** One visitor: a browser context with its page, and everything the page asked the network for. */
interface Visitor {
  readonly context: BrowserContext;
  readonly page: Page;
  readonly urls: string[];
  readonly problems: string[];
  dialogs: number;
}

/** What the instrumentation below saw of the proof of work, in the page's main thread. */
interface PowTrace {
  /** `crypto.subtle.deriveBits` calls in the main thread (the solver must not make any). */
  mainDeriveBits: number;
  workers: string[];
  /** performance.now() of each message a worker sent to the page. */
  workerMessages: number[];
  /** performance.now() of each POST the page made. */
  posts: Array<{ url: string; t: number }>;
  /** Longest wait of a 20 ms timer on the main thread while the page was not yet connected (ms). */
  maxTimerGap: number;
}

/**
 * Runs before the page's own scripts (plain JS: this file is compiled without the DOM types):
 * counts main-thread PBKDF2 calls, workers and their messages, POSTs, and the longest wait of a
 * 20 ms timer until the page is connected.
 */
const INSTRUMENT = `(() => {
  const trace = { mainDeriveBits: 0, workers: [], workerMessages: [], posts: [], maxTimerGap: 0 };
  window.__pow = trace;
  const subtle = crypto.subtle;
  const deriveBits = subtle.deriveBits.bind(subtle);
  subtle.deriveBits = (...args) => { trace.mainDeriveBits++; return deriveBits(...args); };
  const NativeWorker = window.Worker;
  window.Worker = class extends NativeWorker {
    constructor(url, options) {
      super(url, options);
      trace.workers.push(String(url));
      this.addEventListener('message', () => trace.workerMessages.push(performance.now()));
    }
  };
  const nativeFetch = window.fetch.bind(window);
  window.fetch = (input, init) => {
    if (init && init.method === 'POST') trace.posts.push({ url: String(input), t: performance.now() });
    return nativeFetch(input, init);
  };
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    trace.maxTimerGap = Math.max(trace.maxTimerGap, now - last);
    last = now;
    const app = document.getElementById('app');
    if (app && app.dataset.link === 'open') clearInterval(timer);
  }, 20);
})();`;

/** The trace INSTRUMENT keeps. */
async function powTrace(page: Page): Promise<PowTrace> {
  return (await page.evaluate('window.__pow')) as PowTrace;
}

async function visitor(browser: Browser, base: string, viewport = { width: 1100, height: 760 }): Promise<Visitor> {
  const context = await browser.newContext({ viewport });
  await context.addInitScript({ content: INSTRUMENT });
  const page = await context.newPage();
  const v: Visitor = { context, page, urls: [], problems: [], dialogs: 0 };
  context.on('request', (r) => v.urls.push(r.url()));
  page.on('websocket', (ws) => v.urls.push(ws.url()));
  page.on('pageerror', (e) => v.problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // A CSP violation (e.g. an inline style or script) is reported on the console as an error.
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) v.problems.push(m.text());
  });
  page.on('dialog', (d) => {
    v.dialogs++;
    void d.dismiss();
  });
  await page.goto(base);
  return v;
}

/** Waits until the conversation log shows a line containing `text`. */
async function seeInLog(page: Page, text: string): Promise<void> {
  await page.locator('#log').getByText(text, { exact: false }).first().waitFor({ timeout: STEP_MS });
}

/** Waits for a stranger's message with exactly this text (as text, not markup). */
async function seeFromStranger(page: Page, text: string): Promise<void> {
  const bubbles = page.locator('#log .msg.stranger .bubble');
  // hasText matches whitespace-normalized substrings; the exact text is checked after.
  await bubbles.filter({ hasText: text.replace(/\s+/g, ' ') }).first().waitFor({ timeout: STEP_MS });
  assert.ok((await bubbles.allTextContents()).includes(text), `a stranger bubble reads exactly ${JSON.stringify(text)}`);
}

async function send(page: Page, text: string): Promise<void> {
  await page.locator('#input').fill(text);
  await page.keyboard.press('Enter');
}

function headers(url: string): Promise<Record<string, string | string[] | undefined>> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      res.resume();
      res.on('end', () => resolve(res.headers));
    })
      .on('error', reject)
      .end();
  });
}

describe('web client in Chromium', { skip: haveChromium ? false : `${CHROMIUM} not found (set CI=true to make this a failure)` }, () => {
  let browser: Browser;
  let server: TestServer;
  let base: string;
  let a: Visitor;
  let b: Visitor;

  before(async () => {
    server = await startTestServer(0);
    base = `http://127.0.0.1:${server.port}/`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('the page is served with a strict CSP and security headers', async () => {
    const h = await headers(base);
    const csp = String(h['content-security-policy']);
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(h['x-content-type-options'], 'nosniff');
    assert.equal(h['x-frame-options'], 'DENY');
    assert.equal(h['referrer-policy'], 'no-referrer');
    assert.equal(h['cache-control'], 'no-cache');
  });

  test('two strangers with a shared interest are matched and see it', async () => {
    a = await visitor(browser, base);
    b = await visitor(browser, base, { width: 360, height: 740 });
    await a.page.locator('#link-text').getByText('Connected').waitFor({ timeout: STEP_MS });

    await a.page.locator('#interest-input').fill('music');
    await a.page.keyboard.press('Enter'); // adds the tag
    await a.page.locator('#interest-input').fill('Chess');
    await a.page.keyboard.press('Enter');
    assert.deepEqual(await a.page.locator('#tag-list .tag-text').allTextContents(), ['music', 'chess']);
    await a.page.keyboard.press('Enter'); // empty field: Start
    await seeInLog(a.page, 'Looking for a stranger');

    await b.page.locator('#interest-input').fill('  CHESS , cooking');
    await b.page.locator('#start').click();

    for (const v of [a, b]) {
      await seeInLog(v.page, "You're now chatting with a random stranger");
      assert.deepEqual(await v.page.locator('#log .common .tag-inline').allTextContents(), ['chess']);
      await v.page.locator('#input:enabled').waitFor({ timeout: STEP_MS });
    }
  });

  test('each page solved the challenge in Web Workers, then got an HttpOnly session cookie, then connected', async (t) => {
    for (const v of [a, b]) {
      const trace = await powTrace(v.page);
      t.diagnostic(`${trace.workers.length} workers; solution at ${trace.workerMessages[0]?.toFixed(0)} ms, POST /session at ${trace.posts[0]?.t.toFixed(0)} ms after the page started; longest main-thread timer wait ${trace.maxTimerGap.toFixed(0)} ms`);
      assert.ok(trace.workers.length >= 1 && trace.workers.every((u) => u === '/pow-worker.js'), `workers: ${trace.workers.join()}`);
      assert.equal(trace.mainDeriveBits, 0, 'no PBKDF2 on the main thread');
      const post = trace.posts.find((p) => p.url === '/session');
      assert.ok(post !== undefined, 'POST /session');
      assert.ok(trace.workerMessages.length >= 1 && trace.workerMessages[0]! <= post.t, 'the POST followed a worker\'s solution');
      assert.ok(trace.maxTimerGap < 1000, `the main thread stayed responsive (longest timer wait ${trace.maxTimerGap.toFixed(0)} ms)`);
      const paths = v.urls.map((u) => new URL(u).pathname);
      const [challenge, session, socket] = [paths.indexOf('/session/challenge'), paths.indexOf('/session'), paths.indexOf('/ws')];
      assert.ok(challenge >= 0 && challenge < session && session < socket, `order: ${paths.join(' ')}`);
      const cookie = (await v.context.cookies()).find((c) => c.name === 'strangers_session');
      assert.ok(cookie !== undefined);
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.sameSite, 'Strict');
      assert.equal(cookie.path, '/');
      assert.equal(await v.page.evaluate("document.cookie.includes('strangers_session')"), false, 'the page cannot read it');
    }
  });

  test('messages go both ways, own and stranger apart, Shift+Enter makes a new line', async () => {
    await send(a.page, 'hello from A');
    await seeFromStranger(b.page, 'hello from A');
    assert.equal(await a.page.locator('#log .msg.you .bubble').last().textContent(), 'hello from A');
    assert.equal(await a.page.locator('#input').inputValue(), '', 'the composer is emptied after sending');

    await b.page.locator('#input').fill('first line');
    await b.page.keyboard.press('Shift+Enter');
    await b.page.keyboard.type('second line');
    await b.page.keyboard.press('Enter');
    await seeFromStranger(a.page, 'first line\nsecond line');
    assert.equal(await b.page.locator('#log .msg.you').count(), 1);
    assert.equal(await b.page.locator('#log .msg.stranger').count(), 1);
  });

  test('the stranger sees "typing" while one types, and it goes away', async () => {
    await b.page.locator('#input').pressSequentially('abc');
    await a.page.locator('#typing-text').getByText('Stranger is typing').waitFor({ timeout: STEP_MS });
    await b.page.locator('#input').fill('');
    await b.page.locator('#input').dispatchEvent('input');
    await a.page.locator('#typing:not(.on)').waitFor({ state: 'attached', timeout: STEP_MS });
    assert.equal(await a.page.locator('#typing-text').textContent(), '');
  });

  test('markup from a stranger is shown as text, never run', async () => {
    await send(b.page, XSS);
    await seeFromStranger(a.page, XSS);
    assert.equal(await a.page.locator('img').count(), 0, 'no <img> element was created');
    assert.equal(await a.page.locator('#log .msg.stranger .bubble img').count(), 0);
    // Had it become an element, its onerror would fire after the failed load: the last test
    // (several round trips later) checks that no dialog ever opened.
  });

  test('reading back is not interrupted: new lines wait behind a "new message" button', async () => {
    const long = Array.from({ length: 8 }, (_, i) => `line ${i + 1}`).join('\n');
    for (let i = 0; i < 3; i++) {
      await send(a.page, `${long}\nend ${i}`);
      await seeFromStranger(b.page, `${long}\nend ${i}`);
    }
    const log = b.page.locator('#log');
    assert.ok(await log.evaluate((l) => l.scrollHeight > l.clientHeight + 100), 'the log overflows at 360 px');
    assert.ok(await log.evaluate((l) => l.scrollHeight - l.scrollTop - l.clientHeight < 40), 'followed the last line');
    await log.evaluate((l) => {
      l.scrollTop = 0;
      l.dispatchEvent(new Event('scroll'));
    });
    await send(a.page, 'sent while B reads back');
    await seeFromStranger(b.page, 'sent while B reads back');
    assert.equal(await log.evaluate((l) => l.scrollTop), 0, 'the view did not jump');
    assert.equal(await b.page.locator('#jump').textContent(), '1 new message ↓');
    await b.page.locator('#jump').click();
    assert.ok(await log.evaluate((l) => l.scrollHeight - l.scrollTop - l.clientHeight < 40), 'the button goes to the end');
    assert.equal(await b.page.locator('#jump').isHidden(), true);
  });

  test('after a server restart on the same port the pages reconnect and chat again', async () => {
    const port = server.port;
    await server.close();
    for (const v of [a, b]) {
      await v.page.locator('#app[data-state="ended"]').waitFor({ timeout: STEP_MS });
      await v.page.locator('#app[data-link="waiting"], #app[data-link="connecting"]').waitFor({ timeout: STEP_MS });
      assert.equal(await v.page.locator('#banner').isVisible(), true, 'the lost connection is shown');
    }
    const postsBefore = await Promise.all([a, b].map((v) => powTrace(v.page).then((t) => t.posts.length)));
    server = await startTestServer(port);
    for (const v of [a, b]) {
      await v.page.locator('#app[data-link="open"]').waitFor({ timeout: STEP_MS });
      await v.page.locator('#banner').waitFor({ state: 'hidden', timeout: STEP_MS });
    }
    // The restarted server has a new secret: each page was refused (401), found its session
    // invalid (GET /session) and solved a new challenge.
    const postsAfter = await Promise.all([a, b].map((v) => powTrace(v.page).then((t) => t.posts.length)));
    assert.deepEqual(postsAfter.map((n, i) => n - postsBefore[i]!), [1, 1]);
    // One key starts again (focus is on "New chat" after a chat ends).
    await a.page.keyboard.press('Enter');
    await b.page.keyboard.press('Escape');
    for (const v of [a, b]) await seeInLog(v.page, "You're now chatting with a random stranger");
    await send(a.page, 'back again');
    await seeFromStranger(b.page, 'back again');
    await send(b.page, 'welcome back');
    await seeFromStranger(a.page, 'welcome back');
  });

  test('Report asks why, is acknowledged and can be used once per conversation', async () => {
    await b.page.locator('#report').click();
    // Cancel sends nothing.
    await b.page.locator('#report-cancel').click();
    assert.equal(await b.page.locator('#report-dialog').isVisible(), false);
    assert.equal(server.reports().harassment, 0);
    await b.page.locator('#report').click();
    await b.page.locator('#report-dialog input[value="harassment"]').check();
    await b.page.locator('#report-send').click();
    await seeInLog(b.page, 'You reported this stranger');
    assert.equal(await b.page.locator('#report').textContent(), 'Reported');
    assert.equal(await b.page.locator('#report').isDisabled(), true);
    assert.equal(server.reports().harassment, 1, 'the reason reached the server');
  });

  test('New chat needs a confirmation; the skipped stranger is told and can start again with one key', async () => {
    await a.page.keyboard.press('Escape');
    assert.equal(await a.page.locator('#next').textContent(), 'Really?');
    assert.equal(await a.page.locator('#app').getAttribute('data-state'), 'chatting', 'one Esc does not skip');
    await a.page.keyboard.press('Escape');
    await seeInLog(a.page, 'Looking for a stranger');
    await seeInLog(b.page, 'The stranger skipped to someone new');
    assert.equal(await b.page.locator('#app').getAttribute('data-state'), 'ended');
    assert.equal(await b.page.locator('#input').isDisabled(), true);

    await b.page.keyboard.press('Enter');
    await seeInLog(b.page, 'Looking for a stranger');
    // A skipped B, so the two are not paired again: both keep looking.
    assert.equal(await a.page.locator('#app').getAttribute('data-state'), 'searching');
    await b.page.locator('#next').click(); // "Stop" while searching: back to the landing page
    await b.page.locator('#landing').waitFor({ timeout: STEP_MS });
  });

  test('no request went to another origin and the page broke no CSP rule', () => {
    const origin = new URL(base);
    for (const v of [a, b]) {
      assert.ok(v.urls.length >= 4, 'page, script, stylesheet and socket were seen');
      for (const u of v.urls) {
        const url = new URL(u);
        assert.ok(
          url.host === origin.host && (url.protocol === 'http:' || url.protocol === 'ws:'),
          `request to another origin: ${u}`,
        );
      }
      assert.ok(v.urls.some((u) => u === `ws://${origin.host}/ws`), 'the socket went to the same origin');
      assert.deepEqual(v.problems, []);
      assert.equal(v.dialogs, 0, 'no alert() ran');
    }
  });
});
