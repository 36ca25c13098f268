/**
 * A small bot farm against the whole defence, with the gate on: bots on one address solve
 * challenges (slowed: the cost rises), spam one ad to every stranger (stopped after 5 partners:
 * a spam wave, queued for review), and are reported by strangers from different addresses
 * (banned, person and address: no new session from that address while the ban lasts).
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { solveChallenge, type Challenge } from 'altcha-lib';
import { deriveKey } from 'altcha-lib/algorithms/pbkdf2';
import { Client, startServer, stopServersAfterEachTest } from './helpers.js';

stopServersAfterEachTest();

const TOKEN = 'moderator-token-for-the-bot-farm-test-0123';
const BOTS = '198.51.100.77';
const AD = 'HOT singles near you: spam.example/join';

async function session(base: string, ip: string): Promise<{ token?: string; status: number; cost: number; error?: string }> {
  const challenge = (await (await fetch(`${base}/session/challenge`, { headers: { 'x-forwarded-for': ip } })).json()) as Challenge;
  const solution = await solveChallenge({ challenge, deriveKey });
  const res = await fetch(`${base}/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': ip },
    body: JSON.stringify({ altcha: btoa(JSON.stringify({ challenge, solution })) }),
  });
  const body = (await res.json()) as { token?: string; error?: string };
  return { ...body, status: res.status, cost: challenge.parameters.cost };
}

async function user(base: string, ip: string): Promise<Client> {
  const s = await session(base, ip);
  assert.equal(s.status, 200, s.error);
  const c = await Client.open(`${base}`, { 'x-forwarded-for': ip }, undefined, `?session=${s.token}`);
  await c.expect('welcome');
  return c;
}

test('a bot farm: slowed by the gate, stopped by the spam-wave rule, banned by reports from distinct people', async () => {
  const s = await startServer({ gate: true, powCost: 5, secret: 'a-test-secret-of-at-least-32-characters', trustProxy: true, adminToken: TOKEN, maxPerIp: 0, chat: { rateLimit: 0 } });

  // 1. Slowed: the farm's address asks for many sessions; its challenges get dearer.
  const costs: number[] = [];
  for (let i = 0; i < 30; i++) {
    const c = (await (await fetch(`${s.url}/session/challenge`, { headers: { 'x-forwarded-for': BOTS } })).json()) as Challenge;
    costs.push(c.parameters.cost);
  }
  assert.ok(costs.at(-1)! >= 4 * costs[0]!, `cost ${costs[0]} → ${costs.at(-1)}`);
  const stranger = (await (await fetch(`${s.url}/session/challenge`, { headers: { 'x-forwarded-for': '203.0.113.1' } })).json()) as Challenge;
  assert.equal(stranger.parameters.cost, costs[0], 'another address pays the base cost');

  // 2. Stopped: one bot pastes its ad to every stranger it meets; the sixth and later never see it.
  const bot = await user(s.url, BOTS);
  const saw: boolean[] = [];
  for (let i = 1; i <= 7; i++) {
    const person = await user(s.url, `203.0.113.${10 + i}`);
    bot.send({ type: 'find' });
    await bot.expect('searching');
    person.send({ type: 'find' });
    await person.expect('searching');
    await bot.expect('matched');
    await person.expect('matched');
    bot.send({ type: 'msg', text: AD });
    bot.send({ type: 'msg', text: 'u there?' });
    const first = await person.expect('msg');
    saw.push(first.text === AD);
    if (first.text === AD) assert.equal((await person.expect('msg')).text, 'u there?');
    // 3. The last three strangers report the bot (three people, three addresses).
    if (i >= 5) {
      person.send({ type: 'report', reason: 'spam' });
      await person.expect('reported');
    }
    person.send({ type: 'leave' });
    await bot.expect('ended');
    person.close();
  }
  assert.deepEqual(saw, [true, true, true, true, true, false, false]);

  // Banned: the bot's person, any other session from its address, and new sessions there.
  bot.send({ type: 'find' });
  await bot.expect('searching');
  assert.equal((await bot.expect('error')).code, 'banned');
  const refused = await session(s.url, BOTS);
  assert.deepEqual([refused.status, refused.error], [403, 'banned']);
  assert.equal((await session(s.url, '203.0.113.99')).status, 200, 'others still get sessions');

  // The moderators see one case for the bot: three reporters, banned, the ad as evidence.
  const { reports } = (await (await fetch(`${s.url}/admin/reports`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as {
    reports: Array<{ reporters: number; reason: string; target: { banned: boolean }; evidence: Array<{ text: string }> }>;
  };
  assert.equal(reports.length, 1);
  assert.equal(reports[0]!.reporters, 3);
  assert.equal(reports[0]!.target.banned, true);
  assert.ok(reports[0]!.evidence.some((l) => l.text === AD));
  bot.close();
});
