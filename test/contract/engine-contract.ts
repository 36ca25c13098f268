/**
 * The ONE contract suite every engine runs (STYLE habit 11). It checks what engine.ts promises:
 * atomic pair-or-enqueue, never self, at-most-once, longest-waiting first, interest preference,
 * the anyoneAfter fallback, avoid lists both ways, remove(), relay ordering per node pair,
 * presence summed across nodes, node-down detection, and a concurrent storm.
 *
 * An implementation provides a {@link ContractTarget}: a way to create N engines sharing one
 * backing store. Multi-node cases run only when `maxNodes >= 2`.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32 } from '../support/rng.js';
import type { Engine, EngineListener, Match, ModerationPolicy, NodeCounts, RelayEvent, Report, Waiter } from '../../src/engine/engine.js';
import { gateStoreContract } from './gate-contract.js';

/** How the suite creates engines of one implementation. */
export interface ContractTarget {
  /** Creates `n` engines (not started) sharing one fresh, empty backing store. */
  create(n: number): Promise<Engine[]>;
  /** Most engines that can share a store (1: single node only). */
  readonly maxNodes: number;
  /** Kills an engine abruptly, as `kill -9` would (no clean leave). Omit if not possible. */
  crash?(engine: Engine): void;
  /** Bound within which the others learn that a node died or left (ms). */
  readonly nodeDownWithinMs: number;
  /** Bound within which another node's presence report is visible (ms). */
  readonly presenceWithinMs: number;
  /** Why the suite cannot run here (e.g. no Redis): every test is skipped with this message. */
  readonly skip?: string | undefined;
}

/** Records what an engine tells its chat, and lets a test await it. */
export class Recorder implements EngineListener {
  readonly events: RelayEvent[] = [];
  readonly downs: string[] = [];
  readonly readyChanges: boolean[] = [];
  #waiters: Array<() => boolean> = [];

  onRelay(event: RelayEvent): void {
    this.events.push(event);
    this.#check();
  }
  onNodeDown(nodeId: string): void {
    this.downs.push(nodeId);
    this.#check();
  }
  onReadyChange(ready: boolean): void {
    this.readyChanges.push(ready);
    this.#check();
  }

  /** Resolves when `pred` holds (checked now and after every event); rejects after `ms`. */
  until(pred: () => boolean, ms: number, what: string): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== check);
        reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
      }, ms);
      const check = (): boolean => {
        if (!pred()) return false;
        clearTimeout(timer);
        resolve();
        return true;
      };
      this.#waiters.push(check);
    });
  }

  #check(): void {
    this.#waiters = this.#waiters.filter((w) => !w());
  }
}

/** Polls `pred` every 20 ms (for state no event announces, e.g. presence); rejects after `ms`. */
export async function eventually(pred: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let seq = 0;
/** A waiter with defaults: no interests, accepts anyone from `since`, avoids nobody. */
export function waiter(engine: Engine, p: Partial<Waiter> & { since: number }): Waiter {
  const interests = p.interests ?? [];
  const userId = p.userId ?? `u${++seq}-${Math.random().toString(36).slice(2, 8)}`;
  return {
    userId,
    person: p.person ?? userId,
    address: p.address ?? `addr-${userId}`,
    nodeId: p.nodeId ?? engine.nodeId,
    interests,
    since: p.since,
    anyoneAfter: p.anyoneAfter ?? p.since,
    avoid: p.avoid ?? [],
    ...(p.lang !== undefined ? { lang: p.lang } : {}),
    ...(p.questions !== undefined ? { questions: p.questions } : {}),
    ...(p.question !== undefined ? { question: p.question } : {}),
  };
}

interface Cluster {
  engines: Engine[];
  recorders: Recorder[];
}

/** Runs the contract against one implementation. */
export function runEngineContract(name: string, target: ContractTarget): void {
  const opts = target.skip !== undefined ? { skip: target.skip } : {};

  /** Creates and starts `n` engines; they are closed when the test ends. */
  async function cluster(t: TestContext, n: number): Promise<Cluster> {
    const engines = await target.create(n);
    const recorders = engines.map(() => new Recorder());
    t.after(async () => {
      await Promise.all(engines.map((e) => e.close().catch(() => {})));
    });
    for (let i = 0; i < n; i++) await engines[i]!.start(recorders[i]!);
    return { engines, recorders };
  }

  const T0 = 1_700_000_000_000;
  const FAR = T0 + 3_600_000;

  describe(`engine contract: ${name}`, opts, () => {
    describe('match queue (one node)', () => {
      test('pairs a caller with a waiting user, or enqueues the caller', async (t) => {
        const { engines: [e] } = await cluster(t, 1);
        const a = waiter(e!, { since: T0 });
        const b = waiter(e!, { since: T0 + 1 });
        assert.equal(await e!.queue.pairOrEnqueue(a, T0), null);
        const m = await e!.queue.pairOrEnqueue(b, T0 + 1);
        assert.ok(m);
        assert.deepEqual(m.partner, a);
        assert.deepEqual(m.common, []);
      });

      test('never pairs a user with themselves; a repeated call replaces the entry', async (t) => {
        const { engines: [e] } = await cluster(t, 1);
        const a = waiter(e!, { since: T0 });
        assert.equal(await e!.queue.pairOrEnqueue(a, T0), null);
        assert.equal(await e!.queue.pairOrEnqueue({ ...a, since: T0 + 5, anyoneAfter: T0 + 5 }, T0 + 5), null);
        const m = await e!.queue.pairOrEnqueue(waiter(e!, { since: T0 + 6 }), T0 + 6);
        assert.equal(m?.partner.userId, a.userId);
        assert.equal(m?.partner.since, T0 + 5, 'the latest entry is the one kept');
        // Only one entry existed: the queue is now empty.
        assert.equal(await e!.queue.remove(a.userId), false);
        assert.equal(await e!.queue.pairOrEnqueue(waiter(e!, { since: T0 + 7 }), T0 + 7), null);
      });

      test('a waiter is returned at most once', async (t) => {
        const { engines: [e] } = await cluster(t, 1);
        const a = waiter(e!, { since: T0 });
        await e!.queue.pairOrEnqueue(a, T0);
        const m1 = await e!.queue.pairOrEnqueue(waiter(e!, { since: T0 + 1 }), T0 + 1);
        const m2 = await e!.queue.pairOrEnqueue(waiter(e!, { since: T0 + 2 }), T0 + 2);
        assert.equal(m1?.partner.userId, a.userId);
        assert.equal(m2, null);
      });

      test('longest-waiting first (users without interests)', async (t) => {
        const { engines: [e] } = await cluster(t, 1);
        // Three waiters that avoid each other, so all three stay queued.
        const a = waiter(e!, { userId: 'lw-a', since: T0 + 10, avoid: ['lw-b', 'lw-c'] });
        const b = waiter(e!, { userId: 'lw-b', since: T0 + 20, avoid: ['lw-c'] });
        const c = waiter(e!, { userId: 'lw-c', since: T0 + 30 });
        for (const w of [a, b, c]) assert.equal(await e!.queue.pairOrEnqueue(w, w.since), null);
        const order = [];
        for (let i = 0; i < 3; i++) {
          const m = await e!.queue.pairOrEnqueue(waiter(e!, { since: T0 + 40 + i, avoid: [] }), T0 + 40 + i);
          order.push(m?.partner.userId);
        }
        assert.deepEqual(order, ['lw-a', 'lw-b', 'lw-c']);
      });

      test('longest-waiting first across the caller\'s interests', async (t) => {
        const { engines: [e] } = await cluster(t, 1);
        const a = waiter(e!, { since: T0 + 1, interests: ['chess'], anyoneAfter: FAR });
        const b = waiter(e!, { since: T0 + 2, interests: ['go'], anyoneAfter: FAR });
        const c = waiter(e!, { since: T0 + 3, interests: ['jazz'], anyoneAfter: FAR });
        for (const w of [c, b, a]) assert.equal(await e!.queue.pairOrEnqueue(w, T0 + 5), null);
        const m = await e!.queue.pairOrEnqueue(waiter(e!, { since: T0 + 6, interests: ['jazz', 'go', 'chess'], anyoneAfter: FAR }), T0 + 6);
        assert.equal(m?.partner.userId, a.userId);
        assert.deepEqual(m?.common, ['chess']);
      });

      test('prefers a shared interest over a longer-waiting stranger', async (t) => {
        const { engines: [e] } = await cluster(t, 1);
        const plain = waiter(e!, { since: T0 });
        const fan = waiter(e!, { since: T0 + 1, interests: ['music', 'films'], anyoneAfter: FAR });
        assert.equal(await e!.queue.pairOrEnqueue(plain, T0), null);
        assert.equal(await e!.queue.pairOrEnqueue(fan, T0 + 1), null, 'a user with interests does not take a stranger before anyoneAfter');
        const m = await e!.queue.pairOrEnqueue(waiter(e!, { since: T0 + 2, interests: ['films', 'music', 'art'], anyoneAfter: T0 + 2 }), T0 + 2);
        assert.equal(m?.partner.userId, fan.userId);
        assert.deepEqual(m?.common, ['films', 'music'], 'common interests, in the caller\'s order');
        const m2 = await e!.queue.pairOrEnqueue(waiter(e!, { since: T0 + 3, interests: ['art'], anyoneAfter: T0 + 3 }), T0 + 3);
        assert.equal(m2?.partner.userId, plain.userId, 'with no shared interest, anyone (both accept anyone)');
        assert.deepEqual(m2?.common, []);
      });

      test('anyoneAfter: a user with interests accepts anyone only from that time', async (t) => {
        const { engines: [e] } = await cluster(t, 1);
        const q = e!.queue;
        const a = waiter(e!, { since: T0, interests: ['rare'], anyoneAfter: T0 + 1000 });
        assert.equal(await q.pairOrEnqueue(a, T0), null);
        const b = waiter(e!, { since: T0 + 1 });
        assert.equal(await q.pairOrEnqueue(b, T0 + 1), null, 'a does not accept b yet');
        const d = await q.pairOrEnqueue(waiter(e!, { since: T0 + 500 }), T0 + 500);
        assert.equal(d?.partner.userId, b.userId, 'before anyoneAfter, a is skipped');
        const ew = waiter(e!, { since: T0 + 600 });
        assert.equal(await q.pairOrEnqueue(ew, T0 + 600), null);
        const f = await q.pairOrEnqueue(waiter(e!, { since: T0 + 2000 }), T0 + 2000);
        assert.equal(f?.partner.userId, a.userId, 'after anyoneAfter, a is the longest-waiting');
        const g = waiter(e!, { since: T0 + 2001, interests: ['other'], anyoneAfter: T0 + 7000 });
        assert.equal(await q.pairOrEnqueue(g, T0 + 2001), null, 'a caller not yet accepting anyone is enqueued');
        // The same user calling again once its anyoneAfter passed (the chat's retry) is paired.
        const again = await q.pairOrEnqueue(g, T0 + 8000);
        assert.equal(again?.partner.userId, ew.userId);
      });

      test('avoid lists are checked both ways', async (t) => {
        const { engines: [e] } = await cluster(t, 1);
        const q = e!.queue;
        const a = waiter(e!, { userId: 'av-a', since: T0, avoid: ['av-b'] });
        const b = waiter(e!, { userId: 'av-b', since: T0 + 1 });
        assert.equal(await q.pairOrEnqueue(a, T0), null);
        assert.equal(await q.pairOrEnqueue(b, T0 + 1), null, 'b is avoided by a');
        const x = waiter(e!, { userId: 'av-x', since: T0 + 2, avoid: ['av-a', 'av-b'] });
        assert.equal(await q.pairOrEnqueue(x, T0 + 2), null, 'x avoids both');
        const m = await q.pairOrEnqueue(waiter(e!, { since: T0 + 3 }), T0 + 3);
        assert.equal(m?.partner.userId, 'av-a');
        // Shared interests do not override an avoid list.
        const i1 = waiter(e!, { userId: 'av-i1', since: T0 + 4, interests: ['t'], anyoneAfter: FAR });
        const i2 = waiter(e!, { userId: 'av-i2', since: T0 + 5, interests: ['t'], anyoneAfter: FAR, avoid: ['av-i1'] });
        assert.equal(await q.pairOrEnqueue(i1, T0 + 4), null);
        assert.equal(await q.pairOrEnqueue(i2, T0 + 5), null);
      });

      test('remove(): true once for a waiting user, false otherwise', async (t) => {
        const { engines: [e] } = await cluster(t, 1);
        const q = e!.queue;
        const a = waiter(e!, { since: T0, interests: ['x'], anyoneAfter: T0 + 10 });
        assert.equal(await q.remove(a.userId), false, 'never queued');
        assert.equal(await q.pairOrEnqueue(a, T0), null);
        assert.equal(await q.remove(a.userId), true);
        assert.equal(await q.remove(a.userId), false, 'already removed');
        assert.equal(await q.pairOrEnqueue(waiter(e!, { since: T0 + 20, interests: ['x'] }), T0 + 20), null, 'gone from every queue');
        const b = waiter(e!, { since: T0 + 30 });
        // The queue holds the x-fan from the line above; b (no interests) takes it.
        assert.ok(await q.pairOrEnqueue(b, T0 + 30));
        const c = waiter(e!, { since: T0 + 40 });
        assert.equal(await q.pairOrEnqueue(c, T0 + 40), null);
        await q.pairOrEnqueue(waiter(e!, { since: T0 + 50 }), T0 + 50);
        assert.equal(await q.remove(c.userId), false, 'taken by a pairing');
      });
    });

    describe('moderation', () => {
      const policy: ModerationPolicy = {
        threshold: 3, windowMs: 60_000, banMs: 1000, maxBanMs: 3000, offenceMemoryMs: 600_000, reportTtlMs: 600_000,
        maxCases: 100, spamPartners: 5, spamWindowMs: 600_000, skipMs: 60_000, maxSkips: 3,
      };
      const report = (target: string, reporter: string, reporterAddress: string, extra: Partial<Report> = {}): Report => ({
        target, targetAddress: `addr-${target}`, reporter, reporterAddress, reason: 'harassment', evidence: [{ from: 'target', text: 'you are 💩', at: T0 }], ...extra,
      });
      let n = 0;
      const fresh = (): string => `m${++n}-${Math.random().toString(36).slice(2, 8)}`;

      test('three reporters with distinct persons and addresses ban the person and its address', async (t) => {
        const { engines: [e] } = await cluster(t, 1);
        const m = e!.moderation;
        const bad = fresh();
        assert.equal(await m.report(report(bad, 'r1', 'a1'), policy, T0), 0);
        assert.equal(await m.report(report(bad, 'r1', 'a9'), policy, T0 + 1), 0, 'same person again');
        assert.equal(await m.report(report(bad, 'r9', 'a1'), policy, T0 + 2), 0, 'same address again');
        assert.equal(await m.report(report(bad, bad, 'a5'), policy, T0 + 3), 0, 'self');
        assert.equal(await m.report(report(bad, 'r2', 'a2'), policy, T0 + 4), 0);
        assert.equal((await m.checkSearch(bad, `addr-${bad}`, T0 + 5)).bannedUntil, 0);
        assert.equal(await m.report(report(bad, 'r3', 'a3'), policy, T0 + 6), T0 + 6 + 1000);
        assert.equal((await m.checkSearch(bad, 'elsewhere', T0 + 7)).bannedUntil, T0 + 1006, 'the person');
        assert.equal((await m.checkSearch('someone-else', `addr-${bad}`, T0 + 7)).bannedUntil, T0 + 1006, 'the address');
        assert.equal((await m.checkSearch(bad, `addr-${bad}`, T0 + 1006)).bannedUntil, 0, 'ended');
        assert.equal(await m.bansInForce(T0 + 7), 1);
      });

      test('a repeat offender is banned twice as long, capped', async (t) => {
        const { engines: [e] } = await cluster(t, 1);
        const m = e!.moderation;
        const bad = fresh();
        const banOnce = async (at: number, tag: string): Promise<number> => {
          await m.report(report(bad, `${tag}1`, `${tag}a1`), policy, at);
          await m.report(report(bad, `${tag}2`, `${tag}a2`), policy, at);
          return (await m.report(report(bad, `${tag}3`, `${tag}a3`), policy, at)) - at;
        };
        assert.equal(await banOnce(T0, 'x'), 1000);
        assert.equal(await banOnce(T0 + 10_000, 'y'), 2000);
        assert.equal(await banOnce(T0 + 20_000, 'z'), 3000, 'capped at maxBanMs');
      });

      test('reports outside the window do not count', async (t) => {
        const { engines: [e] } = await cluster(t, 1);
        const m = e!.moderation;
        const bad = fresh();
        await m.report(report(bad, 'r1', 'a1'), policy, T0);
        await m.report(report(bad, 'r2', 'a2'), policy, T0);
        assert.equal(await m.report(report(bad, 'r3', 'a3'), policy, T0 + 60_000), 0);
      });

      test('the review queue: newest first, with evidence and reporters; dismiss; ban and unban', async (t) => {
        const { engines: [e] } = await cluster(t, 1);
        const m = e!.moderation;
        const a = fresh();
        const b = fresh();
        await m.report(report(a, 'r1', 'a1', { reason: 'spam' }), policy, T0);
        await m.report(report(b, 'r1', 'a1', { reason: 'minor', evidence: [{ from: 'reporter', text: 'hi', at: T0 + 1 }, { from: 'target', text: 'asl?', at: T0 + 2 }] }), policy, T0 + 5);
        await m.report(report(b, 'r2', 'a2', { reason: 'sexual' }), policy, T0 + 6);
        const cases = await m.cases(10, T0 + 10);
        const mine = cases.filter((c) => c.target.person === a || c.target.person === b);
        assert.deepEqual(mine.map((c) => [c.target.person, c.reason, c.reporters, c.automatic, c.target.banned]), [
          [b, 'sexual', 2, false, false],
          [a, 'spam', 1, false, false],
        ]);
        assert.deepEqual(mine[1]!.evidence, [{ from: 'target', text: 'you are 💩', at: T0 }]);
        // Evidence accumulates over reports (without repeating a line).
        assert.deepEqual(mine[0]!.evidence, [
          { from: 'reporter', text: 'hi', at: T0 + 1 },
          { from: 'target', text: 'asl?', at: T0 + 2 },
          { from: 'target', text: 'you are 💩', at: T0 },
        ]);
        assert.equal(await m.ban(b, 60_000, T0 + 20), T0 + 60_020);
        assert.equal((await m.checkSearch(b, `addr-${b}`, T0 + 30)).bannedUntil, T0 + 60_020);
        assert.equal((await m.checkSearch('other', `addr-${b}`, T0 + 30)).bannedUntil, T0 + 60_020, 'the address of its case too');
        assert.equal((await m.cases(10, T0 + 30)).find((c) => c.target.person === b)?.target.banned, true);
        assert.equal(await m.unban(b, T0 + 40), true);
        assert.equal(await m.unban(b, T0 + 41), false);
        assert.equal((await m.checkSearch(b, `addr-${b}`, T0 + 50)).bannedUntil, 0);
        assert.equal((await m.checkSearch('other', `addr-${b}`, T0 + 50)).bannedUntil, 0, 'the address ban went with it');
        assert.equal(await m.dismiss(mine[0]!.id, T0 + 60), true);
        assert.equal(await m.dismiss(mine[0]!.id, T0 + 60), false);
        assert.ok(!(await m.cases(10, T0 + 70)).some((c) => c.target.person === b));
      });

      test('cases expire after the report TTL', async (t) => {
        const { engines: [e] } = await cluster(t, 1);
        const m = e!.moderation;
        const a = fresh();
        await m.report(report(a, 'r1', 'a1'), policy, T0);
        assert.ok((await m.cases(100, T0 + 1)).some((c) => c.target.person === a));
        // The memory store sweeps on writes; a write after the TTL triggers it.
        await m.report(report(fresh(), 'r1', 'a1'), policy, T0 + policy.reportTtlMs + 20_000);
        assert.ok(!(await m.cases(100, T0 + policy.reportTtlMs + 20_000)).some((c) => c.target.person === a));
      });

      test('skips keep two persons apart both ways for skipMs', async (t) => {
        const { engines: [e] } = await cluster(t, 1);
        const m = e!.moderation;
        const a = fresh();
        const b = fresh();
        await m.skip(a, b, policy, T0);
        assert.deepEqual((await m.checkSearch(a, 'x', T0 + 1)).avoid, [b]);
        assert.deepEqual((await m.checkSearch(b, 'x', T0 + 1)).avoid, [a]);
        assert.deepEqual((await m.checkSearch(a, 'x', T0 + policy.skipMs + 1)).avoid, []);
        // At most maxSkips are kept: the latest.
        for (let i = 0; i < 5; i++) await m.skip(a, `s${i}`, policy, T0 + 10 + i);
        assert.deepEqual(new Set((await m.checkSearch(a, 'x', T0 + 20)).avoid), new Set(['s2', 's3', 's4']));
      });

      test('spam waves: the same text to a sixth partner is refused, once a case is opened', async (t) => {
        const { engines: [e] } = await cluster(t, 1);
        const m = e!.moderation;
        const spammer = fresh();
        const ev = [{ from: 'target' as const, text: 'visit spam.example', at: T0 }];
        for (let i = 1; i <= 5; i++) assert.equal(await m.spamCopy(spammer, 'sa', 'k1', `p${i}`, ev, policy, T0 + i), i, `partner ${i}`);
        assert.equal(await m.spamCopy(spammer, 'sa', 'k1', 'p3', ev, policy, T0 + 7), 5, 'a partner who already got it');
        assert.equal(await m.spamCopy(spammer, 'sa', 'k1', 'p6', ev, policy, T0 + 8), 0);
        assert.equal(await m.spamCopy(spammer, 'sa', 'k1', 'p7', ev, policy, T0 + 9), 0);
        assert.equal(await m.spamCopy(spammer, 'sa', 'k2', 'p7', ev, policy, T0 + 9), 1, 'another text');
        assert.equal(await m.spamCopy(spammer, 'sa', 'k3', 'p2', ev, policy, T0 + 9, 'p1'), 2, 'an earlier partner is recorded first');
        assert.equal(await m.spamCopy(spammer, 'sa', 'k3', 'p3', ev, policy, T0 + 9, 'p1'), 3, 'once');
        const cases = (await m.cases(100, T0 + 10)).filter((c) => c.target.person === spammer);
        assert.equal(cases.length, 1);
        assert.deepEqual([cases[0]!.reason, cases[0]!.automatic, cases[0]!.reporters, cases[0]!.evidence], ['spam', true, 0, ev]);
        assert.equal(await m.spamCopy(spammer, 'sa', 'k1', 'p8', ev, policy, T0 + policy.spamWindowMs + 10), 1, 'the window passed');
      });

      if (target.maxNodes >= 2) {
        test('a ban made through one node holds on another', async (t) => {
          const { engines: [e1, e2] } = await cluster(t, 2);
          const bad = fresh();
          for (let i = 1; i <= 3; i++) await e1!.moderation.report(report(bad, `r${i}`, `a${i}`), policy, T0);
          assert.equal((await e2!.moderation.checkSearch(bad, `addr-${bad}`, T0 + 1)).bannedUntil, T0 + 1000);
        });
      }
    });

    describe('relay (one node)', () => {
      test('sending to the own node delivers asynchronously, in order, every kind intact', async (t) => {
        const { engines: [e], recorders: [r] } = await cluster(t, 1);
        const events: RelayEvent[] = [
          { kind: 'matched', to: 'u1', partner: 'u2', partnerNode: 'n2', common: ['a', 'é'], partnerPerson: 'p2', partnerAddress: 'x2' },
          { kind: 'msg', to: 'u1', from: 'u2', text: 'hello, 世界 👋 "quoted" \\ \n', n: 0 },
          { kind: 'typing', to: 'u1', from: 'u2', on: true },
          { kind: 'typing', to: 'u1', from: 'u2', on: false },
          { kind: 'ended', to: 'u1', from: 'u2', reason: 'skipped' },
        ];
        for (const ev of events) e!.relay.send(e!.nodeId, ev);
        assert.equal(r!.events.length, 0, 'not synchronous');
        await r!.until(() => r!.events.length === events.length, 2000, 'own-node delivery');
        assert.deepEqual(r!.events, events);
      });
    });

    describe('presence (one node)', () => {
      test('counts include the own latest report at once', async (t) => {
        const { engines: [e] } = await cluster(t, 1);
        const plain = (c: NodeCounts) => ({ online: c.online, searching: c.searching, chatting: c.chatting });
        e!.presence.report({ online: 5, searching: 2, chatting: 2 });
        assert.deepEqual(plain(e!.presence.counts()), { online: 5, searching: 2, chatting: 2 });
        e!.presence.report({ online: 4, searching: 1, chatting: 2, langs: { en: 1 } });
        assert.deepEqual(plain(e!.presence.counts()), { online: 4, searching: 1, chatting: 2 });
        assert.deepEqual(e!.presence.counts().langs, { en: 1 });
        assert.equal(e!.ready(), true);
      });
    });

    describe('languages and questions', () => {
      const ids = (m: Match | null) => (m?.question === undefined ? null : [m.question.asker.userId, m.question.discussers[0].userId, m.question.discussers[1].userId]);

      test('users are paired only within their language class', async (t) => {
        const { engines: [e] } = await cluster(t, 1);
        const en = waiter(e!, { since: T0, lang: 'en' });
        const none = waiter(e!, { since: T0 + 1 });
        assert.equal(await e!.queue.pairOrEnqueue(en, T0), null);
        assert.equal(await e!.queue.pairOrEnqueue(none, T0 + 1), null, 'no language does not meet en');
        assert.equal(await e!.queue.pairOrEnqueue(waiter(e!, { since: T0 + 2, lang: 'de' }), T0 + 2), null, 'de does not meet en nor none');
        const m = await e!.queue.pairOrEnqueue(waiter(e!, { since: T0 + 3, lang: 'en' }), T0 + 3);
        assert.equal(m?.partner.userId, en.userId);
        assert.deepEqual(m?.partner, en, 'the language is kept');
        const m2 = await e!.queue.pairOrEnqueue(waiter(e!, { since: T0 + 4 }), T0 + 4);
        assert.equal(m2?.partner.userId, none.userId);
      });

      test('interests work within a language', async (t) => {
        const { engines: [e] } = await cluster(t, 1);
        const a = waiter(e!, { since: T0, lang: 'pt', interests: ['chess'], anyoneAfter: FAR });
        const b = waiter(e!, { since: T0 + 1, lang: 'es', interests: ['chess'], anyoneAfter: FAR });
        for (const w of [a, b]) assert.equal(await e!.queue.pairOrEnqueue(w, w.since), null);
        const m = await e!.queue.pairOrEnqueue(waiter(e!, { since: T0 + 2, lang: 'es', interests: ['go', 'chess'], anyoneAfter: FAR }), T0 + 2);
        assert.equal(m?.partner.userId, b.userId);
        assert.deepEqual(m?.common, ['chess']);
      });

      test('an asker waits for two willing users; plain users are never picked', async (t) => {
        const { engines: [e] } = await cluster(t, 1);
        const plain = waiter(e!, { since: T0 });
        assert.equal(await e!.queue.pairOrEnqueue(plain, T0), null);
        const asker = waiter(e!, { since: T0 + 1, question: 'Is a hot dog a sandwich?' });
        assert.equal(await e!.queue.pairOrEnqueue(asker, T0 + 1), null, 'a plain waiter is no discusser');
        const w1 = waiter(e!, { since: T0 + 2, questions: true });
        // The first willing user cannot serve the question alone: it pairs as usual (with the plain waiter).
        const m1 = await e!.queue.pairOrEnqueue(w1, T0 + 2);
        assert.equal(m1?.partner.userId, plain.userId);
        assert.equal(m1?.question, undefined);
        const w2 = waiter(e!, { since: T0 + 3, questions: true });
        const w3 = waiter(e!, { since: T0 + 4, questions: true });
        assert.equal(await e!.queue.pairOrEnqueue(w2, T0 + 3), null);
        const m = await e!.queue.pairOrEnqueue(w3, T0 + 4);
        assert.deepEqual(ids(m), [asker.userId, w2.userId, w3.userId], 'the longer-waiting willing user is discusser 1');
        assert.equal(m?.question?.asker.question, 'Is a hot dog a sandwich?');
        assert.equal(m?.partner.userId, w2.userId, 'partner: the other discusser');
        assert.equal(await e!.queue.remove(asker.userId), false, 'the asker left the queue');
        assert.equal(await e!.queue.remove(w2.userId), false);
      });

      test('a waiting question goes first; an asker takes two waiting willing users', async (t) => {
        const { engines: [e] } = await cluster(t, 1);
        // Two willing users that avoid nobody, queued while no question waits: a pair would form,
        // so the second is a different-language user... instead queue them with an avoid between them.
        const w1 = waiter(e!, { userId: 'qf-w1', since: T0, questions: true, avoid: ['qf-w2'] });
        const w2 = waiter(e!, { userId: 'qf-w2', since: T0 + 1, questions: true });
        for (const w of [w1, w2]) assert.equal(await e!.queue.pairOrEnqueue(w, w.since), null);
        // They avoid each other: no asker can have both.
        const asker = waiter(e!, { since: T0 + 2, question: 'q1' });
        assert.equal(await e!.queue.pairOrEnqueue(asker, T0 + 2), null);
        // A third willing user: the question goes first (with w1, the longest-waiting), not a pair with w1.
        const w3 = waiter(e!, { userId: 'qf-w3', since: T0 + 3, questions: true });
        const m = await e!.queue.pairOrEnqueue(w3, T0 + 3);
        assert.deepEqual(ids(m), [asker.userId, 'qf-w1', 'qf-w3']);
        // An asker arriving finds w2 and a new willing user already waiting.
        const w4 = waiter(e!, { since: T0 + 4, questions: true, lang: 'fr' });
        assert.equal(await e!.queue.pairOrEnqueue(w4, T0 + 4), null);
        const w5 = waiter(e!, { since: T0 + 5, questions: true });
        // w5 meets w2 (no question waits): an ordinary pair between willing users.
        const p = await e!.queue.pairOrEnqueue(w5, T0 + 5);
        assert.equal(p?.partner.userId, 'qf-w2');
        assert.equal(p?.question, undefined);
      });

      test('the longest-waiting question first; languages and avoid lists hold for questions', async (t) => {
        const { engines: [e] } = await cluster(t, 1);
        const q1 = waiter(e!, { since: T0, question: 'de question', lang: 'de' });
        const q2 = waiter(e!, { since: T0 + 1, question: 'first en', lang: 'en', avoid: ['qa-bad'] });
        const q3 = waiter(e!, { since: T0 + 2, question: 'second en', lang: 'en' });
        for (const w of [q1, q2, q3]) assert.equal(await e!.queue.pairOrEnqueue(w, w.since), null);
        const bad = waiter(e!, { userId: 'qa-bad', person: 'qa-bad', since: T0 + 3, questions: true, lang: 'en' });
        const ok1 = waiter(e!, { since: T0 + 4, questions: true, lang: 'en' });
        assert.equal(await e!.queue.pairOrEnqueue(bad, T0 + 3), null);
        // ok1 with bad: q2 avoids bad, so q3 gets them.
        assert.deepEqual(ids(await e!.queue.pairOrEnqueue(ok1, T0 + 4)), [q3.userId, bad.userId, ok1.userId]);
        const ok2 = waiter(e!, { since: T0 + 5, questions: true, lang: 'en' });
        const ok3 = waiter(e!, { since: T0 + 6, questions: true, lang: 'en' });
        assert.equal(await e!.queue.pairOrEnqueue(ok2, T0 + 5), null);
        assert.deepEqual(ids(await e!.queue.pairOrEnqueue(ok3, T0 + 6)), [q2.userId, ok2.userId, ok3.userId]);
        // The German question is still waiting; English willing users never served it.
        assert.equal(await e!.queue.remove(q1.userId), true);
      });

      test('an asker and its discussers on three nodes', { skip: target.maxNodes < 3 ? 'single node' : false }, async (t) => {
        const { engines: [e1, e2, e3] } = await cluster(t, 3);
        const asker = waiter(e1!, { since: T0, question: 'three nodes?', lang: 'en' });
        assert.equal(await e1!.queue.pairOrEnqueue(asker, T0), null);
        const w1 = waiter(e2!, { since: T0 + 1, questions: true, lang: 'en', interests: ['x'], anyoneAfter: FAR });
        assert.equal(await e2!.queue.pairOrEnqueue(w1, T0 + 1), null);
        const w2 = waiter(e3!, { since: T0 + 2, questions: true, lang: 'en' });
        const m = await e3!.queue.pairOrEnqueue(w2, T0 + 2);
        assert.ok(m?.question);
        assert.deepEqual(m.question.asker, asker);
        assert.deepEqual(m.question.discussers[0], w1);
        assert.deepEqual(m.question.discussers[1], w2);
        assert.deepEqual(m.common, []);
      });
    });

    describe('concurrency (one node)', () => {
      test('storm: many concurrent pairOrEnqueue calls never double-match', async (t) => {
        const { engines } = await cluster(t, 1);
        await storm(engines, 300);
      });
    });

    gateStoreContract(cluster, target.maxNodes);

    const multi = target.maxNodes >= 2 ? {} : { skip: `${name} runs a single node` };
    describe('several nodes sharing one store', multi, () => {
      test('users on different nodes are paired, with and without shared interests', async (t) => {
        const { engines: [e1, e2] } = await cluster(t, 2);
        const a = waiter(e1!, { since: T0 });
        assert.equal(await e1!.queue.pairOrEnqueue(a, T0), null);
        const m = await e2!.queue.pairOrEnqueue(waiter(e2!, { since: T0 + 1 }), T0 + 1);
        assert.equal(m?.partner.userId, a.userId);
        assert.equal(m?.partner.nodeId, e1!.nodeId);
        const b = waiter(e2!, { since: T0 + 2, interests: ['sailing'], anyoneAfter: FAR });
        assert.equal(await e2!.queue.pairOrEnqueue(b, T0 + 2), null);
        const m2 = await e1!.queue.pairOrEnqueue(waiter(e1!, { since: T0 + 3, interests: ['sailing'], anyoneAfter: FAR }), T0 + 3);
        assert.equal(m2?.partner.userId, b.userId);
        assert.deepEqual(m2?.common, ['sailing']);
      });

      test('relay keeps the order of events from one node to another', async (t) => {
        const { engines: [e1, e2, e3], recorders: [, r2] } = await cluster(t, Math.min(3, target.maxNodes));
        const senders = [e1!, e3 ?? e1!].filter((e, i, all) => all.indexOf(e) === i);
        const N = 500;
        for (let i = 0; i < N; i++) {
          for (const s of senders) s.relay.send(e2!.nodeId, { kind: 'msg', to: 'u', from: s.nodeId, text: String(i), n: 0 });
        }
        await r2!.until(() => r2!.events.length === N * senders.length, 5000, 'all relayed events');
        for (const s of senders) {
          const texts = r2!.events.filter((ev) => ev.kind === 'msg' && ev.from === s.nodeId).map((ev) => (ev as { text: string }).text);
          assert.deepEqual(texts, Array.from({ length: N }, (_, i) => String(i)), `order from ${s.nodeId}`);
        }
      });

      test('presence counts are summed over live nodes', async (t) => {
        const { engines: [e1, e2] } = await cluster(t, 2);
        e1!.presence.report({ online: 1, searching: 2, chatting: 3, langs: { en: 1, de: 1 } });
        e2!.presence.report({ online: 10, searching: 20, chatting: 30, langs: { en: 4, other: 2 } });
        const want: NodeCounts = { online: 11, searching: 22, chatting: 33 };
        const langs = (c: NodeCounts) => JSON.stringify(Object.entries(c.langs ?? {}).sort());
        const wantLangs = JSON.stringify([['de', 1], ['en', 5], ['other', 2]]);
        const same = (c: NodeCounts) => c.online === want.online && c.searching === want.searching && c.chatting === want.chatting && langs(c) === wantLangs;
        await eventually(() => same(e1!.presence.counts()) && same(e2!.presence.counts()), target.presenceWithinMs, 'cluster counts');
      });

      test('a node that leaves is reported down and its waiters leave the queue', async (t) => {
        const { engines: [e1, e2], recorders: [r1] } = await cluster(t, 2);
        const w = waiter(e2!, { since: T0 });
        assert.equal(await e2!.queue.pairOrEnqueue(w, T0), null);
        await e2!.close();
        await r1!.until(() => r1!.downs.includes(e2!.nodeId), target.nodeDownWithinMs, 'onNodeDown after close');
        assert.equal(await e1!.queue.pairOrEnqueue(waiter(e1!, { since: T0 + 1 }), T0 + 1), null, 'the leaver\'s waiter is gone');
      });

      test('storm across nodes: every waiter matched at most once', async (t) => {
        const { engines } = await cluster(t, Math.min(3, target.maxNodes));
        await storm(engines, 300);
      });
    });

    const crash = target.crash;
    const crashable = target.maxNodes >= 2 && crash !== undefined ? {} : { skip: `${name} cannot simulate a crash` };
    describe('node death', crashable, () => {
      test('a killed node is reported down in time; its waiters are skipped and dropped', async (t) => {
        const { engines: [e1, e2, e3], recorders: [r1, , r3] } = await cluster(t, Math.min(3, target.maxNodes));
        const w = waiter(e2!, { since: T0 });
        assert.equal(await e2!.queue.pairOrEnqueue(w, T0), null);
        const killedAt = Date.now();
        crash!(e2!);
        const watchers = [r1!, ...(e3 ? [r3!] : [])];
        await Promise.all(watchers.map((r) => r.until(() => r.downs.includes(e2!.nodeId), target.nodeDownWithinMs, 'onNodeDown after a crash')));
        const took = Date.now() - killedAt;
        assert.ok(took <= target.nodeDownWithinMs, `detected in ${took} ms`);
        assert.equal(watchers[0]!.downs.filter((d) => d === e2!.nodeId).length, 1, 'reported once');
        assert.equal(await e1!.queue.pairOrEnqueue(waiter(e1!, { since: T0 + 1 }), T0 + 1), null, 'the dead node\'s waiter is not matched');
      });
    });
  });
}

/**
 * Fires `users` pairOrEnqueue calls at once, spread over the engines, in two waves (all without
 * interests, then with random interests and avoid lists), and checks the invariants: nobody
 * paired with themselves, nobody in two pairs, a user is taken only if it was waiting, and
 * what stays queued is pairwise incompatible (else an atomic queue would have paired them).
 */
async function storm(engines: Engine[], users: number): Promise<void> {
  const rnd = mulberry32(0x5eed + users);
  for (const wave of ['plain', 'mixed'] as const) {
    const now = Date.now();
    const tags = ['a', 'b', 'c', 'd', 'e', 'f'];
    const ws: Waiter[] = [];
    for (let i = 0; i < users; i++) {
      const e = engines[i % engines.length]!;
      const interests = wave === 'plain' ? [] : tags.filter(() => rnd() < 0.25);
      const avoid = wave === 'plain' || ws.length === 0 ? [] : [ws[Math.floor(rnd() * ws.length)]!.userId];
      ws.push(waiter(e, { userId: `${wave}-${i}-${now}`, since: now + i, interests, anyoneAfter: interests.length > 0 ? now + 3_600_000 : now + i, avoid }));
    }
    const results = await Promise.all(ws.map((w, i) => engines[i % engines.length]!.queue.pairOrEnqueue(w, now + users)));
    const inPair = new Map<string, string>();
    results.forEach((m: Match | null, i) => {
      if (m === null) return;
      const me = ws[i]!.userId;
      const other = m.partner.userId;
      assert.notEqual(me, other, 'paired with oneself');
      assert.ok(!inPair.has(me), `${me} is in two pairs`);
      assert.ok(!inPair.has(other), `${other} is in two pairs`);
      inPair.set(me, other);
      inPair.set(other, me);
      const p = ws.find((w) => w.userId === other);
      assert.ok(p, 'partner is one of ours');
      assert.deepEqual(m.partner, p, 'partner returned as enqueued');
      assert.ok(!ws[i]!.avoid.includes(other) && !p.avoid.includes(me), 'avoid respected');
      const anyone = ws[i]!.anyoneAfter <= now + users && p.anyoneAfter <= now + users;
      assert.ok(anyone || m.common.length > 0, 'a user not yet accepting anyone is paired by a shared interest');
    });
    // Every user not in a pair is still waiting, exactly once; every paired user is not.
    const removed = await Promise.all(ws.map((w, i) => engines[i % engines.length]!.queue.remove(w.userId)));
    const left: Waiter[] = [];
    ws.forEach((w, i) => {
      assert.equal(removed[i], !inPair.has(w.userId), `${w.userId}: waiting iff not paired`);
      if (removed[i]) left.push(w);
    });
    if (wave === 'plain') assert.equal(left.length, users % 2, 'all compatible: at most one left waiting');
    for (let i = 0; i < left.length; i++) {
      for (let j = i + 1; j < left.length; j++) {
        const a = left[i]!;
        const b = left[j]!;
        const anyone = a.anyoneAfter <= now + users && b.anyoneAfter <= now + users;
        const compatible = !a.avoid.includes(b.userId) && !b.avoid.includes(a.userId) && (anyone || a.interests.some((x) => b.interests.includes(x)));
        assert.ok(!compatible, `${a.userId} and ${b.userId} were both left waiting though compatible`);
      }
    }
  }
}

