/**
 * One load-generator worker process: opens its share of the connections with our own
 * client (`connect` from src/ws, which masks frames like a browser), plays the scenario and
 * reports counters to the coordinator over IPC. Started by coordinator.ts with
 * child_process.fork; never run by hand.
 *
 * Per-message work is kept small: one shared handler object for every connection, the
 * client state in `conn.data`, one ticker per worker (not a timer per client).
 *
 * With `--resume` (chat) a client outlives its connection: it keeps its resume token,
 * acknowledges what it receives (one walk over the clients every 100 ms, at most one cumulative
 * `ack` per client per second), and when the server closes the connection (1012 in a rolling
 * restart) or it drops, reconnects to the next URL (round robin, skipping one that refuses)
 * and sends `resume`; messages replayed with a `seq` it has already seen are set aside as
 * repeats by design. Without `--resume` none of this runs: the cost per message is one test of
 * a constant flag.
 */
import { connect, type ConnectionHandler, type WebSocketConnection } from '@strangers/websocket';
import { Histogram } from './histogram.js';
import { type Counters, type FromWorker, type ToWorker, type WorkerConfig, decodeText, encodeText, failureCause, newCounters, nowMicros } from './ipc.js';
import { RestartWindows } from './restart.js';
import { SourcePorts, portTaken } from './ports.js';

/**
 * Client states. --resume only: `reconnecting` (the connection dropped; a new one is being
 * opened, or waits for its welcome) and `resuming` (`resume` sent, waiting for the answer).
 */
const St = { connecting: 0, idle: 1, searching: 2, matched: 3, closing: 4, reconnecting: 5, resuming: 6 } as const;
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
  /** `conn` is open (or opening) and belongs to this client. */
  live = false;
  /** The id needs no JSON escaping (the fast path for building messages). */
  plainId = false;
  // ---- --resume only ----
  /** The token that resumes this client's place (from `welcome`, then from each `resumed`). */
  resume = '';
  /** The new connection's own token, kept until the resume is answered (it is ours if it fails). */
  welcomeToken = '';
  /** Highest server `seq` received in this conversation, and the highest acknowledged. */
  lastSeq = 0;
  ackedSeq = 0;
  /** No `ack` before this time (µs): at most one per second. */
  ackAt = 0;
  /** Index in `config.urls` of the server this client is on (or trying). */
  url = 0;
  localAddress: string | undefined;
  /** When the connection dropped (µs), and the state it was in. */
  droppedAt = 0;
  stateAtDrop: St = St.idle;
  /** Reconnection attempts that failed in a row. */
  attempts = 0;
  /** When this client last sent a message (µs). */
  lastSentAt = 0;
  /** Disruptions this client is part of (bits of `Cut`), each counted once in `restart`. */
  cut = 0;
  /** The connection this client uses (replaced on every reconnection with --resume). */
  constructor(public conn: WebSocketConnection<Client>) {}
}

/** --resume: why a client counts toward an open restart window. */
const Cut = { self: 1, partner: 2 } as const;

let config: WorkerConfig;
const counters: Counters = newCounters();
const latency = new Histogram();
const connectLatency = new Histogram();
const clients = new Set<Client>();
/** --resume: the restart windows and the delays sorted into them (undefined without --resume). */
let restart: RestartWindows | undefined;
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
    // The server's close frame came (the close event follows), or over the buffer cap.
    if (c.conn.state !== 'open') counters.closingSends++;
    else counters.dropped++;
    return false;
  }
  if (r === 'queued') c.blocked = true;
  return true;
}

function sendMsg(c: Client): void {
  const now = nowMicros();
  const text = encodeText(c.id, c.seqOut, now, config.size);
  // Our texts need no JSON escaping unless the server's id does (checked at welcome).
  if (send(c, c.plainId ? MSG_PREFIX + text + MSG_SUFFIX : `{"type":"msg","text":${JSON.stringify(text)}}`)) {
    c.seqOut++;
    counters.sent++;
    c.lastSentAt = now;
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
  // The server numbers every conversation from 1.
  c.lastSeq = 0;
  c.ackedSeq = 0;
  if (restart !== undefined) uncut(c, Cut.partner);
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
  if (restart !== undefined && seq > 0) {
    // A resume replays what the server has not seen acknowledged, with the original numbers:
    // what this client already has is a repeat by design. A repeat under a NEW number would pass
    // here and be caught below (an old sequence number of ours: `reordered`).
    if (seq <= c.lastSeq) {
      counters.replayed++;
      return;
    }
    c.lastSeq = seq;
  }
  const m = decodeText(text);
  if (m === undefined) {
    counters.garbled++;
    return;
  }
  counters.received++;
  const now = nowMicros();
  latency.record(now - m.sentAtMicros);
  restart?.record(m.sentAtMicros, now, measuring);
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
    restart?.hole(c.partner, c.seqIn, m.seq - 1);
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
      if (c.state === St.reconnecting) {
        reconnected(c, ev.resume);
        return;
      }
      if (c.state !== St.connecting) return;
      if (restart !== undefined && typeof ev.resume === 'string') c.resume = ev.resume;
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
      // At the end, partners close (with --resume after a `leave`, so that no place is held).
      const closing = quiescing && (ev.reason === 'disconnected' || (restart !== undefined && ev.reason === 'left'));
      if (!expected && !closing) bump(counters.unexpectedEnded, String(ev.reason));
      leaveConversation(c);
      if (c.state !== St.closing) c.state = St.idle;
      if (going) find(c);
      return;
    }
    case 'error':
      if (ev.code === 'resume_failed' && c.state === St.resuming) onResumeFailed(c);
      else bump(counters.serverErrors, String(ev.code));
      return;
    case 'resumed':
      if (c.state === St.resuming) onResumed(c, ev.state, ev.resume);
      else counters.garbled++;
      return;
    case 'away':
      // The partner's connection dropped: what we send now waits for its resume.
      if (restart !== undefined && c.state === St.matched) cut(c, Cut.partner);
      return;
    case 'back':
      if (restart !== undefined) uncut(c, Cut.partner);
      return;
    case 'delivered':
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
    if (c.conn !== conn) return; // a connection this client has already left (--resume)
    c.live = false;
    removeMatched(c);
    if (c.counted) {
      c.counted = false;
      counters.open--;
    }
    if (restart !== undefined && !stopping && c.resume !== '' && c.state !== St.connecting && c.state !== St.closing) {
      dropped(c, code);
      return;
    }
    clients.delete(c);
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

// ---- --resume: reconnect, resume, acknowledge ---------------------------------------------

/** This client is now part of a disruption (`Cut.self` or `Cut.partner`), counted once. */
function cut(c: Client, bit: number): void {
  if ((c.cut & bit) !== 0) return;
  c.cut |= bit;
  restart!.begin(nowMicros());
}

function uncut(c: Client, bit: number): void {
  if ((c.cut & bit) === 0) return;
  c.cut &= ~bit;
  restart!.end(nowMicros());
}

/** The connection of `c` closed under us (1012 from a restarting node, or a drop): reconnect. */
function dropped(c: Client, code: number): void {
  if (c.state === St.reconnecting || c.state === St.resuming) {
    // The new connection went too (before its resume was answered): try the next server.
    bump(counters.reconnectFailures, `closed_${code}`);
    retry(c);
    return;
  }
  bump(counters.resumeCloses, String(code));
  c.stateAtDrop = c.state;
  c.droppedAt = nowMicros();
  c.attempts = 0;
  counters.away++;
  cut(c, Cut.self);
  restart!.dropped();
  // The line most at risk: sent just before the close, perhaps after the server stopped reading.
  if (c.seqOut > 0 && c.droppedAt - c.lastSentAt < 1e6) restart!.lastLine(c.id, c.seqOut - 1, c.droppedAt - c.lastSentAt);
  c.state = St.reconnecting;
  c.url = (c.url + 1) % config.urls.length;
  reconnect(c);
}

/** Every URL once at once, then 50 ms, 100 ms, ... up to 1 s before each further try. */
function retry(c: Client): void {
  if (stopping) return;
  c.state = St.reconnecting;
  c.attempts++;
  c.url = (c.url + 1) % config.urls.length;
  const n = config.urls.length;
  if (c.attempts < n) reconnect(c);
  else setTimeout(reconnect, Math.min(1000, 50 * 2 ** Math.min(5, c.attempts - n)), c);
}

function reconnect(c: Client): void {
  if (stopping) return;
  dial(config.urls[c.url]!, c.localAddress, follow(c))
    .then((ws) => {
      if (ws.data === undefined) adopt(c, ws);
      if (stopping && c.state !== St.closing) {
        c.state = St.closing;
        ws.terminate();
      }
    })
    .catch((err: unknown) => {
      bump(counters.reconnectFailures, failureCause(err));
      retry(c);
    });
}

function adopt(c: Client, conn: WebSocketConnection<Client>): void {
  conn.data = c;
  c.conn = conn;
  c.live = true;
}

/** The handler of a reconnection: the connection belongs to `c` from its first event on (frames may come before connect() resolves). */
function follow(c: Client): ConnectionHandler<Client> {
  return {
    message(conn, data, isBinary) {
      if (conn.data === undefined) adopt(c, conn);
      handler.message(conn, data, isBinary);
    },
    close(conn, code, reason) {
      if (conn.data === undefined) adopt(c, conn);
      handler.close(conn, code, reason);
    },
    drain(conn) {
      handler.drain?.(conn);
    },
  };
}

/** `welcome` on a reconnection: resume the place, if the server keeps one. */
function reconnected(c: Client, token: unknown): void {
  counters.open++;
  c.counted = true;
  c.welcomeToken = typeof token === 'string' ? token : '';
  if (c.stateAtDrop === St.idle) {
    // An idle user's place is not kept: start afresh.
    c.resume = c.welcomeToken;
    c.state = St.idle;
    backAgain(c);
    if (going) find(c);
    return;
  }
  c.state = St.resuming;
  send(c, `{"type":"resume","token":${JSON.stringify(c.resume)}}`);
}

function backAgain(c: Client): void {
  counters.away--;
  uncut(c, Cut.self);
}

function onResumed(c: Client, state: unknown, token: unknown): void {
  counters.resumes++;
  restart!.resumed(nowMicros() - c.droppedAt);
  if (typeof token === 'string') c.resume = token;
  // The place's new session does not know whether the partner is away: a `back` may never come.
  uncut(c, Cut.partner);
  c.ackAt = 0;
  if (state === 'chatting') {
    if (c.stateAtDrop !== St.matched) leaveConversation(c); // matched meanwhile (not expected)
    c.state = St.matched;
    // The ticker sends at once, then keeps the schedule (skipping what fell due while away).
    if (!quiescing) addMatched(c);
  } else {
    if (c.stateAtDrop === St.matched) {
      // The conversation did not survive.
      bump(counters.unexpectedEnded, `resumed_${String(state)}`);
      restart!.failed();
    }
    leaveConversation(c);
    c.state = state === 'searching' ? St.searching : St.idle;
  }
  backAgain(c);
  if (c.state === St.idle && going) find(c);
}

function onResumeFailed(c: Client): void {
  counters.resumeFailed++;
  restart!.failed();
  c.resume = c.welcomeToken;
  if (c.stateAtDrop === St.matched) bump(counters.unexpectedEnded, 'resume_failed');
  leaveConversation(c);
  c.state = St.idle;
  backAgain(c);
  if (going) find(c);
}

/** One cumulative `ack` per client that received something new, at most one per second each. */
function ackAll(): void {
  const now = nowMicros();
  for (const c of clients) {
    if (c.lastSeq > c.ackedSeq && now >= c.ackAt && c.state === St.matched && send(c, `{"type":"ack","seq":${c.lastSeq}}`)) {
      c.ackedSeq = c.lastSeq;
      c.ackAt = now + 1e6;
      counters.acks++;
    }
  }
}

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
  dial(config.urls[n % config.urls.length]!, localAddress, handler)
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
      c.url = n % config.urls.length;
      c.localAddress = localAddress;
      c.live = true;
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

/** Source ports per source address (see ports.ts: a bind() to port 0 grows slow with the count). */
const sourcePorts = new SourcePorts();
/** Tries per connection when the source port handed out is taken. */
const PORT_TRIES = 8;

/** connect(), from `localAddress` on a port of our choosing when there is one. */
function dial(url: string, localAddress: string | undefined, h: ConnectionHandler<Client>, tries = 1): Promise<WebSocketConnection<Client>> {
  if (localAddress === undefined) return connect<Client>(url, { handler: h, timeoutMs: config.connectTimeoutMs });
  return connect<Client>(url, { handler: h, localAddress, localPort: sourcePorts.next(localAddress), timeoutMs: config.connectTimeoutMs }).catch((err: unknown) => {
    if (tries >= PORT_TRIES || !portTaken(err) || stopping) throw err;
    sourcePorts.taken(localAddress);
    return dial(url, localAddress, h, tries + 1);
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
let ackTimer: NodeJS.Timeout | undefined;

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
  if (ackTimer) clearInterval(ackTimer);
  for (const c of clients) {
    const live = c.live;
    c.state = St.closing;
    if (!live) continue; // between two connections (--resume)
    closeWaiters.add(c);
    // --resume: a connection that closes without `leave` keeps its place for the resume window.
    if (restart !== undefined) c.conn.send('{"type":"leave"}');
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
      if (config.resume) {
        restart = new RestartWindows();
        ackTimer = setInterval(ackAll, 100);
      }
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
        const final: FromWorker = { t: 'final', counters: snapshot(), latency: latency.toJSON(), connectLatency: connectLatency.toJSON(), pairs, ...(restart ? { restart: restart.toJSON() } : {}) };
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
