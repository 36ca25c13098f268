// A client process for bench/ws.mjs: C connections to an echo server, each keeping W messages
// of S bytes in flight; counts echoes between 'go' and 'stop' and reports its own CPU time.
// `echo-client.mjs URL C W S [chat] [deflate]`: `chat` sends chat-like JSON instead of 'xxx...',
// `deflate` offers permessage-deflate (as a browser does: `permessage-deflate; client_max_window_bits`).
import { connect } from '@strangers/websocket';
import { chatPayload } from './payload.mjs';

const argv = process.argv.slice(2);
const [url, clients, windowSize, size] = argv.map((v, i) => (i === 0 ? v : Number(v)));
const payload = argv.includes('chat') ? chatPayload(size) : 'x'.repeat(size);
const perMessageDeflate = argv.includes('deflate');
let counting = false;
let echoes = 0;
let running = true;
const handler = {
  message(conn) {
    if (counting) echoes++;
    if (running) conn.send(payload);
  },
  close() {},
};
const conns = await Promise.all(Array.from({ length: clients }, () => connect(url, { handler, perMessageDeflate })));
process.send({ t: 'ready' });
process.on('message', (m) => {
  if (m.t === 'go') {
    for (const c of conns) for (let i = 0; i < windowSize; i++) c.send(payload);
    setTimeout(() => {
      counting = true;
      echoes = 0;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      process.once('message', () => {
        counting = false;
        running = false;
        const u = process.cpuUsage(cpu0);
        process.send({ t: 'done', echoes, seconds: (performance.now() - t0) / 1000, cpu: (u.user + u.system) / 1e6 });
        for (const c of conns) c.close(1000);
        setTimeout(() => process.exit(0), 500);
      });
      process.send({ t: 'counting' });
    }, 500);
  }
});
process.on('SIGINT', () => {});
