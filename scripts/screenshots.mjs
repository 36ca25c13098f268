// Saves the README's screenshots of the web client under docs/screenshots/:
//   landing.png (desktop), chat-desktop.png, chat-mobile.png (390 px wide).
// Runs the real server in this process on a free port and stages a conversation between two
// browser contexts in headless Chromium (/usr/bin/chromium via playwright-core).
// Usage: npm run build && node scripts/screenshots.mjs [--dark]
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { createServer } from '../dist/src/http/server.js';

const dark = process.argv.includes('--dark');
const suffix = dark ? '-dark' : '';
const dir = 'docs/screenshots';
mkdirSync(dir, { recursive: true });

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
  await desk.screenshot({ path: `${dir}/landing${suffix}.png` });

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
