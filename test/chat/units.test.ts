/** Unit tests: codec, interests, token bucket, moderation, and the memory queue's rules. */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { ErrorCode, Moderation, ServerMessage, StrikeCounter, TokenBucket, addressKey, addressNetwork, addressSalt, defaultChatOptions, looksLikeAdvertising, normalizeInterests, parseClientMessage, textKey } from '../../src/chat/index.js';
import { MemoryModerationStore } from '../../src/engine/moderation-memory.js';
import { MemoryQueue } from '../../src/engine/memory.js';
import type { Waiter } from '../../src/engine/engine.js';
import { LanguageCounts, TOP_LANGUAGES } from '../../src/chat/languages.js';

describe('codec', () => {
  const parse = (s: string) => parseClientMessage(s, 10);
  test('valid messages', () => {
    assert.deepEqual(parse('{"type":"msg","text":"hi","extra":1}'), { type: 'msg', text: 'hi' });
    assert.deepEqual(parse('{"type":"typing","on":false}'), { type: 'typing', on: false });
    assert.deepEqual(parse('{"type":"find"}'), { type: 'find', interests: [], lang: '', questions: false });
    assert.deepEqual(parse('{"type":"find","interests":["a"]}'), { type: 'find', interests: ['a'], lang: '', questions: false });
    for (const t of ['next', 'leave']) assert.deepEqual(parse(`{"type":"${t}"}`), { type: t });
    assert.deepEqual(parse('{"type":"report"}'), { type: 'report', reason: 'other', from: -1 });
    for (const reason of ['spam', 'harassment', 'sexual', 'minor', 'other']) assert.deepEqual(parse(JSON.stringify({ type: 'report', reason })), { type: 'report', reason, from: -1 });
    assert.deepEqual(parse('{"type":"report","reason":"spam","from":2}'), { type: 'report', reason: 'spam', from: 2 });
  });
  test('languages, questions and asking', () => {
    assert.deepEqual(parse('{"type":"find","lang":"PT","questions":true}'), { type: 'find', interests: [], lang: 'pt', questions: true });
    assert.deepEqual(parse('{"type":"find","lang":"fil"}'), { type: 'find', interests: [], lang: 'fil', questions: false });
    assert.deepEqual(parse('{"type":"ask","question":"why?"}'), { type: 'ask', question: 'why?', lang: '' });
    assert.deepEqual(parse('{"type":"ask","question":"warum?","lang":"De"}'), { type: 'ask', question: 'warum?', lang: 'de' });
    // The question's limit is its own (300), not msg's (10 here).
    assert.equal(parse(JSON.stringify({ type: 'ask', question: 'x'.repeat(300) })).type, 'ask');
    assert.equal(parse(JSON.stringify({ type: 'ask', question: '😀'.repeat(300) })).type, 'ask');
    const cases: Array<[string, ErrorCode]> = [
      ['{"type":"find","lang":"en-US"}', 'bad_message'], ['{"type":"find","lang":"e"}', 'bad_message'], ['{"type":"find","lang":"engl"}', 'bad_message'],
      ['{"type":"find","lang":""}', 'bad_message'], ['{"type":"find","lang":3}', 'bad_message'], ['{"type":"find","lang":"é1"}', 'bad_message'],
      ['{"type":"find","questions":"yes"}', 'bad_message'], ['{"type":"ask"}', 'bad_message'], ['{"type":"ask","question":""}', 'bad_message'],
      ['{"type":"ask","question":7}', 'bad_message'], [JSON.stringify({ type: 'ask', question: 'x'.repeat(301) }), 'too_long'],
      ['{"type":"ask","question":"q","lang":"zz-1"}', 'bad_message'], ['{"type":"report","from":3}', 'bad_message'], ['{"type":"report","from":"1"}', 'bad_message'],
    ];
    for (const [input, code] of cases) {
      const r = parse(input);
      assert.equal(r.type, 'error', input);
      assert.equal((r as { code: string }).code, code, input);
    }
    assert.deepEqual(JSON.parse(ServerMessage.matched(['a'], 'en')), { type: 'matched', common: ['a'], lang: 'en' });
    assert.deepEqual(JSON.parse(ServerMessage.matchedQuestion('asker', 'why "so"?', 'de')), { type: 'matched', mode: 'question', role: 'asker', question: 'why "so"?', common: [], lang: 'de' });
    assert.deepEqual(JSON.parse(ServerMessage.matchedQuestion('discusser', 'q')), { type: 'matched', mode: 'question', role: 'discusser', question: 'q', common: [] });
    assert.deepEqual(JSON.parse(ServerMessage.msgFrom('hi', 2)), { type: 'msg', text: 'hi', from: 2 });
    assert.deepEqual(JSON.parse(ServerMessage.typingFrom(true, 1)), { type: 'typing', on: true, from: 1 });
    assert.deepEqual(JSON.parse(ServerMessage.askerLeft), { type: 'asker_left' });
    assert.deepEqual(JSON.parse(ServerMessage.error.not_allowed).code, 'not_allowed');
    assert.deepEqual(parseClientMessage(Buffer.from('{"type":"next"}'), 10), { type: 'next' });
  });
  test('bad input never throws and has a stable code', () => {
    const cases: Array<[string, ErrorCode]> = [
      ['', 'bad_message'], ['{', 'bad_message'], ['null', 'bad_message'], ['[1]', 'bad_message'], ['{"type":1}', 'bad_message'],
      ['{"type":"msg"}', 'bad_message'], ['{"type":"msg","text":""}', 'bad_message'], ['{"type":"typing"}', 'bad_message'],
      ['{"type":"find","interests":[null]}', 'bad_message'], [`{"type":"find","interests":${JSON.stringify(Array(65).fill('a'))}}`, 'bad_message'],
      ['{"type":"msg","text":"12345678901"}', 'too_long'], ['{"type":"__proto__"}', 'bad_message'],
      ['{"type":"report","reason":"rude"}', 'bad_message'], ['{"type":"report","reason":1}', 'bad_message'],
      ['{"type":"report","reason":"toString"}', 'bad_message'], ['{"type":"report","reason":"__proto__"}', 'bad_message'],
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
    assert.deepEqual(JSON.parse(ServerMessage.welcome('x', 3, 'r1.n.x.m')), { type: 'welcome', id: 'x', online: 3, resume: 'r1.n.x.m' });
    assert.deepEqual(JSON.parse(ServerMessage.resumed('chatting', 't', ['a'], 3)), { type: 'resumed', state: 'chatting', resume: 't', common: ['a'], sent: 3 });
    assert.deepEqual(JSON.parse(ServerMessage.resumed('idle', 't', undefined)), { type: 'resumed', state: 'idle', resume: 't' });
    assert.deepEqual(JSON.parse(ServerMessage.delivered(7)), { type: 'delivered', seq: 7 });
    assert.deepEqual(JSON.parse(ServerMessage.away), { type: 'away' });
    assert.deepEqual(JSON.parse(ServerMessage.back), { type: 'back' });
    assert.deepEqual(JSON.parse(ServerMessage.matched(['a'])), { type: 'matched', common: ['a'] });
    assert.deepEqual(JSON.parse(ServerMessage.matched([])), { type: 'matched', common: [] });
    assert.deepEqual(JSON.parse(ServerMessage.msg('"\n\u2028', 5)), { type: 'msg', text: '"\n\u2028', seq: 5 });
    assert.deepEqual(JSON.parse(ServerMessage.banned(1234)), { type: 'error', code: 'banned', message: 'you have been reported by several people; try again later', until: 1234 });
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

describe('moderation helpers', () => {
  test('what looks like advertising: long, or a link, a handle, an e-mail, a phone number', () => {
    for (const ad of ['check out my page now please!!', 'spam.example.com', 'www.x.io', 'https://t.co', 'add me @snap_me', 'me@mail.example', 'call +1 555 123 4567'])
      assert.ok(looksLikeAdvertising(ad, 20), ad);
    for (const chat of ['hi', 'hey, asl?', 'lol 😂', 'from fr. u?', 'I am 25']) assert.ok(!looksLikeAdvertising(chat, 20), chat);
  });
  test('normalized text: case, spacing, width and invisible characters do not make a new message', () => {
    assert.equal(textKey('Visit SPAM . example'), textKey('visit spam.example'));
    assert.equal(textKey('ｖｉｓｉｔ\u200bspam.example'), textKey('visit spam.example'));
    assert.notEqual(textKey('visit spam.example'), textKey('visit ham.example'));
  });
  test('evidence: the last lines of a conversation, bounded in lines and characters', () => {
    const m = new Moderation(new MemoryModerationStore(), { ...defaultChatOptions, evidenceLines: 3, evidenceChars: 10 });
    let log = m.keep(undefined, true, 'a', 1);
    log = m.keep(log, false, 'b', 2);
    log = m.keep(log, true, 'c', 3);
    log = m.keep(log, false, 'd', 4);
    assert.deepEqual(m.evidence(log), [
      { from: 'target', text: 'b', at: 2 },
      { from: 'reporter', text: 'c', at: 3 },
      { from: 'target', text: 'd', at: 4 },
    ]);
    log = m.keep(log, true, '123456789', 5);
    assert.deepEqual(m.evidence(log).map((l) => l.text), ['d', '123456789']);
  });
  test('address key: stable, keyed by the secret, not the address', () => {
    const salt = addressSalt('s'.repeat(32));
    assert.equal(addressKey(salt, '1.2.3.4', 64), addressKey(salt, '1.2.3.4', 64));
    assert.notEqual(addressKey(salt, '1.2.3.4', 64), addressKey(addressSalt('t'.repeat(32)), '1.2.3.4', 64));
    assert.notEqual(addressKey(salt, '1.2.3.4', 64), addressKey(salt, '1.2.3.5', 64));
    assert.ok(!addressKey(salt, '1.2.3.4', 64).includes('1.2.3.4'));
    assert.equal(addressKey(salt, '::ffff:1.2.3.4', 64), addressKey(salt, '1.2.3.4', 64));
  });
  test('address key: IPv6 addresses of one prefix are one address', () => {
    const salt = addressSalt('s'.repeat(32));
    const a = addressKey(salt, '2001:db8:1:2:aaaa:bbbb:cccc:dddd', 64);
    assert.equal(addressKey(salt, '2001:db8:1:2::1', 64), a);
    assert.equal(addressKey(salt, '2001:0db8:0001:0002:ffff:ffff:ffff:ffff', 64), a);
    assert.notEqual(addressKey(salt, '2001:db8:1:3::1', 64), a);
    assert.equal(addressKey(salt, '2001:db8:1:3::1', 48), addressKey(salt, '2001:db8:1:2::1', 48));
    assert.notEqual(addressKey(salt, '2001:db8:1:2::1', 128), addressKey(salt, '2001:db8:1:2::2', 128));
    assert.equal(addressNetwork('2001:db8:1:2:3:4:5:6', 64), '6/64:20010db8000100020000000000000000');
    assert.equal(addressNetwork('fe80::1%eth0', 10), '6/10:fe800000000000000000000000000000');
    assert.equal(addressNetwork('::1', 64), '6/64:00000000000000000000000000000000');
    assert.equal(addressNetwork('1::2:3.4.5.6', 128), '6/128:00010000000000000000000203040506');
    assert.equal(addressNetwork('', 64), '?:');
  });
});

describe('memory queue', () => {
  const w = (userId: string, since: number, interests: string[] = [], wait = 0, avoid: string[] = []): Waiter => ({
    userId, person: userId, address: '', nodeId: 'n', interests, since, anyoneAfter: interests.length > 0 ? since + wait : since, avoid,
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

describe('language counts', () => {
  test('the top languages by name, the rest as other: bounded cardinality', () => {
    const c = new LanguageCounts();
    const langs = 'en de fr es pt it nl pl ru tr ja ko zh'.split(' ');
    langs.forEach((l, i) => {
      for (let k = 0; k <= langs.length - i; k++) c.add(l, 1);
    });
    c.add('', 1); // no language: not counted
    const top = c.top();
    assert.equal(Object.keys(top).length, TOP_LANGUAGES + 1);
    assert.equal(top.en, 14);
    assert.equal(top.ko, undefined);
    assert.equal(top.other, 4 + 3 + 2); // ja, ko, zh
    c.add('en', -14);
    assert.equal(c.top().en, undefined, 'a language nobody searches in is dropped');
    // The cluster's view: the engine's sum with this node's last report replaced by its live counts.
    assert.deepEqual(LanguageCounts.cluster({ en: 5, de: 2 }, { en: 1 }, { en: 3, fr: 1 }), { en: 7, de: 2, fr: 1 });
  });
});
