/**
 * End to end, in Chromium: a conversation outlives its connection. The server holds a dropped
 * user's place for the resume window; the page resumes by itself on its next connection, drops
 * the replayed messages it already showed, and ticks its own messages as their receipts arrive.
 *
 * 1. A page goes offline (`context.setOffline`), its stranger sees it away, writes meanwhile;
 *    the page comes back, shows what it missed exactly once, and both go on.
 * 2. A node is restarted under a live conversation (a deploy): node 1 drains (1012) and stops
 *    listening, node 2 takes the same port with the same hub and secret; both pages reconnect
 *    at once, resume through node 2 (which fetches their places from node 1), and go on.
 *
 * Chromium's offline emulation holds an open WebSocket's frames rather than cutting it (and its
 * pings still get answered, so no heartbeat notices); what the server sees is the page's own
 * reaction to `offline`: it closes the socket at once, without `leave`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { MemoryEngine, MemoryHub } from '../../src/engine/memory.js';
import type { ServerConfig } from '../../src/http/server.js';
import { startTestServer, type TestServer } from './server.js';

const CHROMIUM = '/usr/bin/chromium';
const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** Upper bound for any one thing the page must do (a match, a message, a resume). */
const STEP_MS = 10_000;
/** The resume window of these servers (the default is 20 s). */
const WINDOW_MS = 10_000;
const AWAY = "Stranger's connection dropped, waiting…";
const BACK = 'Stranger is back';

const haveChromium = existsSync(CHROMIUM);

/** A frame as the page saw it on the wire (JSON parsed). */
type Frame = Record<string, unknown>;

/** One visitor: its context and page, what it sent, and what each of its sockets received. */
interface Visitor {
  readonly context: BrowserContext;
  readonly page: Page;
  readonly sent: Frame[];
  readonly sockets: Frame[][];
  readonly problems: string[];
}

function parse(payload: string | Buffer): Frame {
  try {
    return JSON.parse(String(payload)) as Frame;
  } catch {
    return {};
  }
}

async function visitor(browser: Browser, base: string): Promise<Visitor> {
  const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
  const page = await context.newPage();
  const v: Visitor = { context, page, sent: [], sockets: [], problems: [] };
  page.on('websocket', (ws) => {
    const received: Frame[] = [];
    v.sockets.push(received);
    ws.on('framereceived', (f) => received.push(parse(f.payload)));
    ws.on('framesent', (f) => v.sent.push(parse(f.payload)));
  });
  page.on('pageerror', (e) => v.problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) v.problems.push(m.text());
  });
  await page.goto(base);
  await page.locator('#app[data-link="open"]').waitFor({ timeout: STEP_MS });
  return v;
}

async function seeInLog(page: Page, text: string): Promise<void> {
  await page.locator('#log').getByText(text, { exact: false }).first().waitFor({ timeout: STEP_MS });
}

async function seeFromStranger(page: Page, text: string): Promise<void> {
  await page.locator('#log .msg.stranger .bubble').filter({ hasText: text }).first().waitFor({ timeout: STEP_MS });
}

async function send(page: Page, text: string): Promise<void> {
  await page.locator('#input:enabled').fill(text);
  await page.keyboard.press('Enter');
}

async function strangerLines(page: Page): Promise<string[]> {
  return page.locator('#log .msg.stranger .bubble').allTextContents();
}

async function ownLines(page: Page): Promise<string[]> {
  return page.locator('#log .msg.you .bubble').allTextContents();
}

/** Waits until every own message of the page carries its delivered tick (and its words). */
async function allDelivered(page: Page): Promise<void> {
  const mine = page.locator('#log .msg.you');
  for (const end = Date.now() + STEP_MS; ; await page.waitForTimeout(50)) {
    const rows = await mine.evaluateAll((nodes) => nodes.map((n) => [n.className, n.textContent] as const));
    if (rows.length > 0 && rows.every(([cls, text]) => cls === 'msg you delivered' && text?.endsWith(' Delivered'))) return;
    if (Date.now() > end) assert.fail(`not all delivered: ${JSON.stringify(rows)}`);
  }
}

/** Two visitors start, are matched and say hello both ways. */
async function pair(browser: Browser, base: string): Promise<[Visitor, Visitor]> {
  const a = await visitor(browser, base);
  const b = await visitor(browser, base);
  await a.page.locator('#start').click();
  await seeInLog(a.page, 'Looking for a stranger');
  await b.page.locator('#start').click();
  for (const v of [a, b]) await seeInLog(v.page, "You're now chatting with a random stranger");
  await send(a.page, 'hello from A');
  await seeFromStranger(b.page, 'hello from A');
  await send(b.page, 'hello from B');
  await seeFromStranger(a.page, 'hello from B');
  return [a, b];
}

/** Neither page ever left the conversation: one matched line, no end, still chatting. */
async function stillTheSameChat(v: Visitor): Promise<void> {
  assert.equal(await v.page.locator('#app').getAttribute('data-state'), 'chatting');
  assert.equal(await v.page.locator('#log .sys.ended').count(), 0, 'no "ended" line');
  assert.equal(await v.page.locator('#log .sys.matched').count(), 1, 'the same conversation, not a new one');
  assert.deepEqual(v.problems, []);
}

describe('a conversation survives its connection, in Chromium', { skip: haveChromium ? false : `${CHROMIUM} not found` }, () => {
  let browser: Browser;
  const servers: TestServer[] = [];

  before(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
  });

  after(async () => {
    await browser?.close();
    await Promise.all(servers.map((s) => s.close()));
  });

  test('offline and back: the stranger sees away and back, nothing is shown twice, receipts tick', async (t) => {
    const server = await startTestServer(0, { chat: { resumeWindowMs: WINDOW_MS } });
    servers.push(server);
    const [a, b] = await pair(browser, `http://127.0.0.1:${server.port}/`);
    await allDelivered(a.page);
    await allDelivered(b.page);

    // Two lines in a row: B shows both; its ack of the second waits for the next second, and B
    // goes offline before that, so the server replays it on the resume (B must not show it twice).
    await send(a.page, 'two');
    await send(a.page, 'three');
    await seeFromStranger(b.page, 'three');
    await b.context.setOffline(true);

    await seeInLog(a.page, AWAY);
    const acked = Math.max(0, ...b.sent.filter((f) => f.type === 'ack').map((f) => f.seq as number));
    assert.equal(await a.page.locator('#chat-status').textContent(), 'Waiting for the stranger to come back…');
    await b.page.locator('#app[data-link="waiting"]').waitFor({ timeout: STEP_MS });
    assert.equal(await b.page.locator('#app').getAttribute('data-state'), 'chatting', 'a lost connection does not end the chat');
    assert.equal(await b.page.locator('#chat-status').textContent(), 'Reconnecting to your chat…');

    // Offline, B cannot send: the text stays in the box.
    await b.page.locator('#input').fill('typed while offline');
    await b.page.keyboard.press('Enter');
    assert.equal(await b.page.locator('#send').isDisabled(), true);
    assert.equal(await b.page.locator('#input').inputValue(), 'typed while offline');
    assert.deepEqual(await ownLines(b.page), ['hello from B']);

    // A writes to the absent stranger: kept by the server, no tick yet.
    await send(a.page, 'while you were away');
    await a.page.waitForTimeout(300);
    assert.equal(await a.page.locator('#log .msg.you').last().getAttribute('class'), 'msg you', 'not delivered while B is away');

    await b.context.setOffline(false);
    await seeFromStranger(b.page, 'while you were away');
    await seeInLog(a.page, BACK);
    await b.page.locator('#send:enabled').click(); // what B typed offline goes now
    await seeFromStranger(a.page, 'typed while offline');
    await send(a.page, 'glad you are back');
    await seeFromStranger(b.page, 'glad you are back');

    assert.deepEqual(await strangerLines(b.page), ['hello from A', 'two', 'three', 'while you were away', 'glad you are back'], 'each once, in order');
    assert.deepEqual(await strangerLines(a.page), ['hello from B', 'typed while offline']);
    await allDelivered(a.page);
    await allDelivered(b.page);
    assert.equal(await a.page.locator('#log .sys.away').count(), 1);
    assert.equal(await a.page.locator('#log .sys.back').count(), 1);
    for (const v of [a, b]) await stillTheSameChat(v);

    // On the wire: B's next socket resumed (its first message), and was sent again what B had
    // not acknowledged, with the original numbers.
    const resumedOn = b.sockets.find((frames) => frames.some((f) => f.type === 'resumed'));
    assert.ok(resumedOn !== undefined, 'B resumed');
    assert.deepEqual(resumedOn.find((f) => f.type === 'resumed')?.state, 'chatting');
    const firstSent = b.sent.findIndex((f) => f.type === 'resume');
    assert.ok(firstSent > 0 && b.sent.slice(firstSent + 1).every((f) => f.type !== 'resume'), 'one resume');
    const replayed = resumedOn.filter((f) => f.type === 'msg' && (f.seq as number) <= 4).map((f) => [f.seq, f.text]);
    const lines = ['hello from A', 'two', 'three', 'while you were away'].map((text, i) => [i + 1, text]);
    assert.deepEqual(replayed, lines.slice(acked), `B had acknowledged up to ${acked}`);
    if (acked >= 3) t.diagnostic(`B acknowledged 'three' before it went offline: no replay to drop this time`);
    await a.context.close();
    await b.context.close();
  });

  test('after a sleep (the wall clock jumped past the monotonic one) the page replaces its socket and resumes', async () => {
    const server = await startTestServer(0, { chat: { resumeWindowMs: WINDOW_MS } });
    servers.push(server);
    const [a, b] = await pair(browser, `http://127.0.0.1:${server.port}/`);
    // What a suspended computer looks like to the page: Date.now() leaps, performance.now() does not.
    await b.page.evaluate(() => {
      const now = Date.now.bind(Date);
      Date.now = () => now() + 60_000;
    });
    for (const end = Date.now() + STEP_MS; !b.sent.some((f) => f.type === 'resume'); await b.page.waitForTimeout(50)) {
      assert.ok(Date.now() < end, 'the page noticed the sleep and resumed on a new socket');
    }
    await b.page.locator('#app[data-link="open"]').waitFor({ timeout: STEP_MS });
    await b.page.locator('#chat-status').getByText('Chatting').waitFor({ timeout: STEP_MS });
    await send(a.page, 'good morning');
    await seeFromStranger(b.page, 'good morning');
    await send(b.page, 'morning!');
    await seeFromStranger(a.page, 'morning!');
    assert.deepEqual(b.sockets.flat().filter((f) => f.type === 'resumed').map((f) => f.state), ['chatting']);
    await stillTheSameChat(b);
    await allDelivered(a.page);
    await a.context.close();
    await b.context.close();
  });

  test('the stranger leaves while the page is offline: back, it says the chat ended meanwhile', async () => {
    const server = await startTestServer(0, { chat: { resumeWindowMs: WINDOW_MS } });
    servers.push(server);
    const [a, b] = await pair(browser, `http://127.0.0.1:${server.port}/`);
    await b.context.setOffline(true);
    await seeInLog(a.page, AWAY);
    await a.page.locator('#stop').click();
    await seeInLog(a.page, 'You left the chat.');
    await b.context.setOffline(false);
    await seeInLog(b.page, 'The chat ended while you were offline.');
    assert.equal(await b.page.locator('#app').getAttribute('data-state'), 'ended');
    assert.equal(b.sent.filter((f) => f.type === 'resume').length, 1);
    await b.page.keyboard.press('Enter'); // one key starts again, as after any end
    await seeInLog(b.page, 'Looking for a stranger');
    await a.context.close();
    await b.context.close();
  });

  test('Stop while offline: on the next connection the page takes its place back only to leave it', async () => {
    const server = await startTestServer(0, { chat: { resumeWindowMs: WINDOW_MS } });
    servers.push(server);
    const [a, b] = await pair(browser, `http://127.0.0.1:${server.port}/`);
    await b.context.setOffline(true);
    await seeInLog(a.page, AWAY);
    await b.page.locator('#stop').click();
    await seeInLog(b.page, 'You left the chat.');
    await b.context.setOffline(false);
    // The stranger hears it as soon as B is back, not when the held place expires.
    await seeInLog(a.page, 'The stranger has left the chat.');
    const sent = b.sent.map((f) => f.type).filter((t) => t === 'resume' || t === 'leave');
    assert.deepEqual(sent, ['resume', 'leave']);
    assert.equal(await b.page.locator('#app').getAttribute('data-state'), 'ended');
    await a.context.close();
    await b.context.close();
  });

  test('closing the page is leaving: the stranger is told at once, not after the window', async () => {
    const server = await startTestServer(0, { chat: { resumeWindowMs: WINDOW_MS } });
    servers.push(server);
    const [a, b] = await pair(browser, `http://127.0.0.1:${server.port}/`);
    await b.page.goto('about:blank');
    await seeInLog(a.page, 'The stranger has left the chat.');
    assert.equal(await a.page.locator('#log .sys.away').count(), 0);
    await a.context.close();
    await b.context.close();
  });

  test('away longer than the window: the stranger is told, and the page back says the chat is over', async () => {
    const server = await startTestServer(0, { chat: { resumeWindowMs: 1000 } });
    servers.push(server);
    const [a, b] = await pair(browser, `http://127.0.0.1:${server.port}/`);
    await b.context.setOffline(true);
    await seeInLog(a.page, AWAY);
    await seeInLog(a.page, "The stranger's connection was lost.");
    await b.context.setOffline(false);
    await seeInLog(b.page, 'Your connection was lost, so this chat has ended.');
    const resumedOn = b.sockets.find((frames) => frames.some((f) => f.type === 'error'));
    assert.equal(resumedOn?.find((f) => f.type === 'error')?.code, 'resume_failed');
    assert.equal(await b.page.locator('#toast').textContent(), 'Connected again.', 'resume_failed is no error to show');
    await a.context.close();
    await b.context.close();
  });

  test('a node restarts under a live conversation: both pages resume on the next node and go on', async () => {
    const hub = new MemoryHub();
    const config = (nodeId: string): ServerConfig => ({
      engine: new MemoryEngine({ hub, nodeId }),
      secret: 'e2e-resume-cluster-secret-0123456789abcdef',
      drainTimeoutMs: 15_000,
      chat: { resumeWindowMs: WINDOW_MS },
    });
    const n1 = await startTestServer(0, config('n1'));
    const port = n1.port;
    const [a, b] = await pair(browser, `http://127.0.0.1:${port}/`);
    await send(a.page, 'just before the deploy');
    await seeFromStranger(b.page, 'just before the deploy');

    // The deploy: node 1 stops listening and closes every socket with 1012, holding the places;
    // node 2 takes the port (same hub, same secret: sessions and resume tokens verify there).
    const stopping = n1.close();
    const n2 = await listenOn(port, config('n2'));
    servers.push(n2);
    for (const v of [a, b]) {
      await v.page.locator('#app[data-link="open"]').waitFor({ timeout: STEP_MS });
      await v.page.locator('#chat-status').getByText('Chatting').waitFor({ timeout: STEP_MS });
    }
    await stopping; // node 1 handed both places over and left
    await send(a.page, 'after the deploy');
    await seeFromStranger(b.page, 'after the deploy');
    await send(b.page, 'still here');
    await seeFromStranger(a.page, 'still here');

    assert.deepEqual(await strangerLines(b.page), ['hello from A', 'just before the deploy', 'after the deploy']);
    assert.deepEqual(await strangerLines(a.page), ['hello from B', 'still here']);
    await allDelivered(a.page);
    await allDelivered(b.page);
    for (const v of [a, b]) {
      await stillTheSameChat(v);
      const resumed = v.sockets.flat().filter((f) => f.type === 'resumed');
      assert.deepEqual(resumed.map((f) => f.state), ['chatting'], 'resumed once, in the conversation');
      assert.equal(v.sent.filter((f) => f.type === 'find').length, 1, 'never searched again');
    }
  });
});

/** Starts a server on `port`, retrying while the old one's listening socket is being released. */
async function listenOn(port: number, config: ServerConfig): Promise<TestServer> {
  for (let i = 0; ; i++) {
    try {
      return await startTestServer(port, config);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || i >= 50) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
