/**
 * One load-generator worker process: opens its share of the connections with our own
 * client (`connect` from src/ws, which masks frames like a browser), plays the scenario and
 * reports counters to the coordinator over IPC. Started by coordinator.ts with
 * child_process.fork; never run by hand.
 *
 * Per-message work is kept small: one shared handler object for every connection, the
 * client state in `conn.data`, one ticker per worker (not a timer per client).
 */
import { connect, type ConnectionHandler, type WebSocketConnection } from '../ws/index.js';
import { Histogram } from './histogram.js';
import { type Counters, type FromWorker, type ToWorker, type WorkerConfig, decodeText, encodeText, failureCause, newCounters, nowMicros } from './ipc.js';

/** Client states. */
const St = { connecting: 0, idle: 1, searching: 2, matched: 3, closing: 4 } as const;
type St = (typeof St)[keyof typeof St];

class Client {
  id = '';
  /** Order in which this worker opened the connection (for --cross-pairs). */
  index = -1;
  /** The current partner's id, learned from its first message (seq 0). */
  partner = '';
  state: St = St.connecting;
  /** Next sequence number to send / expected to receive in the current conversation. */
  seqOut = 0;
  seqIn = 0;
  /** chat: when the next message is due (µs). */
  nextSendAt = 0;
  /** flood: waiting for a drain before sending more. */
  blocked = false;
  startedAt = 0;
  welcomedAt = 0;
  /** Index in `matchedList` (chat ticker), -1 when not in it. */
  slot = -1;
  /** The last pair seen (kept for the symmetry check after the conversation). */
  lastPartner = '';
  /** Counted in `counters.open`. */
  counted = false;
  /** The id needs no JSON escaping (the fast path for building messages). */
  plainId = false;
  constructor(readonly conn: WebSocketConnection<Client>) {}
}

let config: WorkerConfig;
const counters: Counters = newCounters();
const latency = new Histogram();
const connectLatency = new Histogram();
const clients = new Set<Client>();
/** chat: matched clients the ticker walks. */
const matchedList: Client[] = [];
let quiescing = false;
let going = false;
let findMessage = '{"type":"find"}';
const nextMessage = '{"type":"next"}';
const MSG_PREFIX = '{"type":"msg","text":"';
const MSG_SUFFIX = '"}';
/** What follows a relayed message's text when the server numbers it: `","seq":N}`. */
const SEQ_FIELD = '","seq":';

function bump(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

function send(c: Client, data: string): boolean {
  const r = c.conn.send(data);
  if (r === 'dropped') {
    counters.dropped++;
    return false;
  }
  if (r === 'queued') c.blocked = true;
  return true;
}

function sendMsg(c: Client): void {
  const text = encodeText(c.id, c.seqOut, nowMicros(), config.size);
  // Our texts need no JSON escaping unless the server's id does (checked at welcome).
  if (send(c, c.plainId ? MSG_PREFIX + text + MSG_SUFFIX : `{"type":"msg","text":${JSON.stringify(text)}}`)) {
    c.seqOut++;
    counters.sent++;
  }
}

function addMatched(c: Client): void {
  if (c.slot >= 0) return;
  c.slot = matchedList.length;
  matchedList.push(c);
}

function removeMatched(c: Client): void {
  if (c.slot < 0) return;
  const last = matchedList.pop()!;
  if (last !== c) {
    matchedList[c.slot] = last;
    last.slot = c.slot;
  }
  c.slot = -1;
}

function find(c: Client): void {
  if (quiescing || c.state === St.closing) return;
  c.state = St.searching;
  // --cross-pairs: connections 2k and 2k+1 (on different --url when there are two) share an
  // interest no one else has, so they are paired with each other.
  send(c, config.crossPairs ? `{"type":"find","interests":["x${process.pid}-${c.index >> 1}"]}` : findMessage);
}

/** flood: send while fewer than `window` of our messages are unanswered by the partner's. */
function pump(c: Client): void {
  if (quiescing || c.state !== St.matched) return;
  while (!c.blocked && c.seqOut - c.seqIn < config.window) sendMsg(c);
}

/** churn: the side with the smaller id moves on once both sides have sent `perMatch`. */
function churnMaybeNext(c: Client): void {
  if (quiescing || c.state !== St.matched) return;
  if (c.seqOut >= config.perMatch && c.seqIn >= config.perMatch && c.partner !== '' && c.id < c.partner) {
    counters.nexts++;
    leaveConversation(c);
    c.state = St.searching;
    send(c, nextMessage);
  }
}

function leaveConversation(c: Client): void {
  removeMatched(c);
  if (c.partner !== '') c.lastPartner = c.partner;
  c.partner = '';
  c.seqIn = 0;
  c.seqOut = 0;
}

function onMatched(c: Client): void {
  counters.matchedEvents++;
  leaveConversation(c);
  c.state = St.matched;
  c.blocked = false;
  if (quiescing) return;
  switch (config.scenario) {
    case 'chat':
      // A random phase spreads the clients' sends over the interval.
      c.nextSendAt = nowMicros() + Math.random() * (1e6 / config.rate);
      addMatched(c);
      break;
    case 'flood':
      pump(c);
      break;
    case 'churn':
      for (let i = 0; i < config.perMatch && !c.blocked; i++) sendMsg(c);
      break;
  }
}

/** A relayed message; `seq` is the server's number for it (0 when it has none). */
function onMsg(c: Client, text: string, seq: number): void {
  const m = decodeText(text);
  if (m === undefined) {
    counters.garbled++;
    return;
  }
  counters.received++;
  latency.record(nowMicros() - m.sentAtMicros);
  if (c.partner === '') {
    if (m.seq !== 0 && c.state === St.matched) counters.gaps += m.seq; // the first ones never came
    c.partner = m.sender;
    c.seqIn = m.seq + 1;
  } else if (m.sender !== c.partner) {
    counters.misdelivered++;
    return;
  } else if (m.seq === c.seqIn) {
    c.seqIn++;
  } else if (m.seq > c.seqIn) {
    counters.gaps += m.seq - c.seqIn;
    c.seqIn = m.seq + 1;
  } else {
    counters.reordered++;
  }
  if (c.state !== St.matched) counters.misdelivered++; // a message while not in a conversation
  else if (config.scenario === 'flood') pump(c);
  else if (config.scenario === 'churn') churnMaybeNext(c);
}

function onEvent(c: Client, data: Buffer): void {
  const str = data.toString('utf8');
  // Fast path for the bulk of the traffic, exactly the shapes the server sends for a relayed
  // message with nothing to unescape: `{"type":"msg","text":"T"}` or `...,"seq":N}`; anything
  // else (other fields, escapes) goes through JSON.parse.
  if (str.startsWith(MSG_PREFIX) && str.indexOf('\\', MSG_PREFIX.length) === -1) {
    const q = str.indexOf('"', MSG_PREFIX.length);
    if (q === str.length - 2 && str.charCodeAt(q + 1) === 0x7d) {
      onMsg(c, str.slice(MSG_PREFIX.length, q), 0);
      return;
    }
    if (q > 0 && str.startsWith(SEQ_FIELD, q) && str.charCodeAt(str.length - 1) === 0x7d) {
      const seq = Number(str.slice(q + SEQ_FIELD.length, -1));
      if (Number.isSafeInteger(seq) && seq > 0) {
        onMsg(c, str.slice(MSG_PREFIX.length, q), seq);
        return;
      }
    }
  }
  let ev: { type?: unknown; id?: unknown; text?: unknown; seq?: unknown; reason?: unknown; code?: unknown; resume?: unknown; state?: unknown };
  try {
    ev = JSON.parse(str);
  } catch {
    counters.garbled++;
    return;
  }
  switch (ev.type) {
    case 'msg':
      if (typeof ev.text === 'string') onMsg(c, ev.text, typeof ev.seq === 'number' ? ev.seq : 0);
      else counters.garbled++;
      return;
    case 'welcome':
      if (c.state !== St.connecting) return;
      c.id = typeof ev.id === 'string' ? ev.id : '';
      c.plainId = /^[\x20-\x7e]*$/.test(c.id) && !/["\\]/.test(c.id);
      c.state = St.idle;
      c.welcomedAt = nowMicros();
      if (c.startedAt > 0) welcomed(c);
      return;
    case 'searching':
      return;
    case 'matched':
      onMatched(c);
      return;
    case 'typing':
      return;
    case 'ended': {
      const expected = config.scenario === 'churn' && ev.reason === 'skipped';
      if (!expected && !(quiescing && ev.reason === 'disconnected')) bump(counters.unexpectedEnded, String(ev.reason));
      leaveConversation(c);
      if (c.state !== St.closing) c.state = St.idle;
      if (going) find(c);
      return;
    }
    case 'error':
      bump(counters.serverErrors, String(ev.code));
      return;
    default:
      counters.garbled++;
  }
}

/** Both the handshake promise and `welcome` have arrived. */
function welcomed(c: Client): void {
  counters.connected++;
  counters.open++;
  c.counted = true;
  connectLatency.record(c.welcomedAt - c.startedAt);
  settle(c);
}

/** Connections whose handshake or welcome is still pending. */
const pending = new Map<WebSocketConnection<Client> | number, NodeJS.Timeout>();
let settled = 0;

function settle(c: Client): void {
  const t = pending.get(c.conn);
  if (t !== undefined) {
    clearTimeout(t);
    pending.delete(c.conn);
  }
  settled++;
  launch();
}

const handler: ConnectionHandler<Client> = {
  message(conn, data, isBinary) {
    const c = conn.data ?? (conn.data = new Client(conn));
    if (isBinary) {
      counters.garbled++;
      return;
    }
    onEvent(c, data);
  },
  close(conn, code) {
    const c = conn.data ?? (conn.data = new Client(conn));
    removeMatched(c);
    clients.delete(c);
    if (c.counted) {
      c.counted = false;
      counters.open--;
    }
    if (c.state === St.connecting) {
      if (pending.has(conn)) {
        bump(counters.connectFailures, 'closed_before_welcome');
        clearTimeout(pending.get(conn)!);
        pending.delete(conn);
        settled++;
        launch();
      }
    } else if (c.state !== St.closing) {
      bump(counters.unexpectedCloses, String(code));
    }
    c.state = St.closing;
    closeWaiters.delete(c);
    if (closeWaiters.size === 0 && onAllClosed) onAllClosed();
  },
  drain(conn) {
    const c = conn.data;
    if (c === undefined) return;
    c.blocked = false;
    if (config.scenario === 'flood') pump(c);
  },
};

// ---- connect phase ----------------------------------------------------------------------

let launched = 0;
let inFlight = 0;
let startedAtMs = 0;
let rampTimer: NodeJS.Timeout | undefined;
let connectedSent = false;

function openOne(): void {
  const n = launched++;
  inFlight++;
  counters.attempted++;
  const started = nowMicros();
  const localAddress = config.localAddresses.length > 0 ? config.localAddresses[n % config.localAddresses.length] : undefined;
  // A pending key until the connection object exists; the timeout covers handshake + welcome.
  const key = -1 - n;
  let conn: WebSocketConnection<Client> | undefined;
  let timedOut = false;
  pending.set(key, setTimeout(() => {
    timedOut = true;
    const k = conn ?? key;
    if (!pending.has(k)) return;
    pending.delete(k);
    bump(counters.connectFailures, 'timeout');
    settled++;
    if (conn) {
      const c = conn.data;
      if (c) c.state = St.closing;
      conn.terminate();
    }
    launch();
  }, config.connectTimeoutMs));
  connect<Client>(config.urls[n % config.urls.length]!, { handler, ...(localAddress ? { localAddress } : {}), timeoutMs: config.connectTimeoutMs })
    .then((ws) => {
      inFlight--;
      conn = ws;
      const t = pending.get(key)!;
      pending.delete(key);
      if (timedOut) {
        ws.terminate();
        return;
      }
      const c = ws.data ?? (ws.data = new Client(ws));
      c.index = n;
      c.startedAt = started;
      if (c.state === St.closing) {
        // Closed before the promise settled: count it once here.
        clearTimeout(t);
        bump(counters.connectFailures, 'closed_before_welcome');
        settled++;
        launch();
        return;
      }
      clients.add(c);
      pending.set(ws, t);
      if (c.welcomedAt > 0) welcomed(c);
    })
    .catch((err: unknown) => {
      inFlight--;
      const t = pending.get(key);
      if (t === undefined) return; // already timed out
      clearTimeout(t);
      pending.delete(key);
      bump(counters.connectFailures, failureCause(err));
      settled++;
      launch();
    });
}

/** Starts as many connections as the ramp and the concurrency cap allow. */
function launch(): void {
  if (stopping) return;
  const due = config.ramp > 0 ? Math.min(config.connections, Math.floor(((Date.now() - startedAtMs) / 1000) * config.ramp) + 1) : config.connections;
  while (launched < due && inFlight < config.concurrency) openOne();
  if (settled >= config.connections && !connectedSent) {
    connectedSent = true;
    if (rampTimer) clearInterval(rampTimer);
    postStats(); // the coordinator's connect figures must not wait for the next tick
    post({ t: 'connected' });
  }
}

// ---- scenario ---------------------------------------------------------------------------

let ticker: NodeJS.Timeout | undefined;

/** chat: sends every due message; one walk over the matched clients every 2 ms (small bursts). */
function tick(): void {
  if (quiescing) return;
  const now = nowMicros();
  const interval = 1e6 / config.rate;
  for (let i = 0; i < matchedList.length; i++) {
    const c = matchedList[i];
    if (now >= c.nextSendAt && !c.blocked) {
      sendMsg(c);
      // Keep the schedule; a client more than a second behind skips ahead rather than bursting.
      c.nextSendAt = now - c.nextSendAt > 1e6 ? now + interval : c.nextSendAt + interval;
    }
  }
}

function go(): void {
  going = true;
  if (config.scenario === 'idle') return;
  if (config.scenario === 'chat') ticker = setInterval(tick, 2);
  for (const c of clients) if (c.state === St.idle) find(c);
}

// ---- stop -------------------------------------------------------------------------------

let stopping = false;
const closeWaiters = new Set<Client>();
let onAllClosed: (() => void) | undefined;

async function closeAll(): Promise<void> {
  stopping = true;
  quiescing = true;
  if (ticker) clearInterval(ticker);
  if (rampTimer) clearInterval(rampTimer);
  for (const t of pending.values()) clearTimeout(t);
  for (const c of clients) {
    closeWaiters.add(c);
    c.state = St.closing;
    c.conn.close(1000, 'bench done');
  }
  if (closeWaiters.size > 0) {
    await new Promise<void>((resolve) => {
      onAllClosed = resolve;
      setTimeout(resolve, 3000).unref();
    });
  }
  for (const c of closeWaiters) c.conn.terminate();
}

function snapshot(): Counters {
  const u = process.cpuUsage();
  counters.cpuMicros = u.user + u.system;
  return counters;
}

function post(msg: FromWorker): void {
  if (process.connected) process.send!(msg);
}

function postStats(marked = false): void {
  post({ t: 'stats', quiesced, measuring, marked, counters: snapshot(), latency: latency.toJSON(), connectLatency: connectLatency.toJSON() });
  latency.reset();
  connectLatency.reset();
}

let statsTimer: NodeJS.Timeout | undefined;
let quiesced = false;
/** False during the warm-up. */
let measuring = true;

process.on('message', (msg: ToWorker) => {
  switch (msg.t) {
    case 'start':
      config = msg.config;
      measuring = !config.warmup;
      if (config.interests.length > 0) findMessage = JSON.stringify({ type: 'find', interests: config.interests });
      startedAtMs = Date.now();
      statsTimer = setInterval(postStats, 1000);
      if (config.ramp > 0) rampTimer = setInterval(launch, 10);
      launch();
      break;
    case 'go':
      go();
      break;
    case 'mark':
      postStats(true);
      measuring = true;
      break;
    case 'quiesce':
      quiescing = true;
      if (ticker) clearInterval(ticker);
      // Report at once that sending stopped, then often, so the drain ends promptly.
      quiesced = true;
      if (statsTimer) clearInterval(statsTimer);
      statsTimer = setInterval(postStats, 100);
      postStats();
      break;
    case 'close': {
      // The pairs as they stand before closing (closing ends every conversation).
      const pairs: Array<[string, string]> = [];
      if (config.reportPairs) {
        for (const c of clients) {
          const p = c.partner || c.lastPartner;
          if (c.id && p) pairs.push([c.id, p]);
        }
      }
      void closeAll().then(() => {
        if (statsTimer) clearInterval(statsTimer);
        const final: FromWorker = { t: 'final', counters: snapshot(), latency: latency.toJSON(), connectLatency: connectLatency.toJSON(), pairs };
        if (process.connected) process.send!(final, () => process.disconnect());
      });
      break;
    }
  }
});

// Ctrl-C reaches the whole process group: the coordinator decides when we stop.
process.on('SIGINT', () => {});
// The coordinator is gone: nothing more to report.
process.on('disconnect', () => process.exit(0));
