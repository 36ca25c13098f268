/**
 * Randomized: a few hundred clients doing random finds, messages, typing, nexts, leaves and
 * disconnects for a bounded time, against the real server on real sockets. Checked at every
 * step (each received message, and the server's pairs every 50 ms) and at the end:
 * pairs are symmetric, nobody is in two pairs, every message reaches exactly the partner it
 * was sent to, in order and without gaps, and every ended conversation is ended on both sides.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import type { StrangersServer } from '../../src/http/server.js';
import { SessionState } from '../../src/chat/index.js';
import { mulberry32 } from '../support/rng.js';
import { Client, startServer, type Msg, stopServersAfterEachTest } from './helpers.js';

stopServersAfterEachTest();

const CLIENTS = 200;
const DURATION_MS = 3000;

type View = 'idle' | 'searching' | 'chatting';

/** One simulated user: its view of its state, and what it sent and received per conversation. */
class Sim {
  /** What the client believes (updated when it acts), used to choose actions. */
  view: View = 'idle';
  /** State as told by the server's messages alone: matched / ended / searching. */
  stream: View | 'none' = 'none';
  seg = -1; // current conversation (segment) index
  sentInSeg: number[] = [];
  /** seg -> how it ended: 'own' (next/leave), 'ended:<reason>' */
  endOf: string[] = [];
  /** seg -> not_matched errors received after it ended (before the next match) */
  notMatchedAfter: number[] = [];
  /** seg -> key of the sender seen in it, and next expected seq */
  from: (string | undefined)[] = [];
  nextSeq: number[] = [];
  /** find/next requests sent (each is answered by exactly one `searching`), `searching` received. */
  requests = 0;
  searchingReceived = 0;
  /** `requests` when the last leave was sent. */
  lastLeaveAt = -1;
  closed = false;
  violations: string[] = [];
  id = '';
  constructor(readonly c: Client) {}

  key(seg = this.seg): string {
    return `${this.id}|${seg}`;
  }

  /** The server state this client must have at rest, from what it sent and received. */
  expected(): View {
    const leftAfter = this.lastLeaveAt >= this.searchingReceived;
    if (this.stream === 'chatting') return leftAfter ? 'idle' : 'chatting';
    if (this.stream === 'searching') return leftAfter ? 'idle' : 'searching';
    return 'idle';
  }

  onMessage(m: Msg): void {
    switch (m.type) {
      case 'matched':
        if (this.stream !== 'searching') this.violations.push(`${this.id}: matched while ${this.stream}`);
        this.stream = 'chatting';
        this.view = 'chatting';
        this.seg++;
        this.sentInSeg[this.seg] = 0;
        this.nextSeq[this.seg] = 0;
        this.notMatchedAfter[this.seg] = 0;
        return;
      case 'ended':
        if (this.stream !== 'chatting') this.violations.push(`${this.id}: ended while ${this.stream}`);
        if (m.reason === 'disconnected') this.endOf[this.seg] = 'ended:disconnected';
        else this.endOf[this.seg] ??= `ended:${m.reason}`;
        this.stream = 'idle';
        if (this.view === 'chatting') this.view = 'idle';
        return;
      case 'searching':
        this.searchingReceived++;
        if (this.searchingReceived > this.requests) this.violations.push(`${this.id}: unrequested searching`);
        this.stream = 'searching';
        return;
      case 'msg': {
        if (this.stream !== 'chatting') return void this.violations.push(`${this.id}: msg while ${this.stream}`);
        const [id, seg, seq] = (m.text as string).split('|');
        const k = `${id}|${seg}`;
        if (this.from[this.seg] === undefined) this.from[this.seg] = k;
        else if (this.from[this.seg] !== k) this.violations.push(`${this.id}: seg ${this.seg} got msgs from ${this.from[this.seg]} and ${k}`);
        if (Number(seq) !== this.nextSeq[this.seg]) this.violations.push(`${this.id}: seq ${seq}, expected ${this.nextSeq[this.seg]}`);
        this.nextSeq[this.seg] = Number(seq) + 1;
        return;
      }
      case 'typing':
        if (this.stream !== 'chatting') this.violations.push(`${this.id}: typing while ${this.stream}`);
        return;
      case 'error':
        if (m.code === 'not_matched' && this.seg >= 0) this.notMatchedAfter[this.seg]!++;
        else if (m.code !== 'bad_message') this.violations.push(`${this.id}: error ${m.code}`); // bad_message = our fence
        return;
    }
  }

  act(rng: () => number): void {
    const r = rng();
    if (this.view === 'chatting') {
      if (r < 0.7) {
        this.c.send({ type: 'msg', text: `${this.key()}|${this.sentInSeg[this.seg]!++}` });
      } else if (r < 0.78) {
        this.c.send({ type: 'typing', on: r < 0.74 });
      } else if (r < 0.9) {
        this.endOf[this.seg] ??= 'own';
        this.c.send({ type: 'next' });
        this.requests++;
        this.view = 'searching';
      } else {
        this.endOf[this.seg] ??= 'own';
        this.c.send({ type: 'leave' });
        this.lastLeaveAt = this.requests;
        this.view = 'idle';
      }
    } else if (this.view === 'idle') {
      this.c.send({ type: 'find', interests: r < 0.3 ? [['a', 'b', 'c'][Math.floor(r * 10)]!] : [] });
      this.requests++;
      this.view = 'searching';
    } else if (r < 0.05) {
      this.c.send({ type: 'leave' });
      this.lastLeaveAt = this.requests;
      this.view = 'idle';
    }
  }
}


function checkServer(server: StrangersServer): string[] {
  const bad: string[] = [];
  let searching = 0;
  let chatting = 0;
  for (const s of server.chat.sessions()) {
    if (s.state === SessionState.searching) searching++;
    if (s.state !== SessionState.chatting) continue;
    chatting++;
    const p = s.partner;
    if (p === undefined) bad.push(`${s.id}: chatting with no local partner`);
    else if (p === s) bad.push(`${s.id}: paired with itself`);
    else if (p.partner !== s || p.state !== SessionState.chatting || p.closed) bad.push(`${s.id}: pair not symmetric`);
  }
  const c = server.chat.counts();
  if (c.searching !== searching || c.chatting !== chatting) bad.push(`counts ${JSON.stringify(c)} vs ${searching}/${chatting}`);
  return bad;
}

test(`randomized: ${CLIENTS} clients for ${DURATION_MS} ms keep every invariant`, { timeout: 60_000 }, async () => {
  const seed = Number(process.env.STRANGERS_TEST_SEED ?? Date.now() % 1_000_000);
  const rng = mulberry32(seed);
  const server = await startServer({ chat: { rateLimit: 0, interestWaitMs: 100, noRepeat: 3 }, heartbeatMs: 0 });
  const sims: Sim[] = [];
  // Who the server paired each conversation with, recorded as it sends `matched`: a partner
  // that vanished before receiving anything is still known (id|seg -> partner id).
  const serverPartner = new Map<string, string>();
  const open = async (): Promise<Sim> => {
    const c = await Client.open(server.url);
    const sim = new Sim(c);
    const w = await c.expect('welcome');
    sim.id = w.id as string;
    const session = [...server.chat.sessions()].find((x) => x.id === sim.id)!;
    const peer = session.peer as { send(text: string): unknown };
    const send = peer.send.bind(peer);
    let matchedSeg = -1;
    peer.send = (text: string) => {
      if (text.startsWith('{"type":"matched"')) serverPartner.set(`${sim.id}|${++matchedSeg}`, session.partnerId);
      return send(text);
    };
    // From here on, handle messages as they arrive.
    const inbox = c.inbox;
    let read = 1;
    const pump = (): void => {
      while (read < inbox.messages.length) sim.onMessage(inbox.messages[read++]!);
      if (inbox.closed === undefined) void inbox.changed().then(pump);
    };
    pump();
    sims.push(sim);
    return sim;
  };
  await Promise.all(Array.from({ length: CLIENTS }, open));
  const serverViolations: string[] = [];
  const checker = setInterval(() => serverViolations.push(...checkServer(server)), 50);
  const end = Date.now() + DURATION_MS;
  let actions = 0;
  let disconnects = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      if (Date.now() >= end) return resolve();
      for (let i = 0; i < 40; i++) {
        const sim = sims[Math.floor(rng() * sims.length)]!;
        if (sim.closed) continue;
        actions++;
        if (rng() < 0.01) {
          sim.closed = true;
          disconnects++;
          if (rng() < 0.5) sim.c.conn.terminate();
          else sim.c.close();
          void open();
        } else {
          sim.act(rng);
        }
      }
      setTimeout(tick, 5);
    };
    tick();
  });
  // Quiesce: a fence (a bad message answered by bad_message) on every live client, twice; then,
  // since engine calls chain promises (ban check, pairing, removal), wait until none is in flight
  // on the server and fence once more, so that whatever they sent has arrived.
  const fence = async (): Promise<void> => {
    await Promise.all(
      sims
        .filter((s) => !s.closed)
        .map(async (s) => {
          const before = s.c.inbox.messages.filter((m) => m.code === 'bad_message').length;
          s.c.send('fence');
          while (s.c.inbox.messages.filter((m) => m.code === 'bad_message').length === before) await s.c.inbox.changed();
        }),
    );
  };
  await fence();
  await fence();
  const busy = (): boolean => [...server.chat.sessions()].some((x) => x.checking > 0 || x.inflight || x.removing > 0);
  for (const end = Date.now() + 10_000; busy() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
  await fence();
  clearInterval(checker);
  serverViolations.push(...checkServer(server));
  const violations = [...serverViolations, ...sims.flatMap((s) => s.violations)];

  // Pairs from the messages: (receiver seg) -> (sender seg). A function, symmetric, injective.
  const partnerOf = new Map<string, string>();
  const byId = new Map(sims.map((s) => [s.id, s]));
  for (const s of sims) s.from.forEach((k, seg) => k !== undefined && partnerOf.set(s.key(seg), k));
  const seen = new Set<string>();
  for (const [me, other] of partnerOf) {
    const back = partnerOf.get(other);
    if (back !== undefined && back !== me) violations.push(`asymmetric: ${me} -> ${other} -> ${back}`);
    if (seen.has(other)) violations.push(`${other} is in two pairs`);
    seen.add(other);
  }
  // Delivery: messages of a conversation ended by next/leave/skipped/left reached the partner,
  // except those answered not_matched (sent after the end).
  let checkedSegs = 0;
  for (const s of sims) {
    for (let seg = 0; seg <= s.seg; seg++) {
      const how = s.endOf[seg];
      if (how === undefined || how === 'ended:disconnected' || how === 'ended:shutdown') continue;
      if (s.closed && seg === s.seg) continue;
      const mine = s.key(seg);
      // The partner's conversation: the same occurrence of this pair on the partner's side.
      const partnerId = serverPartner.get(mine);
      const p = partnerId === undefined ? undefined : byId.get(partnerId);
      if (p === undefined) {
        violations.push(`${mine}: the server never said whom it was matched with`);
        continue;
      }
      const occurrence = Array.from({ length: seg }, (_, i) => serverPartner.get(s.key(i))).filter((x) => x === p.id).length;
      const pseg = Array.from({ length: p.seg + 1 }, (_, i) => i).filter((i) => serverPartner.get(p.key(i)) === s.id)[occurrence];
      if (pseg === undefined) {
        // The partner's `matched` was never sent or never read: it vanished at that moment.
        if (p.closed) continue;
        violations.push(`${mine}: partner ${p.id} has no matching conversation`);
        continue;
      }
      const received = p.nextSeq[pseg] ?? 0;
      if (p.closed && pseg === p.seg) continue; // the partner vanished during this conversation
      checkedSegs++;
      if (received + s.notMatchedAfter[seg]! !== s.sentInSeg[seg]) {
        violations.push(`${mine}: sent ${s.sentInSeg[seg]}, delivered ${received}, refused ${s.notMatchedAfter[seg]}`);
      }
    }
  }
  // Every conversation ended on one side is ended on the other: at rest, each live client's
  // view equals the server's state.
  const states = new Map([...server.chat.sessions()].map((x) => [x.id, x.state]));
  for (const s of sims) {
    if (s.closed) continue;
    const st = states.get(s.id);
    if (st !== s.expected()) violations.push(`${s.id}: client should be ${s.expected()}, server says ${st}`);
  }
  const matches = sims.reduce((n, s) => n + s.seg + 1, 0);
  const messages = sims.reduce((n, s) => n + s.sentInSeg.reduce((a, b) => a + b, 0), 0);
  console.log(`seed ${seed}: ${actions} actions, ${disconnects} disconnects, ${matches} matches, ${messages} messages, ${checkedSegs} conversations checked for delivery`);
  for (const s of sims) if (!s.closed) s.c.close();
  await server.stop();
  assert.deepEqual(violations.slice(0, 20), [], `seed ${seed}`);
  assert.ok(matches > CLIENTS, `too few matches (${matches}) for a meaningful run`);
  assert.ok(checkedSegs > 50, `too few conversations checked (${checkedSegs})`);
});
