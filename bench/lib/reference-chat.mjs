// The chat logic of the benchmark's reference servers (bench/reference-server.mjs on `ws`,
// bench/reference-uws.mjs on uWebSockets.js): the Strangers wire protocol (docs/protocol.md)
// written the way a typical Node developer would, plain and correct: a Map of users, an array as
// the waiting queue, one JSON object per frame. Not tuned, and not sabotaged either. Only the
// transport differs between the two servers: each gives `sendText(ws, text)` and calls
// `open`, `message` and `close`.
import { randomBytes } from 'node:crypto';

const MAX_TEXT = 2000;
const INTEREST_WAIT_MS = 5000;
const RECENT_SKIPS = 5;

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

/** The reference servers' command line: `[--port 8090] [--host 127.0.0.1]`. */
export function referenceAddress(args) {
  const flag = (name, fallback) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : fallback;
  };
  return { port: Number(flag('--port', '8090')), host: flag('--host', '127.0.0.1') };
}

/** `sendText(ws, text)` writes one text frame; it is called only for users not closed. */
export function referenceChat(sendText) {
  const users = new Map(); // id -> user
  let waiting = []; // users searching, longest-waiting first

  function send(user, msg) {
    if (!user.closed) sendText(user.ws, JSON.stringify(msg));
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
  const regroup = setInterval(() => {
    for (const user of [...waiting]) {
      if (user.interests.length > 0 && waiting.includes(user)) {
        waiting = waiting.filter((u) => u !== user);
        tryMatch(user);
      }
    }
  }, 1000);

  return {
    users,
    stats: () => ({ online: users.size, searching: waiting.length }),
    /** A new connection: its user, welcomed. */
    open(ws) {
      const user = { id: randomBytes(9).toString('base64url'), ws, closed: false, partner: null, interests: [], avoid: [], searchingSince: 0 };
      users.set(user.id, user);
      send(user, { type: 'welcome', id: user.id, online: users.size });
      return user;
    },
    message(user, text, isBinary) {
      let msg;
      try {
        msg = JSON.parse(text);
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
    close(user) {
      user.closed = true;
      endConversation(user, 'disconnected');
      waiting = waiting.filter((u) => u !== user);
      users.delete(user.id);
    },
    /** Shutdown: matched users hear `ended: shutdown`; the caller closes the sockets. */
    shutdown() {
      clearInterval(regroup);
      for (const user of users.values()) if (user.partner) send(user, { type: 'ended', reason: 'shutdown' });
    },
  };
}
