/**
 * End to end, in headless Chromium against the real server (session gate on): the language
 * picker (the browser's language proposed, a choice remembered, sent with `find`), "Discuss
 * questions", "Ask a question" with the asker's view (two colours, no composer) and the
 * discussers' view, "Save" (a text file made in the page: the download's content is checked),
 * and opt-in notifications with a sound while the tab is hidden (the permission request, a
 * Notification with the expected title, the title's unread count).
 *
 * Needs /usr/bin/chromium (playwright-core, never a downloaded browser): skipped without it,
 * except under CI=true where that is a failure.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
import { startTestServer, type TestServer } from './server.js';

const CHROMIUM = '/usr/bin/chromium';
const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const STEP_MS = 10_000;
const QUESTION = 'Is a hot dog a sandwich?';

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === 'true') {
  test('chromium is required in CI', () => {
    assert.fail(`${CHROMIUM} is missing; the end-to-end test must run in CI`);
  });
}

/**
 * Runs before the page's scripts (plain JS): records frames the page sends, Notification
 * permission requests and constructions, and oscillators started (the sound); and lets the test
 * hide the tab (`window.__setHidden(true)`), which headless Chromium never does by itself.
 */
const INSTRUMENT = `(() => {
  const t = { sent: [], notes: [], permissionRequests: 0, tones: 0, hidden: false };
  window.__t = t;
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) { t.sent.push(String(data)); return send.call(this, data); };
  if (window.Notification) {
    const Native = window.Notification;
    const Recorded = function (title, options) { t.notes.push({ title, body: options && options.body }); return new Native(title, options); };
    Object.defineProperty(Recorded, 'permission', { get: () => Native.permission });
    Recorded.requestPermission = (...a) => { t.permissionRequests++; return Native.requestPermission(...a); };
    Recorded.prototype = Native.prototype;
    window.Notification = Recorded;
  }
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (...a) { t.tones++; return start.apply(this, a); };
  Object.defineProperty(Document.prototype, 'visibilityState', { get: () => (t.hidden ? 'hidden' : 'visible') });
  Object.defineProperty(Document.prototype, 'hidden', { get: () => t.hidden });
  window.__setHidden = (on) => { t.hidden = on; document.dispatchEvent(new Event('visibilitychange')); };
})();`;

interface Trace {
  sent: string[];
  notes: Array<{ title: string; body?: string }>;
  permissionRequests: number;
  tones: number;
}

interface Visitor {
  readonly context: BrowserContext;
  readonly page: Page;
  readonly problems: string[];
}

async function visitor(browser: Browser, base: string, options: BrowserContextOptions = {}): Promise<Visitor> {
  const context = await browser.newContext({ viewport: { width: 1000, height: 720 }, ...options });
  await context.addInitScript({ content: INSTRUMENT });
  const page = await context.newPage();
  const v: Visitor = { context, page, problems: [] };
  page.on('pageerror', (e) => v.problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) v.problems.push(m.text());
  });
  await page.goto(base);
  await page.locator('#link-text').getByText('Connected').waitFor({ timeout: STEP_MS });
  return v;
}

async function trace(page: Page): Promise<Trace> {
  return (await page.evaluate('window.__t')) as Trace;
}

/** The frames of `type` the page sent, parsed. */
async function sent(page: Page, type: string): Promise<Array<Record<string, unknown>>> {
  return (await trace(page)).sent.map((s) => JSON.parse(s) as Record<string, unknown>).filter((m) => m.type === type);
}

async function seeInLog(page: Page, text: string): Promise<void> {
  await page.locator('#log').getByText(text, { exact: false }).first().waitFor({ timeout: STEP_MS });
}

async function say(page: Page, text: string): Promise<void> {
  await page.locator('#input').fill(text);
  await page.keyboard.press('Enter');
}

/** Clicks Save and returns the downloaded file's name and text. */
async function save(page: Page): Promise<{ name: string; text: string }> {
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: STEP_MS }), page.locator('#save').click()]);
  const path = await download.path();
  assert.ok(path !== null, 'the download completed');
  return { name: download.suggestedFilename(), text: readFileSync(path, 'utf8') };
}

describe('question mode, languages, Save and notifications in Chromium', { skip: haveChromium ? false : `${CHROMIUM} not found (set CI=true to make this a failure)` }, () => {
  let browser: Browser;
  let server: TestServer;
  let base: string;
  const visitors: Visitor[] = [];
  let asker: Visitor;
  let d1: Visitor;
  let d2: Visitor;

  before(async () => {
    server = await startTestServer(0);
    base = `http://127.0.0.1:${server.port}/`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('the language picker proposes the browser\'s language, remembers a choice, and find carries it', async () => {
    const v = await visitor(browser, base, { locale: 'pt-BR' });
    visitors.push(v);
    const page = v.page;
    assert.equal(await page.locator('#lang').inputValue(), 'pt', 'the browser\'s language first');
    assert.match((await page.locator('#lang option:checked').textContent()) ?? '', /Português \(your browser\)/);
    await page.locator('#lang').selectOption('de');
    await page.reload();
    await page.locator('#link-text').getByText('Connected').waitFor({ timeout: STEP_MS });
    assert.equal(await page.locator('#lang').inputValue(), 'de', 'the choice is remembered');
    await page.locator('#start').click();
    await seeInLog(page, 'Looking for a stranger who speaks Deutsch');
    assert.deepEqual((await sent(page, 'find')).at(-1), { type: 'find', lang: 'de' });
    await page.locator('#next').click(); // Stop
    await page.locator('#landing').waitFor({ timeout: STEP_MS });
    await page.locator('#lang').selectOption('');
    await page.reload();
    await page.locator('#link-text').getByText('Connected').waitFor({ timeout: STEP_MS });
    assert.equal(await page.locator('#lang').inputValue(), '', '"Any language" is remembered too');
    await page.locator('#start').click();
    await seeInLog(page, 'Looking for a stranger…');
    assert.deepEqual((await sent(page, 'find')).at(-1), { type: 'find' });
    await page.locator('#next').click();
  });

  test('notifications are opt-in: ticking the box asks for the permission', async () => {
    const v = await visitor(browser, base);
    visitors.push(v);
    assert.equal(await v.page.locator('#notify').isChecked(), false);
    await v.page.locator('#notify').check();
    await v.page.waitForFunction('window.__t.permissionRequests === 1', undefined, { timeout: STEP_MS });
    await v.page.reload();
    assert.equal(await v.page.locator('#notify').isChecked(), true, 'remembered');
  });

  test('Ask a question: two willing strangers discuss it, the asker watches in two colours and cannot type', async () => {
    asker = await visitor(browser, base, { permissions: ['notifications'] });
    d1 = await visitor(browser, base);
    d2 = await visitor(browser, base, { viewport: { width: 390, height: 760 } });
    visitors.push(asker, d1, d2);
    await asker.page.locator('#notify').check();
    await asker.page.locator('#question-input').fill(QUESTION);
    await asker.page.locator('#ask').click();
    await seeInLog(asker.page, 'Looking for two strangers');
    assert.deepEqual((await sent(asker.page, 'ask')).at(-1), { type: 'ask', question: QUESTION, lang: 'en' });
    // The asker's tab goes to the background: it will hear of the match.
    await asker.page.evaluate('window.__setHidden(true)');

    for (const d of [d1, d2]) {
      await d.page.locator('#questions').check();
      await d.page.locator('#start').click();
    }
    for (const d of [d1, d2]) {
      await seeInLog(d.page, 'You and a stranger were picked to discuss this question');
      assert.equal((await sent(d.page, 'find')).at(-1)?.questions, true);
      assert.equal(await d.page.locator('#question-text').textContent(), QUESTION);
      await d.page.locator('#input:enabled').waitFor({ timeout: STEP_MS });
    }
    await seeInLog(asker.page, 'Two strangers are discussing your question');
    assert.equal(await asker.page.locator('#question-text').textContent(), QUESTION);
    assert.equal(await asker.page.locator('#input').isDisabled(), true, 'the asker cannot type');
    assert.equal(await asker.page.locator('#send').isDisabled(), true);
    assert.equal(await asker.page.locator('#input').getAttribute('placeholder'), 'You asked: you watch, the strangers talk.');
    assert.equal(await asker.page.locator('#next').textContent(), 'Ask again');
    await asker.page.waitForFunction('window.__t.notes.length >= 1', undefined, { timeout: STEP_MS });
    assert.equal((await trace(asker.page)).notes[0]?.title, 'Your question is being discussed');

    await say(d1.page, 'Obviously not.');
    await d2.page.locator('#log .msg.stranger .bubble').getByText('Obviously not.').waitFor({ timeout: STEP_MS });
    await say(d2.page, 'Bread around a filling: a sandwich.');
    await d1.page.locator('#log .msg.stranger .bubble').getByText('Bread around a filling').waitFor({ timeout: STEP_MS });
    const bubbles = asker.page.locator('#log .msg.stranger');
    await bubbles.nth(1).waitFor({ timeout: STEP_MS });
    // (This file is compiled without the DOM types: the page's objects are typed loosely.)
    const rows = (await asker.page.evaluate(
      '[...document.querySelectorAll("#log .msg.stranger")].map((e) => ({ cls: e.className, who: e.dataset.who, text: e.querySelector(".bubble").textContent, bg: getComputedStyle(e.querySelector(".bubble")).backgroundColor }))',
    )) as Array<{ cls: string; who: string; text: string; bg: string }>;
    assert.equal(rows.length, 2);
    assert.equal(rows[0]!.text, 'Obviously not.');
    assert.equal(rows[1]!.text, 'Bread around a filling: a sandwich.');
    assert.deepEqual(rows.map((r) => r.who).sort(), ['Stranger 1', 'Stranger 2']);
    assert.notEqual(rows[0]!.cls, rows[1]!.cls, 'one class per discusser');
    assert.notEqual(rows[0]!.bg, rows[1]!.bg, 'two colours');
    // Hidden tab: the unread count in the title, a notification naming the discusser, and a sound.
    assert.equal(await asker.page.title(), '(2) Strangers · talk to someone new');
    const t = await trace(asker.page);
    assert.ok(t.notes.some((n) => /^Stranger [12] wrote$/.test(n.title) && n.body === 'Obviously not.'), JSON.stringify(t.notes));
    assert.ok(t.tones >= 2, `a sound played (${t.tones} tones)`);
    assert.deepEqual(await sent(asker.page, 'msg'), [], 'the asker sent nothing');
    // Typing is shown to the asker with the discusser's number.
    await d2.page.locator('#input').pressSequentially('hm');
    await asker.page.locator('#typing-text').getByText(/Stranger [12] is typing/).waitFor({ timeout: STEP_MS });
    await d2.page.locator('#input').fill('');
    await asker.page.evaluate('window.__setHidden(false)');
    assert.equal(await asker.page.title(), 'Strangers · talk to someone new');
  });

  test('Save downloads the conversation and its question as a text file made in the page', async () => {
    const fromAsker = await save(asker.page);
    assert.match(fromAsker.name, /^strangers-\d{4}-\d{2}-\d{2}-\d{4}\.txt$/);
    const lines = fromAsker.text.split('\n');
    assert.match(lines[0]!, /^Strangers · conversation saved \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$/);
    assert.equal(lines[1], `Question: ${QUESTION}`);
    assert.ok(/^Stranger [12]: Obviously not\.$/m.test(fromAsker.text), fromAsker.text);
    assert.ok(/^Stranger [12]: Bread around a filling: a sandwich\.$/m.test(fromAsker.text), fromAsker.text);
    const fromD1 = await save(d1.page);
    assert.ok(fromD1.text.includes(`Question: ${QUESTION}\n`));
    assert.ok(fromD1.text.includes('\nYou: Obviously not.\n'), fromD1.text);
    assert.ok(fromD1.text.includes('\nStranger: Bread around a filling: a sandwich.\n'), fromD1.text);
  });

  test('the asker leaves: the two go on as an ordinary pair; a hidden discusser is notified of the end', async () => {
    await asker.page.locator('#stop').click();
    for (const d of [d1, d2]) await seeInLog(d.page, 'The asker left');
    await say(d1.page, 'just us now');
    await d2.page.locator('#log .msg.stranger .bubble').getByText('just us now').waitFor({ timeout: STEP_MS });
    await d2.page.evaluate('window.__setHidden(true)');
    await d1.page.locator('#stop').click();
    await seeInLog(d2.page, 'The stranger has left the chat');
    // d2 never opted in: no notification, no sound; its title still counts nothing new.
    const t = await trace(d2.page);
    assert.equal(t.notes.length, 0);
    assert.equal(t.tones, 0);
  });

  test('the page broke no CSP rule', () => {
    for (const v of visitors) assert.deepEqual(v.problems, []);
  });
});
