/** Unit tests: codec, interests, token bucket, moderation, and the memory queue's rules. */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { ErrorCode, Moderation, ServerMessage, StrikeCounter, TokenBucket, ipHash, normalizeInterests, parseClientMessage } from '../../src/chat/index.js';
import { MemoryQueue } from '../../src/engine/memory.js';
import type { Waiter } from '../../src/engine/engine.js';

describe('codec', () => {
  const parse = (s: string) => parseClientMessage(s, 10);
  test('valid messages', () => {
    assert.deepEqual(parse('{"type":"msg","text":"hi","extra":1}'), { type: 'msg', text: 'hi' });
    assert.deepEqual(parse('{"type":"typing","on":false}'), { type: 'typing', on: false });
    assert.deepEqual(parse('{"type":"find"}'), { type: 'find', interests: [] });
    assert.deepEqual(parse('{"type":"find","interests":["a"]}'), { type: 'find', interests: ['a'] });
    for (const t of ['next', 'leave', 'report']) assert.deepEqual(parse(`{"type":"${t}"}`), { type: t });
    assert.deepEqual(parseClientMessage(Buffer.from('{"type":"next"}'), 10), { type: 'next' });
  });
  test('bad input never throws and has a stable code', () => {
    const cases: Array<[string, ErrorCode]> = [
      ['', 'bad_message'], ['{', 'bad_message'], ['null', 'bad_message'], ['[1]', 'bad_message'], ['{"type":1}', 'bad_message'],
      ['{"type":"msg"}', 'bad_message'], ['{"type":"msg","text":""}', 'bad_message'], ['{"type":"typing"}', 'bad_message'],
      ['{"type":"find","interests":[null]}', 'bad_message'], [`{"type":"find","interests":${JSON.stringify(Array(65).fill('a'))}}`, 'bad_message'],
      ['{"type":"msg","text":"12345678901"}', 'too_long'], ['{"type":"__proto__"}', 'bad_message'],
    ];
    for (const [input, code] of cases) {
      const r = parse(input);
      assert.equal(r.type, 'error', input);
      assert.equal((r as { code: string }).code, code, input);
    }
  });
  test('length counts characters (code points), not UTF-16 units', () => {
    assert.equal(parse(JSON.stringify({ type: 'msg', text: '😀'.repeat(10) })).type, 'msg');
    assert.equal((parse(JSON.stringify({ type: 'msg', text: '😀'.repeat(11) })) as { code: string }).code, 'too_long');
  });
  // Regression (found by the codec fuzz target, seed 3): lone low surrogates counted as nothing.
  test('a lone surrogate counts as one character', () => {
    assert.equal((parseClientMessage('{"type":"msg","text":"aa\\udc00aa"}', 4) as { code: string }).code, 'too_long');
    assert.equal(parseClientMessage('{"type":"msg","text":"aa\\udc00a"}', 4).type, 'msg');
    const lone = `{"type":"msg","text":"${'\\udc00'.repeat(19)}"}`; // 19 code points, under twice the limit
    assert.equal((parse(lone) as { code: string }).code, 'too_long');
    assert.equal((parse(`{"type":"msg","text":"${'\\ud800'.repeat(11)}"}`) as { code: string }).code, 'too_long');
    assert.equal(parse(`{"type":"msg","text":"${'\\ud83d\\ude00'.repeat(10)}"}`).type, 'msg'); // 10 pairs
  });
  test('server messages are valid JSON of the documented shape', () => {
    assert.deepEqual(JSON.parse(ServerMessage.welcome('x', 3)), { type: 'welcome', id: 'x', online: 3 });
    assert.deepEqual(JSON.parse(ServerMessage.matched(['a'])), { type: 'matched', common: ['a'] });
    assert.deepEqual(JSON.parse(ServerMessage.matched([])), { type: 'matched', common: [] });
    assert.deepEqual(JSON.parse(ServerMessage.msg('"\n\u2028')), { type: 'msg', text: '"\n\u2028' });
    for (const code of Object.values(ErrorCode)) {
      const e = JSON.parse(ServerMessage.error[code]);
      assert.equal(e.type, 'error');
      assert.equal(e.code, code);
      assert.ok(e.message.length > 0);
    }
  });
});

describe('interests', () => {
  test('trim, lower-case, NFC, dedupe, empty dropped', () => {
    assert.deepEqual(normalizeInterests([' Music ', 'MUSIC', 'Cafe\u0301', 'café', '', '   ']), ['music', 'café']);
  });
  test('at most 10 tags and 32 characters (code points)', () => {
    assert.equal(normalizeInterests(Array.from({ length: 20 }, (_, i) => `t${i}`)).length, 10);
    assert.equal(normalizeInterests(['x'.repeat(40)])[0], 'x'.repeat(32));
    const emoji = normalizeInterests(['😀'.repeat(40)])[0]!;
    assert.equal(Array.from(emoji).length, 32);
    assert.ok(!/[\ud800-\udbff]$/.test(emoji), 'no lone surrogate');
  });
});

describe('token bucket', () => {
  test('burst, then refill at the rate', () => {
    const b = new TokenBucket(5, 10, 0);
    for (let i = 0; i < 10; i++) assert.ok(b.take(0));
    assert.equal(b.take(0), false);
    assert.equal(b.take(100), false); // 0.5 token
    assert.ok(b.take(200)); // 1 token
    assert.equal(b.take(200), false);
    let n = 0;
    for (let i = 0; i < 100; i++) if (b.take(10_000)) n++;
    assert.equal(n, 10, 'never more than the burst');
  });
  test('rate 0 is off', () => {
    const b = new TokenBucket(0, 1, 0);
    for (let i = 0; i < 1000; i++) assert.ok(b.take(0));
  });
  test('strikes are forgiven at one per second', () => {
    const s = new StrikeCounter(3);
    assert.equal(s.hit(0), false);
    assert.equal(s.hit(0), false);
    assert.equal(s.hit(0), false);
    assert.equal(s.hit(0), true);
    const t = new StrikeCounter(3);
    for (let i = 0; i < 100; i++) assert.equal(t.hit(i * 1000), false);
  });
});

describe('moderation', () => {
  const o = { reportThreshold: 3, reportWindowMs: 1000, banMs: 500, maxTracked: 2 };
  test('distinct reporters within the window ban for a while', () => {
    const m = new Moderation(o);
    assert.equal(m.report('bad', 'r1', 0), false);
    assert.equal(m.report('bad', 'r1', 1), false); // same person twice counts once
    assert.equal(m.report('bad', 'bad', 1), false); // self
    assert.equal(m.report('bad', 'r2', 2), false);
    assert.equal(m.report('bad', 'r3', 3), true);
    assert.ok(m.banned('bad', 100));
    assert.equal(m.banned('bad', 503), false);
  });
  test('reports outside the window do not count; memory is bounded', () => {
    const m = new Moderation(o);
    m.report('x', 'r1', 0);
    m.report('x', 'r2', 0);
    assert.equal(m.report('x', 'r3', 2000), false);
    m.report('y', 'r1', 0);
    m.report('z', 'r1', 0);
    assert.ok(m.size <= 2);
    m.sweep(10_000);
    assert.equal(m.size, 0);
  });
  test('ip hash: stable, salted, not the IP', () => {
    assert.equal(ipHash('s', '1.2.3.4'), ipHash('s', '1.2.3.4'));
    assert.notEqual(ipHash('s', '1.2.3.4'), ipHash('t', '1.2.3.4'));
    assert.ok(!ipHash('s', '1.2.3.4').includes('1.2.3.4'));
  });
});

describe('memory queue', () => {
  const w = (userId: string, since: number, interests: string[] = [], wait = 0, avoid: string[] = []): Waiter => ({
    userId, nodeId: 'n', interests, since, anyoneAfter: interests.length > 0 ? since + wait : since, avoid,
  });
  test('longest waiting first; never oneself; avoid both ways', () => {
    const q = new MemoryQueue();
    assert.equal(q.pair(w('a', 1), 1), null);
    assert.equal(q.pair(w('b', 2, [], 0, ['a']), 2), null); // b avoids a
    assert.equal(q.pair(w('a', 3), 3)?.partner.userId, undefined); // a re-queues: replaces itself, b avoids it
    assert.equal(q.size, 2);
    assert.equal(q.pair(w('c', 4), 4)?.partner.userId, 'b'); // b waited since 2, a since 3
    assert.equal(q.pair(w('d', 5, [], 0, ['a']), 5), null);
  });
  test('shared interest preferred; fallback after the wait', () => {
    const q = new MemoryQueue();
    q.pair(w('plain', 1), 1);
    q.pair(w('cat', 2, ['cats'], 100), 2);
    const m = q.pair(w('cat2', 3, ['dogs', 'cats'], 100), 3);
    assert.deepEqual([m?.partner.userId, m?.common], ['cat', ['cats']]);
    assert.equal(q.pair(w('dog', 4, ['dogs'], 100), 4), null); // plain is not taken before dog's wait
    assert.equal(q.pair(w('late', 200), 200)?.partner.userId, 'plain');
    const f = q.pair(w('late2', 201), 201);
    assert.deepEqual([f?.partner.userId, f?.common], ['dog', []]);
  });
});
