#!/usr/bin/env node
// The second reference for `npm run bench`: the same Strangers wire protocol (docs/protocol.md)
// and the same plain logic as bench/reference-server.mjs (a Map of users, an array as the waiting
// queue, one JSON object per frame), on uWebSockets.js (C++; npm `@btc-vision/uwebsockets.js`,
// loaded by bench/lib/uws.cjs, which makes it load on glibc 2.36). Only the transport differs:
// uWS's own HTTP and WebSocket server, its automatic pings (idleTimeout 120 s) instead of ws's
// heartbeat loop. Not tuned, not sabotaged: what a Node developer writes after reading the uWS
// examples.
//
//   node bench/reference-uws.mjs [--port 8090] [--host 127.0.0.1]
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';

const { uws, patched } = createRequire(import.meta.url)('./lib/uws.cjs');

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const port = Number(flag('--port', '8090'));
const host = flag('--host', '127.0.0.1');

const MAX_TEXT = 2000;
const INTEREST_WAIT_MS = 5000;
const RECENT_SKIPS = 5;

const users = new Map(); // id -> user
let waiting = []; // users searching, longest-waiting first

function normalizeInterests(list) {
  if (!Array.isArray(list)) return [];
  const out = [];
  for (const tag of list.slice(0, 10)) {
    if (typeof tag !== 'string') continue;
    const t = tag.trim().toLowerCase().normalize('NFC').slice(0, 32);
    if (t && !out.includes(t)) out.push(t);
  }
  return out;
}

function send(user, msg) {
  if (!user.closed) user.ws.send(JSON.stringify(msg), false);
}

function canPair(a, b) {
  return a !== b && !a.avoid.includes(b.id) && !b.avoid.includes(a.id);
}

function common(a, b) {
  return a.interests.filter((t) => b.interests.includes(t));
}

function tryMatch(user) {
  const now = Date.now();
  let best = null;
  let bestCommon = [];
  for (const other of waiting) {
    if (!canPair(user, other)) continue;
    const c = common(user, other);
    if (c.length > 0) {
      best = other;
      bestCommon = c;
      break;
    }
    const userAny = user.interests.length === 0 || now - user.searchingSince > INTEREST_WAIT_MS;
    const otherAny = other.interests.length === 0 || now - other.searchingSince > INTEREST_WAIT_MS;
    if (!best && userAny && otherAny) best = other;
  }
  if (!best) {
    waiting.push(user);
    return;
  }
  waiting = waiting.filter((u) => u !== best);
  user.partner = best;
  best.partner = user;
  send(user, { type: 'matched', common: bestCommon });
  send(best, { type: 'matched', common: bestCommon });
}

function endConversation(user, reason) {
  const partner = user.partner;
  if (!partner) return;
  user.partner = null;
  partner.partner = null;
  send(partner, { type: 'ended', reason });
  if (reason === 'skipped') {
    user.avoid = [partner.id, ...user.avoid].slice(0, RECENT_SKIPS);
    partner.avoid = [user.id, ...partner.avoid].slice(0, RECENT_SKIPS);
  }
}

function startSearching(user) {
  user.searchingSince = Date.now();
  send(user, { type: 'searching' });
  tryMatch(user);
}

// Users with interests who waited long enough may now pair with anyone.
setInterval(() => {
  for (const user of [...waiting]) {
    if (user.interests.length > 0 && waiting.includes(user)) {
      waiting = waiting.filter((u) => u !== user);
      tryMatch(user);
    }
  }
}, 1000);

const decoder = new TextDecoder();

const app = uws.App();
app.ws('/ws', {
  maxPayloadLength: 64 * 1024,
  idleTimeout: 120,
  sendPingsAutomatically: true,
  open: (ws) => {
    const user = { id: randomBytes(9).toString('base64url'), ws, closed: false, partner: null, interests: [], avoid: [], searchingSince: 0 };
    ws.getUserData().user = user;
    users.set(user.id, user);
    send(user, { type: 'welcome', id: user.id, online: users.size });
  },
  message: (ws, data, isBinary) => {
    const user = ws.getUserData().user;
    let msg;
    try {
      msg = JSON.parse(decoder.decode(data));
    } catch {
      send(user, { type: 'error', code: 'bad_message', message: 'not JSON' });
      return;
    }
    if (isBinary || !msg || typeof msg.type !== 'string') {
      send(user, { type: 'error', code: 'bad_message', message: 'expected a JSON object with a type' });
      return;
    }
    switch (msg.type) {
      case 'find':
        if (user.partner) endConversation(user, 'skipped');
        waiting = waiting.filter((u) => u !== user);
        user.interests = normalizeInterests(msg.interests);
        startSearching(user);
        break;
      case 'msg':
        if (typeof msg.text !== 'string' || msg.text.length === 0) {
          send(user, { type: 'error', code: 'bad_message', message: 'text must be a non-empty string' });
        } else if (msg.text.length > MAX_TEXT) {
          send(user, { type: 'error', code: 'too_long', message: `at most ${MAX_TEXT} characters` });
        } else if (!user.partner) {
          send(user, { type: 'error', code: 'not_matched', message: 'you have no partner' });
        } else {
          send(user.partner, { type: 'msg', text: msg.text });
        }
        break;
      case 'typing':
        if (user.partner) send(user.partner, { type: 'typing', on: msg.on === true });
        break;
      case 'next':
        endConversation(user, 'skipped');
        waiting = waiting.filter((u) => u !== user);
        startSearching(user);
        break;
      case 'leave':
        endConversation(user, 'left');
        waiting = waiting.filter((u) => u !== user);
        break;
      default:
        send(user, { type: 'error', code: 'bad_message', message: `unknown type ${msg.type}` });
    }
  },
  close: (ws) => {
    const user = ws.getUserData().user;
    user.closed = true;
    endConversation(user, 'disconnected');
    waiting = waiting.filter((u) => u !== user);
    users.delete(user.id);
  },
});
app.get('/healthz', (res) => {
  res.end('ok');
});
app.get('/stats', (res) => {
  res.writeHeader('content-type', 'application/json').end(JSON.stringify({ online: users.size, searching: waiting.length }));
});
app.any('/*', (res) => {
  res.writeStatus('404 Not Found').end();
});

let listenSocket;
function shutdown() {
  for (const user of users.values()) {
    if (user.partner) send(user, { type: 'ended', reason: 'shutdown' });
    if (!user.closed) user.ws.end(1001, 'server shutting down');
  }
  if (listenSocket) uws.us_listen_socket_close(listenSocket);
  setTimeout(() => process.exit(0), 200).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

app.listen(host, port, (token) => {
  if (!token) {
    console.error(`uws reference: cannot listen on ${host}:${port}`);
    process.exit(1);
  }
  listenSocket = token;
  console.log(`uws reference server listening on ws://${host}:${port}/ws${patched ? ' (glibc-patched binary)' : ''}`);
});
