/**
 * End to end: the moderator console (`GET /admin/`, web/admin) in headless Chromium against the
 * real server in this process. Real chat clients make a real case (three reporters from three
 * addresses, one line of markup as evidence); the console asks for the token, refuses a wrong
 * one, shows the case as text, and its Unban, Ban and Dismiss reach the chat.
 *
 * Needs /usr/bin/chromium (driven by playwright-core): without it the test is skipped, except
 * under CI=true where that is a failure.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { StrangersServer } from '../../src/http/server.js';
import { Client, startServer, clientFrom, matchUp } from '../integration/helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** Upper bound for any one thing the page must do. */
const STEP_MS = 10_000;
/** The page refreshes the queue every 10 s by itself. */
const AUTO_REFRESH_MS = 15_000;
const TOKEN = 'console-e2e-token-'.padEnd(48, 'z');
const XSS = '<img src=x onerror=alert(1)>';

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === 'true') {
  test('chromium is required in CI', () => {
    assert.fail(`${CHROMIUM} is missing; the end-to-end test must run in CI`);
  });
}


interface WireCase {
  id: string;
  reason: string;
  reporters: number;
  automatic: boolean;
  target: { person: string; banned: boolean };
  evidence: Array<{ from: string; text: string }>;
}

async function queue(base: string): Promise<WireCase[]> {
  const res = await fetch(`${base}/admin/reports`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 200);
  return ((await res.json()) as { reports: WireCase[] }).reports;
}

describe('moderator console in Chromium', { skip: haveChromium ? false : `${CHROMIUM} not found (set CI=true to make this a failure)` }, () => {
  let server: StrangersServer;
  let base: string;
  let browser: Browser;
  let page: Page;
  let target: Client;
  let person: string;
  const urls: string[] = [];
  const problems: string[] = [];
  let dialogs = 0;
  /** The Authorization header of each API call the page made. */
  const apiAuth: string[] = [];

  before(async () => {
    server = await startServer({ trustProxy: true, adminToken: TOKEN, chat: { rateLimit: 0 } });
    base = server.url;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    page = await context.newPage();
    context.on('request', (r) => {
      urls.push(r.url());
      if (new URL(r.url()).pathname.startsWith('/admin/') && r.resourceType() === 'fetch') apiAuth.push(r.headers().authorization ?? '');
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      // The 401s (the page without a token, the wrong token) are expected; anything else is not.
      if (/status of 401/.test(m.text())) return;
      if (m.type() === 'error' || /Content Security Policy|Refused to/i.test(m.text())) problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('dialog', (d) => {
      dialogs++;
      void d.dismiss();
    });
    // Any CSP violation, reported by the page itself (the init script runs outside its CSP).
    await page.addInitScript({
      content: `window.cspViolations = [];
        document.addEventListener('securitypolicyviolation', (e) => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));`,
    });
  });

  after(async () => {
    target?.close();
    await browser?.close();
    await server?.stop();
  });

  test('a real case: three people from three addresses report one, the last chat holds markup', async () => {
    target = await clientFrom(base, '198.51.100.66');
    for (let i = 1; i <= 3; i++) {
      const r = await clientFrom(base, `203.0.113.${i}`);
      await matchUp(target, r);
      r.send({ type: 'msg', text: `hello ${i}` });
      assert.equal((await target.expect('msg')).text, `hello ${i}`);
      const text = i === 3 ? XSS : `go away ${i}`;
      target.send({ type: 'msg', text });
      assert.equal((await r.expect('msg')).text, text);
      r.send({ type: 'report', reason: 'harassment' });
      await r.expect('reported');
      r.send({ type: 'leave' });
      await target.expect('ended');
      r.close();
    }
    target.send({ type: 'find' });
    await target.expect('searching');
    assert.equal((await target.expect('error')).code, 'banned');
    const cases = await queue(base);
    assert.equal(cases.length, 1);
    person = cases[0]!.target.person;
    assert.equal(cases[0]!.target.banned, true);
  });

  test('without the token /admin/ is a 401 that asks for it; a wrong token is refused', async () => {
    const res = await page.goto(`${base}/admin/`);
    assert.equal(res?.status(), 401);
    await page.getByRole('heading', { name: 'Moderator sign-in' }).waitFor({ timeout: STEP_MS });
    const field = page.getByLabel('Admin token');
    assert.equal(await field.getAttribute('type'), 'password');
    assert.equal(await page.evaluate('document.activeElement.id'), 'token', 'the token field has the focus');
    assert.equal(await page.locator('#queue').isHidden(), true);

    await field.fill(`${TOKEN}-wrong`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#signin-error').getByText('The server refused this token').waitFor({ timeout: STEP_MS });
    assert.equal(await page.locator('#queue').isHidden(), true);
    assert.equal(await page.evaluate('sessionStorage.length'), 0, 'a refused token is not kept');
  });

  test('the right token shows the case with its evidence, as text', async () => {
    await page.getByLabel('Admin token').fill(TOKEN);
    await page.keyboard.press('Enter');
    const card = page.locator('.case');
    await card.first().waitFor({ timeout: STEP_MS });
    assert.equal(await card.count(), 1);
    assert.equal(await card.locator('.case-title').textContent(), 'Harassment');
    assert.deepEqual(await card.locator('.badge').allTextContents(), ['Banned']);
    assert.equal(await card.locator('.person-id').textContent(), person);
    assert.match((await card.locator('.facts').textContent()) ?? '', /3 different people/);
    assert.equal(await page.locator('#count').textContent(), '1 open case');
    // The evidence of the three reports, in order.
    assert.deepEqual(await card.locator('.line-meta b').allTextContents(), ['Reporter', 'Reported person', 'Reporter', 'Reported person', 'Reporter', 'Reported person']);
    assert.deepEqual(await card.locator('.line-text').allTextContents(), ['hello 1', 'go away 1', 'hello 2', 'go away 2', 'hello 3', XSS]);
    assert.equal(await page.locator('img').count(), 0, 'the markup made no element');
    assert.equal(await card.locator('.from-target .line-text').last().evaluate((e) => e.innerHTML), '&lt;img src=x onerror=alert(1)&gt;');
    assert.equal(await page.evaluate("sessionStorage.getItem('strangers.admin-token')"), TOKEN);
  });

  test('Unban lifts the ban: the target can search again', async () => {
    const card = page.locator('.case');
    await card.getByRole('button', { name: 'Unban' }).click();
    await page.locator('#toast').getByText('Ban lifted').waitFor({ timeout: STEP_MS });
    await card.locator('.badge.free').waitFor({ timeout: STEP_MS });
    assert.equal(await card.getByRole('button', { name: 'Unban' }).count(), 0, 'no Unban without a ban');
    assert.equal((await queue(base))[0]!.target.banned, false);
    target.send({ type: 'find' });
    assert.deepEqual(await target.next(), { type: 'searching' });
    assert.ok(await target.quiet(300), 'no banned error');
    target.send({ type: 'leave' });
  });

  test('Ban for 5 minutes: the target is refused at its next search', async () => {
    const card = page.locator('.case');
    await card.getByLabel('Minutes').fill('5');
    const request = page.waitForRequest((r) => r.url() === `${base}/admin/bans` && r.method() === 'POST');
    await card.getByRole('button', { name: 'Ban', exact: true }).click();
    assert.deepEqual((await request).postDataJSON(), { person, minutes: 5 });
    await page.locator('#toast').getByText('Banned for 5 minutes').waitFor({ timeout: STEP_MS });
    await card.locator('.badge.banned').waitFor({ timeout: STEP_MS });
    target.send({ type: 'find' });
    await target.expect('searching');
    assert.equal((await target.expect('error')).code, 'banned');
  });

  test('Dismiss closes the case: it leaves the page and the queue', async () => {
    await page.locator('.case').getByRole('button', { name: 'Dismiss' }).click();
    await page.locator('.case').first().waitFor({ state: 'detached', timeout: STEP_MS });
    await page.locator('#empty').waitFor({ timeout: STEP_MS });
    assert.deepEqual(await queue(base), []);
    assert.equal(await page.evaluate('document.activeElement.id'), 'queue-title', 'focus went to the list, not the void');
  });

  test('a new case appears by itself; a reload stays signed in; the page fits 360 px; Sign out forgets the token', async () => {
    const spammer = await clientFrom(base, '198.51.100.77');
    const r = await clientFrom(base, '203.0.113.9');
    await matchUp(spammer, r);
    spammer.send({ type: 'msg', text: 'a very long line without spaces: '.padEnd(300, 'x') });
    await r.expect('msg');
    r.send({ type: 'report', reason: 'spam' });
    await r.expect('reported');
    await page.locator('.case .case-title').getByText('Spam').waitFor({ timeout: AUTO_REFRESH_MS });
    assert.match((await page.locator('.case .facts').textContent()) ?? '', /1 person/);

    const res = await page.reload();
    assert.equal(res?.status(), 401, 'a navigation carries no token');
    await page.locator('.case').first().waitFor({ timeout: STEP_MS });

    await page.setViewportSize({ width: 360, height: 740 });
    assert.ok(await page.evaluate('document.documentElement.scrollWidth <= document.documentElement.clientWidth'), 'no sideways scrolling at 360 px');
    await page.setViewportSize({ width: 1100, height: 800 });

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Moderator sign-in' }).waitFor({ timeout: STEP_MS });
    assert.equal(await page.locator('.case').count(), 0, 'nothing of the queue is left on the page');
    assert.equal(await page.evaluate("sessionStorage.getItem('strangers.admin-token')"), null);
    for (const c of [spammer, r]) c.close();
  });

  test('no request left the origin, every API call carried the token, no CSP violation, no dialog', async () => {
    const origin = new URL(base).origin;
    assert.ok(urls.length >= 5, 'the page and its API calls were seen');
    for (const u of urls) assert.ok(u.startsWith(`${origin}/`) || u.startsWith('data:'), `request to another origin: ${u}`);
    assert.ok(apiAuth.length >= 5);
    assert.ok(apiAuth.filter((a) => a !== `Bearer ${TOKEN}-wrong`).every((a) => a === `Bearer ${TOKEN}`), 'each API call sent the token');
    assert.deepEqual(await page.evaluate('window.cspViolations'), []);
    assert.deepEqual(problems, []);
    assert.equal(dialogs, 0, 'no alert() ran');
  });
});
