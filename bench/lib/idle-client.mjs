// A client process for bench/ws.mjs: opens N idle connections (WebSocket handshakes with our
// client, or bare TCP) from one source address, reports when all are open, holds them until
// the parent disconnects. Started with child_process.fork.
import net from 'node:net';
import { connect } from '@strangers/websocket';

const [url, count, localAddress, mode] = process.argv.slice(2);
const n = Number(count);
const target = new URL(url);
const handler = { message() {}, close() {} };
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
