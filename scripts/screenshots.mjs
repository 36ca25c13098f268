// Saves the README's screenshots of the web client under docs/screenshots/:
//   landing.png (desktop), chat-desktop.png, chat-mobile.png (390 px wide);
//   with --admin instead: admin.png, the moderator console with a few real cases;
//   with --modes instead: question-asker.png, question-discusser.png (390 px wide) and
//   question-saved.png (the text file Save made, shown as it reads).
// Runs the real server in this process on a free port and stages a conversation between two
// browser contexts in headless Chromium (/usr/bin/chromium via playwright-core).
// Usage: npm run build && node scripts/screenshots.mjs [--dark] [--admin]
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { createServer } from '../dist/src/http/server.js';

const dark = process.argv.includes('--dark');
const suffix = dark ? '-dark' : '';
const dir = 'docs/screenshots';
mkdirSync(dir, { recursive: true });
if (process.argv.includes('--admin')) {
  await adminScreenshot();
  process.exit(0);
}
if (process.argv.includes('--modes')) {
  await modesScreenshots();
  process.exit(0);
}

const server = await createServer({ host: '127.0.0.1', port: 0, logLevel: 'silent', maxPerIp: 0 });
const { port } = await server.listen();
const url = `http://127.0.0.1:${port}/`;
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const colorScheme = dark ? 'dark' : 'light';

try {
  const desk = await (await browser.newContext({ viewport: { width: 1200, height: 760 }, colorScheme })).newPage();
  const phone = await (
    await browser.newContext({ viewport: { width: 390, height: 780 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, colorScheme })
  ).newPage();
  await desk.goto(url);
  await phone.goto(url);
  await desk.locator('#link-text').getByText('Connected').waitFor();

  for (const tag of ['music', 'chess', 'travel']) {
    await desk.locator('#interest-input').fill(tag);
    await desk.keyboard.press('Enter');
  }
  await desk.locator('#interest-input').blur();
  await desk.screenshot({ path: `${dir}/landing${suffix}.png`, fullPage: true });

  await desk.locator('#start').click();
  await phone.locator('#interest-input').fill('chess, films');
  await phone.locator('#start').click();
  await desk.locator('#log .common').waitFor();
  await phone.locator('#log .common').waitFor();

  const script = [
    [phone, 'hi there!'],
    [desk, 'hey :) a chess player, nice'],
    [phone, 'trying to be. mostly blitz on my phone on the train'],
    [desk, 'same here. I keep losing to the London system\nany tips?'],
    [phone, 'play …c5 early and hit d4. works surprisingly often'],
    [desk, 'noted, will try tonight'],
  ];
  for (const [page, text] of script) {
    await page.locator('#input').fill(text);
    await page.keyboard.press('Enter');
    const other = page === desk ? phone : desk;
    await other.locator('#log .msg.stranger .bubble').filter({ hasText: text.split('\n')[0] }).waitFor();
    await page.waitForTimeout(250); // stays under the server's message rate limit
  }
  await phone.locator('#input').pressSequentially('what do you pl');
  await desk.locator('#typing.on').waitFor();
  await desk.waitForTimeout(300); // let transitions settle before the picture
  await desk.screenshot({ path: `${dir}/chat-desktop${suffix}.png` });
  await phone.locator('#input').fill('');
  await phone.locator('#input').pressSequentially('what do you play as black?');
  await phone.waitForTimeout(300);
  await phone.screenshot({ path: `${dir}/chat-mobile${suffix}.png` });
  console.log(`saved ${dir}/landing${suffix}.png, chat-desktop${suffix}.png, chat-mobile${suffix}.png`);
} finally {
  await browser.close();
  await server.stop('screenshots');
}

/** The moderator console with three cases made by real chat clients (evidence, a ban, a spam wave). */
async function adminScreenshot() {
  const { Client } = await import('../dist/test/integration/helpers.js');
  const token = 'screenshot-admin-token-'.padEnd(40, 'x');
  const server = await createServer({ host: '127.0.0.1', port: 0, logLevel: 'silent', maxPerIp: 0, trustProxy: true, adminToken: token, chat: { rateLimit: 0 } });
  await server.listen();
  const from = async (address) => {
    const c = await Client.open(server.url, { 'X-Forwarded-For': address });
    await c.expect('welcome');
    return c;
  };
  const match = async (a, b) => {
    a.send({ type: 'find' });
    await a.expect('searching');
    b.send({ type: 'find' });
    await b.expect('searching');
    await a.expect('matched');
    await b.expect('matched');
  };
  /** One conversation: lines [who, text], `a` is the one reported. */
  const talk = async (a, b, lines) => {
    for (const [who, text] of lines) {
      const [speaker, listener] = who === 'a' ? [a, b] : [b, a];
      speaker.send({ type: 'msg', text });
      await listener.expect('msg');
    }
  };
  const clients = [];
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    // A spam wave the server finds by itself: the same ad to five partners, the sixth copy is
    // dropped and opens the case.
    const spammer = await from('198.51.100.20');
    clients.push(spammer);
    for (let i = 1; i <= 6; i++) {
      const p = await from(`203.0.113.${20 + i}`);
      await match(spammer, p);
      if (i <= 5) await talk(spammer, p, [['a', 'Hot singles near you: spam.example/join']]);
      else spammer.send({ type: 'msg', text: 'Hot singles near you: spam.example/join' });
      await p.quiet(50);
      p.close();
      await spammer.expect('ended');
    }
    // One report, one reporter.
    const rude = await from('198.51.100.30');
    const r0 = await from('203.0.113.30');
    clients.push(rude, r0);
    await match(rude, r0);
    await talk(rude, r0, [
      ['b', 'hi! where are you from?'],
      ['a', 'how old are you'],
      ['b', 'why?'],
      ['a', 'just tell me. and send a selfie'],
    ]);
    r0.send({ type: 'report', reason: 'minor' });
    await r0.expect('reported');
    // Three people report the same person: banned on the spot.
    const target = await from('198.51.100.66');
    clients.push(target);
    const conversations = [
      [['b', 'hello'], ['a', 'ugh another one']],
      [['b', 'hey, into chess?'], ['a', 'nobody cares, loser']],
      [
        ['b', 'hi :) any good films lately?'],
        ['a', 'why would I talk to you'],
        ['b', 'ok, no need to be rude'],
        ['a', "shut up. I'll find out where you live"],
        ['a', '<b>bold</b> words stay text here'],
      ],
    ];
    for (let i = 0; i < 3; i++) {
      const r = await from(`203.0.113.${i + 1}`);
      await match(target, r);
      await talk(target, r, conversations[i]);
      r.send({ type: 'report', reason: 'harassment' });
      await r.expect('reported');
      r.send({ type: 'leave' });
      await target.expect('ended');
      r.close();
    }

    const page = await (await browser.newContext({ viewport: { width: 1100, height: 900 }, colorScheme: dark ? 'dark' : 'light' })).newPage();
    await page.goto(`${server.url}/admin/`);
    await page.getByLabel('Admin token').fill(token);
    await page.keyboard.press('Enter');
    await page.locator('.case').nth(2).waitFor();
    await page.locator('.case input').first().fill('120');
    await page.locator('body').click({ position: { x: 5, y: 300 } }); // no focus ring in the picture
    await page.waitForTimeout(300);
    await page.screenshot({ path: `${dir}/admin${suffix}.png`, fullPage: true });
    console.log(`saved ${dir}/admin${suffix}.png`);
  } finally {
    for (const c of clients) c.close();
    await browser.close();
    await server.stop('screenshots');
  }
}

/** Question mode: an asker watching two discussers, a discusser's view, and a saved conversation. */
async function modesScreenshots() {
  const { readFileSync } = await import('node:fs');
  const server = await createServer({ host: '127.0.0.1', port: 0, logLevel: 'silent', maxPerIp: 0 });
  const { port } = await server.listen();
  const url = `http://127.0.0.1:${port}/`;
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const colorScheme = dark ? 'dark' : 'light';
  try {
    const asker = await (await browser.newContext({ viewport: { width: 1200, height: 760 }, colorScheme, locale: 'en-GB' })).newPage();
    const one = await (await browser.newContext({ viewport: { width: 1200, height: 760 }, colorScheme, locale: 'en-GB' })).newPage();
    const two = await (
      await browser.newContext({ viewport: { width: 390, height: 780 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, colorScheme, locale: 'en-GB' })
    ).newPage();
    for (const p of [asker, one, two]) {
      await p.goto(url);
      await p.locator('#link-text').getByText('Connected').waitFor();
    }
    await asker.locator('#question-input').fill('Is a hot dog a sandwich?');
    await asker.locator('#ask').click();
    for (const p of [one, two]) {
      await p.locator('#questions').check();
      await p.locator('#start').click();
    }
    for (const p of [one, two]) await p.locator('#question-bar:not([hidden])').waitFor();
    const script = [
      [one, 'Obviously not. A sandwich has two separate slices.'],
      [two, 'So a sub is not a sandwich either? Bread around a filling, that is a sandwich.'],
      [one, 'A sub is a sub. Different category, like a taco.'],
      [two, 'A taco is a sandwich turned sideways, fight me'],
      [one, 'haha. ok, what about a burrito then?'],
    ];
    for (const [page, text] of script) {
      await page.locator('#input').fill(text);
      await page.keyboard.press('Enter');
      await asker.locator('#log .msg.stranger .bubble').filter({ hasText: text.slice(0, 20) }).waitFor();
      await page.waitForTimeout(250);
    }
    await two.locator('#input').pressSequentially('a burrito is a wrap');
    await asker.locator('#typing.on').waitFor();
    await asker.waitForTimeout(300);
    await asker.screenshot({ path: `${dir}/question-asker${suffix}.png` });
    await two.waitForTimeout(300);
    await two.screenshot({ path: `${dir}/question-discusser${suffix}.png` });
    const [download] = await Promise.all([asker.waitForEvent('download'), asker.locator('#save').click()]);
    const text = readFileSync(await download.path(), 'utf8');
    const viewer = await (await browser.newContext({ viewport: { width: 900, height: 420 }, colorScheme })).newPage();
    await viewer.setContent('<pre id="file"></pre>');
    await viewer.evaluate(([t, d]) => {
      const pre = document.getElementById('file');
      pre.textContent = t;
      Object.assign(document.body.style, { margin: '0', padding: '24px', background: d ? '#0f1117' : '#ffffff', color: d ? '#e8eaf0' : '#161a23' });
      Object.assign(pre.style, { font: '15px/1.5 ui-monospace, monospace', whiteSpace: 'pre-wrap', margin: '0' });
    }, [`${download.suggestedFilename()}\n\n${text}`, dark]);
    await viewer.screenshot({ path: `${dir}/question-saved${suffix}.png` });
    console.log(`saved ${dir}/question-asker${suffix}.png, question-discusser${suffix}.png, question-saved${suffix}.png`);
  } finally {
    await browser.close();
    await server.stop('screenshots');
  }
}
