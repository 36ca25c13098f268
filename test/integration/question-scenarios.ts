/**
 * The rules of languages and question mode (docs/protocol.md), as scenarios on real sockets that
 * run on any deployment: one memory-engine server, or several `strangers serve` nodes on Redis.
 * `open(k)` opens a client on the node chosen for participant `k` (0: the asker or first user,
 * 1 and 2: the discussers or other users), so that one scenario covers one node, two, or three.
 */
import { strict as assert } from 'node:assert';
import type { Client, Msg } from './helpers.js';

export interface ScenarioContext {
  /** A welcomed client on the node of participant `k`, from its own address. */
  open(k: number): Promise<Client>;
  /** The moderators' review queue (`/admin/reports`): the open cases. */
  reports(): Promise<Array<{ evidence: Array<{ from: string; text: string }> }>>;
}

/** Everything `c` receives within `ms`, once nothing more came for `ms` (to check what did NOT arrive). */
async function drain(c: Client, ms = 150): Promise<Msg[]> {
  const out: Msg[] = [];
  while (!(await c.quiet(ms))) out.push(await c.next());
  return out;
}

export interface Trio {
  asker: Client;
  d1: Client;
  d2: Client;
  /** The `from` number the asker sees for d1, and for d2. */
  f1: number;
  f2: number;
}

/** An asker and two willing users, matched; each discusser spoke once so that `from` is known. */
export async function trio(ctx: ScenarioContext, question: string, lang?: string): Promise<Trio> {
  const l = lang === undefined ? {} : { lang };
  const asker = await ctx.open(0);
  asker.send({ type: 'ask', question, ...l });
  await asker.expect('searching');
  const d1 = await ctx.open(1);
  d1.send({ type: 'find', questions: true, ...l });
  await d1.expect('searching');
  const d2 = await ctx.open(2);
  d2.send({ type: 'find', questions: true, ...l });
  await d2.expect('searching');
  const langField = lang === undefined ? {} : { lang: lang.toLowerCase() };
  assert.deepEqual(await asker.expect('matched'), { type: 'matched', mode: 'question', role: 'asker', question, common: [], ...langField });
  for (const d of [d1, d2]) assert.deepEqual(await d.expect('matched'), { type: 'matched', mode: 'question', role: 'discusser', question, common: [], ...langField });
  d1.send({ type: 'msg', text: 'first from d1' });
  assert.deepEqual(await d2.expect('msg'), { type: 'msg', text: 'first from d1', seq: 1 });
  const m1 = await asker.expect('msg');
  d2.send({ type: 'msg', text: 'first from d2' });
  assert.deepEqual(await d1.expect('msg'), { type: 'msg', text: 'first from d2', seq: 1 });
  const m2 = await asker.expect('msg');
  assert.equal(m1.text, 'first from d1');
  assert.equal(m2.text, 'first from d2');
  const f1 = m1.from as number;
  const f2 = m2.from as number;
  assert.deepEqual([f1, f2].sort(), [1, 2], 'the asker sees discusser 1 and discusser 2');
  assert.deepEqual(Object.keys(m1).sort(), ['from', 'text', 'type'], 'no seq for the asker');
  return { asker, d1, d2, f1, f2 };
}

/** Language classes: same language only, no language with no language, a bad language refused. */
export async function languages(ctx: ScenarioContext): Promise<void> {
  const en1 = await ctx.open(0);
  const de1 = await ctx.open(1);
  const none1 = await ctx.open(2);
  en1.send({ type: 'find', lang: 'en' });
  de1.send({ type: 'find', lang: 'de' });
  none1.send({ type: 'find' });
  for (const c of [en1, de1, none1]) await c.expect('searching');
  for (const c of [en1, de1, none1]) assert.deepEqual(await drain(c, 200), [], 'nobody is matched across languages');
  // Bad input: a clear error, and the search goes on untouched.
  de1.send({ type: 'find', lang: 'de-DE' });
  assert.equal((await de1.expect('error')).code, 'bad_message');
  const en2 = await ctx.open(1);
  en2.send({ type: 'find', lang: 'EN' });
  await en2.expect('searching');
  assert.deepEqual(await en1.expect('matched'), { type: 'matched', common: [], lang: 'en' });
  assert.deepEqual(await en2.expect('matched'), { type: 'matched', common: [], lang: 'en' });
  const none2 = await ctx.open(0);
  none2.send({ type: 'find' });
  await none2.expect('searching');
  assert.deepEqual(await none1.expect('matched'), { type: 'matched', common: [] });
  assert.deepEqual(await none2.expect('matched'), { type: 'matched', common: [] });
  const de2 = await ctx.open(2);
  de2.send({ type: 'find', lang: 'de' });
  await de2.expect('searching');
  assert.equal((await de1.expect('matched')).lang, 'de');
  assert.equal((await de2.expect('matched')).lang, 'de');
  for (const c of [en1, en2, de1, de2, none1, none2]) c.close();
}

/** The asker watches: lines and typing with `from`, in order, once; it cannot speak; reports for every role. */
export async function watching(ctx: ScenarioContext): Promise<void> {
  const question = 'Cats or dogs? And why "so"?';
  const { asker, d1, d2, f1, f2 } = await trio(ctx, question, 'en');
  d1.send({ type: 'typing', on: true });
  assert.deepEqual(await d2.expect('typing'), { type: 'typing', on: true });
  assert.deepEqual(await asker.expect('typing'), { type: 'typing', on: true, from: f1 });
  for (let i = 0; i < 5; i++) d1.send({ type: 'msg', text: `dogs ${i}` });
  for (let i = 0; i < 5; i++) assert.deepEqual(await d2.expect('msg'), { type: 'msg', text: `dogs ${i}`, seq: i + 2 });
  for (let i = 0; i < 5; i++) assert.deepEqual(await asker.expect('msg'), { type: 'msg', text: `dogs ${i}`, from: f1 });
  d2.send({ type: 'typing', on: false });
  assert.deepEqual(await asker.expect('typing'), { type: 'typing', on: false, from: f2 });
  assert.deepEqual(await d1.expect('typing'), { type: 'typing', on: false });
  // The asker cannot speak; nothing of it reaches the discussers.
  asker.send({ type: 'msg', text: 'let me in' });
  assert.equal((await asker.expect('error')).code, 'not_allowed');
  asker.send({ type: 'typing', on: true });
  assert.equal((await asker.expect('error')).code, 'not_allowed');
  // Reports: the asker about discusser f1; a discusser about the asker; a discusser about the other.
  asker.send({ type: 'report', reason: 'harassment', from: f1 });
  await asker.expect('reported');
  d2.send({ type: 'report', reason: 'spam', from: 0 });
  await d2.expect('reported');
  d1.send({ type: 'report', reason: 'other' });
  await d1.expect('reported');
  for (const c of [d1, d2]) assert.deepEqual(await drain(c), [], 'the asker\'s words never reach a discusser');
  const cases = await ctx.reports();
  const has = (lines: Array<[string, string]>) =>
    cases.some((r) => lines.every(([from, text]) => r.evidence.some((l) => l.from === from && l.text === text)));
  assert.ok(has([['reporter', question], ['target', 'first from d1'], ['target', 'dogs 4']]), 'the asker\'s report: its question and the discusser\'s lines');
  assert.ok(!cases.some((r) => r.evidence.some((l) => l.from === 'target' && l.text === 'first from d2') && r.evidence.some((l) => l.text === question && l.from === 'reporter')), 'only the reported discusser\'s lines');
  assert.ok(has([['target', question]]), 'a discusser\'s report of the asker: the question');
  assert.ok(has([['reporter', 'first from d1'], ['target', 'first from d2']]), 'a discusser\'s report of the other: their conversation');
  // The asker leaves: the discussers go on as an ordinary pair.
  asker.send({ type: 'leave' });
  assert.deepEqual(await d1.expect('asker_left'), { type: 'asker_left' });
  assert.deepEqual(await d2.expect('asker_left'), { type: 'asker_left' });
  d1.send({ type: 'msg', text: 'just us now' });
  assert.deepEqual(await d2.expect('msg'), { type: 'msg', text: 'just us now', seq: 7 });
  assert.deepEqual(await drain(asker), [], 'the asker hears nothing more');
  d2.send({ type: 'leave' });
  assert.deepEqual(await d1.expect('ended'), { type: 'ended', reason: 'left' });
  for (const c of [asker, d1, d2]) c.close();
}

/** A discusser's `next`, `leave` or disconnect ends it for everyone, with the reason. */
export async function discussersEnd(ctx: ScenarioContext): Promise<void> {
  {
    const { asker, d1, d2 } = await trio(ctx, 'next?');
    d1.send({ type: 'next' });
    await d1.expect('searching');
    assert.deepEqual(await d2.expect('ended'), { type: 'ended', reason: 'skipped' });
    assert.deepEqual(await asker.expect('ended'), { type: 'ended', reason: 'skipped' });
    asker.send({ type: 'msg', text: 'late' });
    assert.equal((await asker.expect('error')).code, 'not_matched');
    for (const c of [asker, d1, d2]) c.close();
  }
  {
    const { asker, d1, d2 } = await trio(ctx, 'leave?');
    d2.send({ type: 'leave' });
    assert.deepEqual(await d1.expect('ended'), { type: 'ended', reason: 'left' });
    assert.deepEqual(await asker.expect('ended'), { type: 'ended', reason: 'left' });
    for (const c of [asker, d1, d2]) c.close();
  }
  {
    const { asker, d1, d2 } = await trio(ctx, 'gone?');
    d1.close();
    assert.deepEqual(await d2.expect('ended'), { type: 'ended', reason: 'disconnected' });
    assert.deepEqual(await asker.expect('ended'), { type: 'ended', reason: 'disconnected' });
    for (const c of [asker, d2]) c.close();
  }
}

/** The asker's `next` (it asks again) and disconnect remove only the asker. */
export async function askerLeaves(ctx: ScenarioContext): Promise<void> {
  const { asker, d1, d2 } = await trio(ctx, 'again?', 'pt');
  asker.send({ type: 'next' });
  await asker.expect('searching');
  for (const d of [d1, d2]) assert.deepEqual(await d.expect('asker_left'), { type: 'asker_left' });
  d2.send({ type: 'msg', text: 'still here' });
  assert.equal((await d1.expect('msg')).text, 'still here');
  // The same question again, to two new discussers.
  const d3 = await ctx.open(1);
  const d4 = await ctx.open(2);
  for (const d of [d3, d4]) {
    d.send({ type: 'find', questions: true, lang: 'pt' });
    await d.expect('searching');
  }
  assert.deepEqual(await asker.expect('matched'), { type: 'matched', mode: 'question', role: 'asker', question: 'again?', common: [], lang: 'pt' });
  for (const d of [d3, d4]) assert.equal((await d.expect('matched')).role, 'discusser');
  asker.close();
  for (const d of [d3, d4]) assert.deepEqual(await d.expect('asker_left'), { type: 'asker_left' });
  d3.send({ type: 'msg', text: 'hello' });
  assert.deepEqual(await d4.expect('msg'), { type: 'msg', text: 'hello', seq: 1 });
  for (const c of [d1, d2, d3, d4]) c.close();
}

/** A waiting question goes first; willing users otherwise pair normally; a question keeps to its language. */
export async function priority(ctx: ScenarioContext): Promise<void> {
  // Willing and plain users pair as usual when no question waits.
  const w = await ctx.open(1);
  w.send({ type: 'find', questions: true });
  await w.expect('searching');
  const plain = await ctx.open(2);
  plain.send({ type: 'find' });
  await plain.expect('searching');
  assert.deepEqual(await w.expect('matched'), { type: 'matched', common: [] });
  assert.deepEqual(await plain.expect('matched'), { type: 'matched', common: [] });
  // A German question; two English willing users pair with each other, not with it.
  const asker = await ctx.open(0);
  asker.send({ type: 'ask', question: 'Wie geht es?', lang: 'de' });
  await asker.expect('searching');
  const en = [await ctx.open(1), await ctx.open(2)];
  for (const c of en) {
    c.send({ type: 'find', questions: true, lang: 'en' });
    await c.expect('searching');
  }
  for (const c of en) assert.deepEqual(await c.expect('matched'), { type: 'matched', common: [], lang: 'en' });
  // Two German willing users: the waiting question goes first.
  const de = [await ctx.open(1), await ctx.open(2)];
  for (const c of de) {
    c.send({ type: 'find', questions: true, lang: 'de' });
    await c.expect('searching');
  }
  assert.equal((await asker.expect('matched')).mode, 'question');
  for (const c of de) assert.equal((await c.expect('matched')).mode, 'question');
  // Asking while in a conversation is refused; a bad question is refused and loses nothing.
  asker.send({ type: 'ask', question: 'another?' });
  assert.equal((await asker.expect('error')).code, 'already_matched');
  de[0]!.send({ type: 'ask', question: '' });
  assert.equal((await de[0]!.expect('error')).code, 'bad_message');
  de[0]!.send({ type: 'msg', text: 'ok' });
  assert.equal((await de[1]!.expect('msg')).text, 'ok');
  for (const c of [w, plain, asker, ...en, ...de]) c.close();
}

/** The resume token of a client's connection (its `welcome`, kept in its inbox). */
function tokenOf(c: Client): string {
  return c.inbox.messages.find((m) => m.type === 'welcome')!.resume as string;
}

/**
 * With a resume window: a place in a question conversation is not held (a dropped member leaves
 * at once, its token is refused), a question still searching is held and asked again on resume,
 * and the discussers, once the asker left, are an ordinary pair whose places are held.
 */
export async function drops(ctx: ScenarioContext): Promise<void> {
  {
    const { asker, d1, d2 } = await trio(ctx, 'a discusser drops?');
    const token = tokenOf(d1);
    d1.conn.terminate();
    // At once, although a place would be held for seconds in an ordinary conversation.
    assert.deepEqual(await d2.expect('ended', 1500), { type: 'ended', reason: 'disconnected' });
    assert.deepEqual(await asker.expect('ended', 1500), { type: 'ended', reason: 'disconnected' });
    const back = await ctx.open(1);
    back.send({ type: 'resume', token });
    assert.equal((await back.expect('error')).code, 'resume_failed');
    for (const c of [asker, d2, back]) c.close();
  }
  {
    const { asker, d1, d2 } = await trio(ctx, 'the asker drops?');
    const token = tokenOf(asker);
    asker.conn.terminate();
    for (const d of [d1, d2]) assert.deepEqual(await d.expect('asker_left', 1500), { type: 'asker_left' });
    const back = await ctx.open(0);
    back.send({ type: 'resume', token });
    assert.equal((await back.expect('error')).code, 'resume_failed');
    // Now an ordinary pair: d1's place is held, d2 hears away and back, and lines go on.
    const t1 = tokenOf(d1);
    d1.conn.terminate();
    assert.deepEqual(await d2.expect('away'), { type: 'away' });
    d2.send({ type: 'msg', text: 'are you there?' });
    const d1b = await ctx.open(1);
    d1b.send({ type: 'resume', token: t1 });
    const resumed = await d1b.expect('resumed');
    assert.equal(resumed.state, 'chatting');
    // Everything it had not acknowledged (it never acked), with the original numbers.
    assert.deepEqual(await d1b.expect('msg'), { type: 'msg', text: 'first from d2', seq: 1 });
    assert.deepEqual(await d1b.expect('msg'), { type: 'msg', text: 'are you there?', seq: 2 });
    assert.deepEqual(await d2.expect('back'), { type: 'back' });
    d1b.send({ type: 'msg', text: 'yes' });
    assert.equal((await d2.expect('msg')).text, 'yes');
    for (const c of [back, d1b, d2]) c.close();
  }
  {
    // A question still searching is held like any search, and asked again on resume.
    const asker = await ctx.open(0);
    asker.send({ type: 'ask', question: 'held?', lang: 'fi' });
    await asker.expect('searching');
    const token = tokenOf(asker);
    asker.conn.terminate();
    await new Promise((r) => setTimeout(r, 100));
    const back = await ctx.open(0);
    back.send({ type: 'resume', token });
    assert.equal((await back.expect('resumed')).state, 'searching');
    await back.expect('searching');
    const ds = [await ctx.open(1), await ctx.open(2)];
    for (const d of ds) {
      d.send({ type: 'find', questions: true, lang: 'fi' });
      await d.expect('searching');
    }
    assert.deepEqual(await back.expect('matched'), { type: 'matched', mode: 'question', role: 'asker', question: 'held?', common: [], lang: 'fi' });
    for (const c of [back, ...ds]) c.close();
  }
}
