/**
 * Randomized: a few hundred clients doing random finds, messages, typing, nexts, leaves,
 * acknowledgements, disconnects, and connection drops followed by a resume on a new connection,
 * for a bounded time, against the real server on real sockets. Checked at every step (each
 * received message, and the server's pairs every 50 ms) and at the end: pairs are symmetric,
 * nobody is in two pairs, every message a client sent while matched reaches exactly the partner
 * it was sent to, exactly once (replays are recognised by their `seq`), in order and without
 * gaps, unless the conversation ended; and every ended conversation is ended on both sides.
 *
 * Replay a run with `STRANGERS_TEST_SEED=<seed>` (printed at the end; the timing still varies);
 * `TRACE=1` adds what the server sent to each session to the histories printed on a failure.
 */
import { strict as assert } from 'node:assert';
import { after, test } from 'node:test';
import type { StrangersServer } from '../../src/http/server.js';
import { SessionState } from '../../src/chat/index.js';
import { mulberry32 } from '../support/rng.js';
import { Client, startServer, type Msg, stopServersAfterEachTest } from './helpers.js';
import { MemoryEngine, MemoryHub } from '../../src/engine/memory.js';
import { createRedisEngine } from '../../src/engine/redis.js';
import { sharedRedis, skipUnlessCI } from '../contract/redis-server.js';
import { withDb } from './redis-nodes.js';

const redis = await sharedRedis().catch(() => undefined);
const redisReason = redis === undefined ? 'no redis-server' : 'reason' in redis ? redis.reason : undefined;
after(async () => {
  if (redis !== undefined && 'stop' in redis) await redis.stop();
});

stopServersAfterEachTest();

/**
 * The clients' own address, bound before connecting. Left to the kernel, a loopback connect takes
 * a free port of the ephemeral range that no socket was ever bound to: a benchmark on the same
 * machine that binds tens of thousands of client sockets to other loopback addresses (127.0.0.2
 * and up, to pass 64k connections) takes them all, and every connect fails with EADDRNOTAVAIL.
 * A port bound to 127.0.0.1 conflicts only with sockets bound to 127.0.0.1 (or the wildcard).
 */
const LOCAL = '127.0.0.1';

const CLIENTS = 200;
const DURATION_MS = 3000;

type View = 'idle' | 'searching' | 'chatting';

/**
 * A fence on every live client: a bad message, answered by `bad_message` after everything the
 * client sent before it has been handled.
 */
async function fenceAll(sims: readonly { closed: boolean; c: Client }[]): Promise<void> {
  await Promise.all(
    sims
      .filter((s) => !s.closed)
      .map(async (s) => {
        const before = s.c.inbox.messages.filter((m) => m.code === 'bad_message').length;
        s.c.send('fence');
        while (s.c.inbox.messages.filter((m) => m.code === 'bad_message').length === before && s.c.inbox.closed === undefined) await s.c.inbox.changed();
      }),
  );
}

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
  /** Dropped and reconnecting: takes no action until `resumed` (or gives up on `resume_failed`). */
  resuming = false;
  /** The latest resume token (welcome, then resumed). */
  token = '';
  /** seg -> highest `seq` shown (a replayed message has one at or below it). */
  lastSeq: number[] = [];
  resumes = 0;
  /** `matched` that crossed our own `leave` (stale on arrival). */
  crossed = 0;
  /** The server id of the current connection (the first one is `id`, which the texts carry). */
  serverId = '';
  /** `matched` counted across connections, to name each conversation. */
  matchedSeg = -1;
  violations: string[] = [];
  id = '';
  constructor(public c: Client) {}

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

  /** Resumed `idle` from a search: a conversation begun and ended while away may follow. */
  missed = false;

  /** A conversation begins (the server said so): the next segment. */
  begin(): void {
    this.stream = 'chatting';
    this.seg++;
    this.sentInSeg[this.seg] = 0;
    this.nextSeq[this.seg] = 0;
    this.lastSeq[this.seg] = 0;
    this.notMatchedAfter[this.seg] = 0;
  }

  history: string[] = [];
  onMessage(m: Msg): void {
    this.history.push(JSON.stringify(m).slice(0, 90) + ` [stream ${this.stream} seg ${this.seg}]`);
    if (this.missed && m.type !== 'msg' && m.type !== 'ended') this.missed = false;
    else if (this.missed) {
      // The search we left behind (resumed `idle`) was matched, and the conversation ended, while
      // we were away; its `matched` went to the dropped connection, unread. What we missed of it
      // follows, then its `ended` (docs/protocol.md, resume): it is a conversation of ours that
      // we never wrote in.
      this.missed = false;
      this.begin();
      this.history.push(`(seg ${this.seg}: begun and ended while away)`);
    }
    switch (m.type) {
      case 'matched':
        if (this.stream !== 'searching') this.violations.push(`${this.id}: matched while ${this.stream}`);
        this.begin();
        // A `matched` sent before the server read our `leave` (it crossed it) is for the search
        // we left: that `leave` ends the conversation (the partner hears `ended: left`, we hear
        // nothing, docs/protocol.md), and anything we sent after it (a `find`, then lines) belongs
        // to what comes next. It is stale when the `searching` we last received answers a request
        // sent before our last `leave`. Treating it as current (as this model once did) made us
        // write into a conversation the server had already ended, and the lines, read by the
        // server after our next `find`, rightly reached the next partner.
        if (this.lastLeaveAt >= this.searchingReceived) {
          this.endOf[this.seg] = 'own';
          this.crossed++;
          this.history.push(`(seg ${this.seg}: crossed our leave)`);
          return;
        }
        this.view = 'chatting';
        return;
      case 'resumed':
        this.token = m.resume as string;
        this.resuming = false;
        this.resumes++;
        if (m.state === 'searching') {
          this.requests++; // a `searching` follows: the search goes on
          this.stream = 'searching';
        } else if (m.state === 'chatting' && this.stream !== 'chatting') {
          // Matched while the `matched` was on its way to the dropped connection: this is it.
          if (this.stream !== 'searching') this.violations.push(`${this.id}: resumed chatting while ${this.stream}`);
          this.onMessage({ type: 'matched', common: m.common });
        } else if (m.state === 'idle' && this.stream !== 'chatting') {
          // A search ended while we were away (in a conversation that ended too: see `missed`).
          this.missed = this.stream === 'searching';
          this.stream = 'idle';
          this.view = 'idle';
        }
        // (A conversation that ended while we were away: what we missed follows, then `ended`.)
        return;
      case 'away':
      case 'back':
        if (this.stream !== 'chatting') this.violations.push(`${this.id}: ${m.type} while ${this.stream}`);
        return;
      case 'delivered':
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
        const number = m.seq as number;
        if (number <= this.lastSeq[this.seg]!) return; // a replay after a resume: already shown
        if (number !== this.lastSeq[this.seg]! + 1) this.violations.push(`${this.id}: server seq ${number} after ${this.lastSeq[this.seg]}`);
        this.lastSeq[this.seg] = number;
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
        if (m.code === 'resume_failed') {
          this.resuming = false;
          this.closed = true; // gave up: this user is gone (a new one takes its slot)
          return;
        }
        if (m.code === 'not_matched' && this.seg >= 0) this.notMatchedAfter[this.seg]!++;
        else if (m.code !== 'bad_message') this.violations.push(`${this.id}: error ${m.code}`); // bad_message = our fence
        return;
    }
  }

  act(rng: () => number): void {
    const r = rng();
    if (this.view === 'chatting' && this.seg >= 0 && rng() < 0.2 && this.lastSeq[this.seg]! > 0) this.c.send({ type: 'ack', seq: this.lastSeq[this.seg] });
    if (this.view === 'chatting') {
      if (r < 0.7) {
        this.c.send({ type: 'msg', text: `${this.key()}|${this.sentInSeg[this.seg]!++}` });
        this.history.push(`> msg ${this.key()}|${this.sentInSeg[this.seg]! - 1}`);
      } else if (r < 0.78) {
        this.c.send({ type: 'typing', on: r < 0.74 });
      } else if (r < 0.9) {
        this.endOf[this.seg] ??= 'own';
        this.c.send({ type: 'next' });
        this.history.push('> next');
        this.requests++;
        this.view = 'searching';
      } else {
        this.endOf[this.seg] ??= 'own';
        this.c.send({ type: 'leave' });
        this.history.push('> leave');
        this.lastLeaveAt = this.requests;
        this.view = 'idle';
      }
    } else if (this.view === 'idle') {
      this.history.push('> find');
      this.c.send({ type: 'find', interests: r < 0.3 ? [['a', 'b', 'c'][Math.floor(r * 10)]!] : [] });
      this.requests++;
      this.view = 'searching';
    } else if (r < 0.05) {
      this.c.send({ type: 'leave' });
      this.history.push('> leave');
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
  const server = await startServer({ chat: { rateLimit: 0, interestWaitMs: 100, noRepeat: 3, resumeWindowMs: 5000 }, heartbeatMs: 0 });
  const sims: Sim[] = [];
  // Who the server paired each conversation with, recorded as it sends `matched`: a partner
  // that vanished before receiving anything is still known (id|seg -> partner id).
  const serverPartner = new Map<string, string>();
  /** Every server id a simulated user had (one per connection) -> that user. */
  const byServerId = new Map<string, Sim>();
  /** Watches a connection's server session (its `matched`) and feeds its messages to `sim`. */
  const attach = (sim: Sim, c: Client, serverId: string): void => {
    sim.serverId = serverId;
    byServerId.set(serverId, sim);
    const session = [...server.chat.sessions()].find((x) => x.id === serverId)!;
    const peer = session.peer as { send(text: string): unknown };
    const send = peer.send.bind(peer);
    peer.send = (text: string) => {
      if (text.startsWith('{"type":"matched"')) serverPartner.set(`${sim.id}|${++sim.matchedSeg}`, session.partnerId);
      if (process.env.TRACE) sim.history.push(`S>${serverId.slice(0, 8)} ${text.slice(0, 80)} partner ${session.partnerId.slice(0, 8)}`);
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
  };
  const open = async (): Promise<Sim> => {
    const c = await Client.open(server.url, undefined, LOCAL);
    const sim = new Sim(c);
    const w = await c.expect('welcome');
    sim.id = w.id as string;
    sim.token = w.resume as string;
    attach(sim, c, sim.id);
    sims.push(sim);
    return sim;
  };
  /** Waits until the server has handled everything `sim` sent (a bad message answered). */
  const fenceOne = async (sim: Sim): Promise<void> => {
    const before = sim.c.inbox.messages.filter((m) => m.code === 'bad_message').length;
    sim.c.send('fence');
    while (sim.c.inbox.messages.filter((m) => m.code === 'bad_message').length === before && sim.c.inbox.closed === undefined) await sim.c.inbox.changed();
  };
  /** The network drops (nothing the client sent is lost on the way), then it resumes on a new connection. */
  const dropAndResume = async (sim: Sim): Promise<void> => {
    sim.history.push('--- drop');
    sim.resuming = true;
    await fenceOne(sim);
    sim.c.conn.terminate();
    await new Promise((r) => setTimeout(r, rng() * 30));
    const c = await Client.open(server.url, undefined, LOCAL);
    const w = await c.expect('welcome');
    sim.c = c;
    attach(sim, c, w.id as string);
    sim.history.push(`--- resume on ${(w.id as string).slice(0, 8)}`);
    c.send({ type: 'resume', token: sim.token });
  };
  await Promise.all(Array.from({ length: CLIENTS }, open));
  const serverViolations: string[] = [];
  const checker = setInterval(() => serverViolations.push(...checkServer(server)), 50);
  const end = Date.now() + DURATION_MS;
  let actions = 0;
  let disconnects = 0;
  let drops = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      if (Date.now() >= end) return resolve();
      for (let i = 0; i < 40; i++) {
        const sim = sims[Math.floor(rng() * sims.length)]!;
        if (sim.closed || sim.resuming) continue;
        actions++;
        const r = rng();
        if (r < 0.005) {
          drops++;
          void dropAndResume(sim);
        } else if (r < 0.015) {
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
  const fence = (): Promise<void> => fenceAll(sims);
  // Resumes still on their way finish first (each is a few round trips).
  for (const end = Date.now() + 10_000; sims.some((s) => s.resuming && !s.closed) && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
  await fence();
  await fence();
  // (A search waiting for a shared interest has a timer: when it fires, it may pair.)
  const busy = (): boolean => [...server.chat.sessions()].some((x) => x.checking > 0 || x.inflight || x.removing > 0 || (x.state === SessionState.searching && x.timer !== undefined));
  for (const end = Date.now() + 10_000; busy() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
  await fence();
  clearInterval(checker);
  serverViolations.push(...checkServer(server));
  const violations = [...serverViolations, ...sims.flatMap((s) => s.violations)];

  // Pairs from the messages: (receiver seg) -> (sender seg). A function, symmetric, injective.
  const partnerOf = new Map<string, string>();
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
      const p = partnerId === undefined ? undefined : byServerId.get(partnerId);
      if (p === undefined) {
        violations.push(`${mine}: the server never said whom it was matched with`);
        continue;
      }
      // Server ids change with a resume: compare the users they belong to.
      const whose = (key: string): Sim | undefined => {
        const id = serverPartner.get(key);
        return id === undefined ? undefined : byServerId.get(id);
      };
      const occurrence = Array.from({ length: seg }, (_, i) => whose(s.key(i))).filter((x) => x === p).length;
      const pseg = Array.from({ length: p.seg + 1 }, (_, i) => i).filter((i) => whose(p.key(i)) === s)[occurrence];
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
    const st = states.get(s.serverId);
    if (st !== s.expected()) violations.push(`${s.id}: client should be ${s.expected()}, server says ${st}`);
  }
  const matches = sims.reduce((n, s) => n + s.seg + 1, 0);
  const messages = sims.reduce((n, s) => n + s.sentInSeg.reduce((a, b) => a + b, 0), 0);
  const resumes = sims.reduce((n, s) => n + s.resumes, 0);
  const crossed = sims.reduce((n, s) => n + s.crossed, 0);
  console.log(`seed ${seed}: ${actions} actions, ${disconnects} disconnects, ${drops} drops (${resumes} resumed), ${matches} matches (${crossed} crossed a leave), ${messages} messages, ${checkedSegs} conversations checked for delivery`);
  for (const s of sims) if (!s.closed) s.c.close();
  await server.stop();
  if (violations.length > 0) {
    const ids = new Set(violations.flatMap((v) => v.match(/[0-9a-f]{8}-[0-9a-f-]{27}/g) ?? []));
    for (const s of sims) if (ids.has(s.id)) console.log(`=== ${s.id}\n${s.history.slice(process.env.TRACE ? 0 : -40).join('\n')}`);
  }
  assert.deepEqual(violations.slice(0, 20), [], `seed ${seed}`);
  assert.ok(matches > CLIENTS, `too few matches (${matches}) for a meaningful run`);
  assert.ok(checkedSegs > 50, `too few conversations checked (${checkedSegs})`);
});

// ---- languages and question mode ----

const LANGS = ['', 'en', 'de'] as const;
type Role = 'pair' | 'asker' | 'discusser';

/**
 * One simulated user of the question-mode run: it searches in a random language (or none),
 * sometimes willing to discuss questions, sometimes asking one. Every line it sends is
 * `id|seg|k|lang`; an asker's attempts to speak are `id|ASK|lang` (and must be refused).
 */
class QSim {
  /** What the client believes (updated when it acts), used to choose actions. */
  view: View = 'idle';
  /** State as told by the server's messages alone (own `leave` is not answered: stays). */
  stream: View = 'idle';
  role: Role = 'pair';
  /** The language of the search the client last asked for. */
  lang = '';
  /** Languages of requests not answered yet (each find, ask, next gets `searching` or an error). */
  pending: string[] = [];
  /** The language of the search the server last confirmed (`searching`). */
  streamLang = '';
  seg = -1;
  sentInSeg: number[] = [];
  refusedInSeg: number[] = [];
  /** seg -> how it ended: 'own', 'ended:<reason>', 'asker_left' is not an end. */
  endOf: string[] = [];
  roleOf: Role[] = [];
  /** sender key -> lines received from it (across this user's conversations), checked in order. */
  got = new Map<string, number>();
  /** seg -> the sender key each `from` number (asker) or the partner (others) stands for. */
  fromKey: Array<Map<number, string>> = [];
  notAllowed = 0;
  askAttempts = 0;
  closed = false;
  violations: string[] = [];
  id = '';
  constructor(public c: Client) {}

  key(seg = this.seg): string {
    return `${this.id}|${seg}`;
  }

  onMessage(m: Msg): void {
    const v = (s: string): void => void this.violations.push(`${this.id}: ${s}`);
    switch (m.type) {
      case 'searching':
        if (this.pending.length === 0) v('unrequested searching');
        this.streamLang = this.pending.shift() ?? this.streamLang;
        this.stream = 'searching';
        return;
      case 'matched': {
        if (this.stream !== 'searching') v(`matched while ${this.stream}`);
        const role: Role = m.mode === 'question' ? (m.role as Role) : 'pair';
        if (m.mode === 'question' && role !== 'asker' && role !== 'discusser') v(`bad role ${String(m.role)}`);
        if ((m.lang ?? '') !== this.streamLang) v(`matched in ${String(m.lang)} while searching in '${this.streamLang}'`);
        this.stream = 'chatting';
        // A `matched` that overtook the answer to a later request (leave, then find or ask) is for
        // a search the client gave up: the server has ended it (or will) before the next one.
        if (this.pending.length === 0 && this.view === 'searching') this.view = 'chatting';
        this.role = role;
        this.seg++;
        this.roleOf[this.seg] = role;
        this.sentInSeg[this.seg] = 0;
        this.refusedInSeg[this.seg] = 0;
        this.fromKey[this.seg] = new Map();
        return;
      }
      case 'msg': {
        const text = m.text as string;
        const [id, seg, k, lang] = text.split('|');
        if (seg === 'ASK') return v(`received an asker's words: ${text}`);
        if (id === this.id) return v('received its own words');
        if (lang !== this.streamLang) v(`got a line in '${lang}' while in '${this.streamLang}'`);
        if (this.stream !== 'chatting') return v(`msg while ${this.stream}`);
        const from = this.role === 'asker' ? (m.from as number) : 0;
        if (this.role === 'asker' && (from !== 1 && from !== 2)) v(`asker got a line without from: ${JSON.stringify(m)}`);
        if (this.role !== 'asker' && m.from !== undefined) v('from outside the asker role');
        const key = `${id}|${seg}`;
        const known = this.fromKey[this.seg]!.get(from);
        if (known === undefined) this.fromKey[this.seg]!.set(from, key);
        else if (known !== key) v(`seg ${this.seg} from ${from}: lines of ${known} and ${key}`);
        if (this.role === 'asker' && [...this.fromKey[this.seg]!].some(([f, kk]) => f !== from && kk === key)) v('one discusser under two numbers');
        const n = this.got.get(key) ?? 0;
        if (Number(k) !== n) v(`line ${k} of ${key}, expected ${n}`);
        this.got.set(key, Number(k) + 1);
        return;
      }
      case 'typing':
        if (this.stream !== 'chatting') v(`typing while ${this.stream}`);
        if ((this.role === 'asker') !== (m.from !== undefined)) v(`typing ${JSON.stringify(m)} as ${this.role}`);
        return;
      case 'asker_left':
        if (this.role !== 'discusser') v(`asker_left as ${this.role}`);
        this.role = 'pair';
        return;
      case 'ended':
        if (this.stream !== 'chatting') v(`ended while ${this.stream}`);
        this.endOf[this.seg] ??= `ended:${m.reason}`;
        this.stream = 'idle';
        if (this.view === 'chatting') this.view = 'idle';
        return;
      case 'error':
        if (m.code === 'not_allowed') this.notAllowed++;
        else if (m.code === 'already_matched') this.pending.shift();
        else if (m.code === 'not_matched' && this.seg >= 0) this.refusedInSeg[this.seg]!++;
        else if (m.code !== 'bad_message') v(`error ${m.code}`);
        return;
      case 'reported':
        return;
      default:
        v(`unexpected ${m.type}`);
    }
  }

  act(rng: () => number): void {
    const r = rng();
    if (this.view === 'idle') {
      this.lang = LANGS[Math.floor(rng() * LANGS.length)]!;
      const lang = this.lang === '' ? {} : { lang: rng() < 0.5 ? this.lang : this.lang.toUpperCase() };
      if (r < 0.2) this.c.send({ type: 'ask', question: `${this.id} asks?`, ...lang });
      else this.c.send({ type: 'find', questions: r < 0.75, ...lang });
      this.pending.push(this.lang);
      this.view = 'searching';
    } else if (this.view === 'searching') {
      if (r < 0.03) {
        this.c.send({ type: 'leave' });
        this.view = 'idle';
      }
    } else if (this.role === 'asker') {
      if (r < 0.15) {
        this.askAttempts++;
        this.c.send({ type: 'msg', text: `${this.id}|ASK|${this.lang}` });
      } else if (r < 0.2) {
        this.c.send({ type: 'typing', on: true });
        this.askAttempts++;
      } else if (r < 0.23) {
        this.c.send({ type: 'report', reason: 'other', from: 1 });
      } else if (r < 0.28) {
        this.endOf[this.seg] ??= 'own';
        this.c.send({ type: 'next' }); // asks again
        this.pending.push(this.lang);
        this.view = 'searching';
      } else if (r < 0.32) {
        this.endOf[this.seg] ??= 'own';
        this.c.send({ type: 'leave' });
        this.view = 'idle';
      }
    } else if (r < 0.75) {
      this.c.send({ type: 'msg', text: `${this.key()}|${this.sentInSeg[this.seg]!++}|${this.lang}` });
    } else if (r < 0.82) {
      this.c.send({ type: 'typing', on: r < 0.78 });
    } else if (r < 0.91) {
      this.endOf[this.seg] ??= 'own';
      this.c.send({ type: 'next' });
      this.pending.push(this.lang);
      this.view = 'searching';
    } else {
      this.endOf[this.seg] ??= 'own';
      this.c.send({ type: 'leave' });
      this.view = 'idle';
    }
  }
}

const questionChat = { rateLimit: 0, noRepeat: 2 };

test('randomized: languages and question mode keep every invariant (one node)', { timeout: 60_000 }, async () => {
  await questionRun([await startServer({ chat: questionChat, heartbeatMs: 0 })]);
});

test('randomized: languages and question mode keep every invariant (three nodes, one memory hub)', { timeout: 60_000 }, async () => {
  const hub = new MemoryHub();
  const servers = [];
  for (const nodeId of ['n1', 'n2', 'n3']) servers.push(await startServer({ engine: new MemoryEngine({ hub, nodeId }), chat: questionChat, heartbeatMs: 0 }));
  await questionRun(servers);
});

test('randomized: languages and question mode keep every invariant (three nodes on Redis)', { timeout: 60_000, ...skipUnlessCI(redisReason) }, async () => {
  if (redis === undefined || !('url' in redis)) throw new Error(redisReason);
  // A fresh key prefix: nothing shared with other tests on this Redis.
  const keyPrefix = `{strangers-random-${Math.random().toString(36).slice(2, 10)}}`;
  const servers = [];
  for (let i = 0; i < 3; i++) {
    // Database 21 (this file's), and a fresh key prefix.
    servers.push(await startServer({ engine: createRedisEngine(withDb(redis.url, 21), { keyPrefix, heartbeatMs: 200, deadlineMs: 2000 }), chat: questionChat, heartbeatMs: 0 }));
  }
  await questionRun(servers);
});

/**
 * Users on `servers` (one node, or a cluster) search, ask, discuss, speak and leave at random;
 * the invariants are checked on every message, on the servers while it runs (one node only: a
 * cluster's pairs are symmetric only once the relay is quiet) and at rest.
 */
async function questionRun(servers: StrangersServer[]): Promise<void> {
  const seed = Number(process.env.STRANGERS_TEST_SEED ?? Date.now() % 1_000_000);
  const rng = mulberry32(seed);
  const sims: QSim[] = [];
  const byId = new Map<string, QSim>();
  /** Per user, its conversations as the server began them: partner id, and the asker or discussers. */
  const begun = new Map<string, Array<{ partner: string; asker: string; discussers: string[] }>>();
  const serverViolations: string[] = [];
  const open = async (): Promise<void> => {
    const server = servers[Math.floor(rng() * servers.length)]!;
    const c = await Client.open(server.url, undefined, LOCAL);
    const sim = new QSim(c);
    sim.id = (await c.expect('welcome')).id as string;
    byId.set(sim.id, sim);
    begun.set(sim.id, []);
    const session = [...server.chat.sessions()].find((x) => x.id === sim.id)!;
    const peer = session.peer as { send(text: string): unknown };
    const send = peer.send.bind(peer);
    peer.send = (text: string) => {
      if (text.startsWith('{"type":"matched"')) {
        const q = session.q;
        begun.get(sim.id)!.push({
          partner: session.partnerId,
          asker: q !== undefined && q.role !== 0 ? q.members[0].id : '',
          discussers: q !== undefined && q.role === 0 ? [q.members[1].id, q.members[2].id] : [],
        });
      }
      return send(text);
    };
    const inbox = c.inbox;
    let read = 1;
    const pump = (): void => {
      while (read < inbox.messages.length) sim.onMessage(inbox.messages[read++]!);
      if (inbox.closed === undefined) void inbox.changed().then(pump);
    };
    pump();
    sims.push(sim);
  };
  /** Server-side: pairs symmetric within one language; an asker's discussers discuss its question. */
  const checkQuestions = (): void => {
    const sessions = new Map(servers.flatMap((server) => [...server.chat.sessions()].map((s) => [s.id, s] as const)));
    for (const s of sessions.values()) {
      if (s.state !== SessionState.chatting) continue;
      if (s.q?.role === 0) {
        for (const m of [s.q.members[1], s.q.members[2]]) {
          const d = sessions.get(m.id);
          if (d === undefined || d.state !== SessionState.chatting || d.q?.asker.id !== s.id) serverViolations.push(`${s.id}: asker without its discusser ${m.id}`);
          else if (d.lang !== s.lang) serverViolations.push(`${s.id}: question across languages`);
        }
        continue;
      }
      const p = s.partner ?? sessions.get(s.partnerId);
      if (p === undefined || p.partnerId !== s.id || p.state !== SessionState.chatting) serverViolations.push(`${s.id}: pair not symmetric`);
      else if (p.lang !== s.lang) serverViolations.push(`${s.id}: paired across languages (${s.lang}, ${p.lang})`);
    }
  };
  await Promise.all(Array.from({ length: 150 }, open));
  const checker = setInterval(() => servers.length === 1 && checkQuestions(), 50);
  const end = Date.now() + 2500;
  let disconnects = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      if (Date.now() >= end) return resolve();
      for (let i = 0; i < 40; i++) {
        const sim = sims[Math.floor(rng() * sims.length)]!;
        if (sim.closed) continue;
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
  const fence = (): Promise<void> => fenceAll(sims);
  await fence();
  const busy = (): boolean => servers.some((server) => [...server.chat.sessions()].some((x) => x.checking > 0 || x.inflight || x.removing > 0));
  for (const until = Date.now() + 10_000; busy() && Date.now() < until; ) await new Promise((r) => setTimeout(r, 10));
  await fence();
  // Relay events still on their way between nodes (a `matched`, an `ended`) arrive in this time.
  if (servers.length > 1) await new Promise((r) => setTimeout(r, 300));
  await fence();
  clearInterval(checker);
  checkQuestions();
  const violations = [...serverViolations, ...sims.flatMap((s) => s.violations)];

  // Exactly once: every line a live user sent in a conversation that did not end by a
  // disconnect reached its partner (the other discusser) once, unless refused after the end;
  // and the asker, if it watched to the end, got all of them; else a prefix (checked in order).
  let questions = 0;
  let checked = 0;
  let watchedToEnd = 0;
  for (const s of sims) {
    const conversations = begun.get(s.id)!;
    for (let seg = 0; seg <= s.seg; seg++) {
      if (s.roleOf[seg] === 'asker') {
        questions++;
        if (s.notAllowed > s.askAttempts) violations.push(`${s.id}: more not_allowed than attempts`);
        continue;
      }
      const how = s.endOf[seg];
      if (s.closed || how === 'ended:disconnected') continue;
      const b = conversations[seg];
      const sent = s.sentInSeg[seg]! - s.refusedInSeg[seg]!;
      if (b === undefined) {
        violations.push(`${s.key(seg)}: the server never said whom it was matched with`);
        continue;
      }
      const key = s.key(seg);
      const p = byId.get(b.partner);
      // On one node every line is handled in order with the end: delivery is exact. Across nodes a
      // line on its way when the other side ended is dropped (relay after an end is at most once):
      // exact only for a conversation both sides are still in at rest; a prefix otherwise.
      const ongoing = how === undefined && seg === s.seg && s.view === 'chatting';
      const exact = servers.length === 1 || ongoing;
      if (p !== undefined && !p.closed) {
        const got = p.got.get(key) ?? 0;
        if (exact) checked++;
        if (exact ? got !== sent : got > sent) violations.push(`${key}: sent ${sent} (+${s.refusedInSeg[seg]} refused), the other got ${got}`);
      }
      if (b.asker !== '') {
        const a = byId.get(b.asker)!;
        const got = a.got.get(key) ?? 0;
        if (got > sent) violations.push(`${key}: the asker got ${got} of ${sent}`);
        // Which of the asker's conversations: the one whose discussers include this user, and in
        // which it heard this key (or none: then it may have left before the first line).
        const aseg = begun.get(a.id)!.findIndex((x, i) => x.discussers.includes(s.id) && a.fromKey[i] !== undefined && [...a.fromKey[i]!.values()].includes(key));
        if (exact && !a.closed && aseg >= 0 && a.endOf[aseg] !== 'own' && a.endOf[aseg] !== 'ended:disconnected') {
          watchedToEnd++;
          if (got !== sent) violations.push(`${key}: sent ${sent}, the asker (who stayed) got ${got}`);
        }
      }
    }
  }
  console.log(`seed ${seed}, ${servers.length} node(s): ${sims.length} users, ${disconnects} disconnects, ${questions} questions watched, ${checked} conversations checked, ${watchedToEnd} checked from the asker's side`);
  for (const s of sims) if (!s.closed) s.c.close();
  await Promise.all(servers.map((server) => server.stop()));
  assert.deepEqual(violations.slice(0, 20), [], `seed ${seed}`);
  assert.ok(questions > 20, `too few questions (${questions}) for a meaningful run`);
  if (servers.length === 1) assert.ok(checked > 50 && watchedToEnd > 10, `too few conversations checked (${checked}, ${watchedToEnd})`);
  else assert.ok(checked > 5, `too few conversations checked (${checked})`);
}

