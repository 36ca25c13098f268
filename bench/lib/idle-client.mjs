// A client process for bench/ws.mjs: opens N idle connections (WebSocket handshakes with our
// client, or bare TCP) from one source address, reports when all are open, holds them until
// the parent disconnects. Started with child_process.fork.
// Mode `ws-deflate`: each connection offers permessage-deflate, sends one message of
// IDLE_MESSAGE (2 KiB of chat-like JSON, compressed) and counts as open once its echo is back:
// an idle connection that has been used, which is when zlib contexts exist.
import net from 'node:net';
import { connect } from '@strangers/websocket';
import { chatPayload } from './payload.mjs';

const [url, count, localAddress, mode] = process.argv.slice(2);
const n = Number(count);
const target = new URL(url);
const deflate = mode === 'ws-deflate';
const IDLE_MESSAGE = chatPayload(2048);
const waiting = new Map();
const handler = {
  message(conn) {
    const settle = waiting.get(conn);
    waiting.delete(conn);
    settle?.(true, conn);
  },
  close(conn) {
    const settle = waiting.get(conn);
    waiting.delete(conn);
    settle?.(false);
  },
};
const held = [];
let open = 0;
let failed = 0;
let launched = 0;
let inflight = 0;
const CONCURRENCY = 64;
const t0 = performance.now();

function done() {
  if (open + failed === n) process.send({ t: 'open', open, failed, seconds: (performance.now() - t0) / 1000 });
}
function one() {
  launched++;
  inflight++;
  const settle = (ok, conn) => {
    inflight--;
    if (ok) {
      open++;
      held.push(conn);
    } else failed++;
    launch();
    done();
  };
  if (mode === 'tcp') {
    const s = net.connect({ host: target.hostname, port: Number(target.port), localAddress });
    s.once('connect', () => settle(true, s));
    s.once('error', () => settle(false));
  } else if (deflate) {
    // The client side frees its deflate context after each message (client_no_context_takeover
    // offered): the client processes hold thousands of connections too. It changes nothing for
    // what the servers keep.
    connect(url, { handler, localAddress, timeoutMs: 20000, perMessageDeflate: { clientNoContextTakeover: true } }).then((c) => {
      waiting.set(c, settle);
      c.send(IDLE_MESSAGE);
    }, () => settle(false));
  } else {
    connect(url, { handler, localAddress, timeoutMs: 20000 }).then((c) => settle(true, c), () => settle(false));
  }
}
function launch() {
  while (launched < n && inflight < CONCURRENCY) one();
}
launch();
process.on('SIGINT', () => {});
process.on('disconnect', () => process.exit(0));
