#!/usr/bin/env node
// The second reference for `npm run bench`: the same Strangers wire protocol (docs/protocol.md)
// and the same plain chat logic as bench/reference-server.mjs (bench/lib/reference-chat.mjs), on
// uWebSockets.js (C++; npm `@btc-vision/uwebsockets.js`, loaded by bench/lib/uws.cjs, which
// makes it load on glibc 2.36). Only the transport differs: uWS's own HTTP and WebSocket server,
// its automatic pings (idleTimeout 120 s) instead of ws's heartbeat loop. Not tuned, not
// sabotaged: what a Node developer writes after reading the uWS examples.
//
//   node bench/reference-uws.mjs [--port 8090] [--host 127.0.0.1]
import { createRequire } from 'node:module';
import { referenceAddress, referenceChat } from './lib/reference-chat.mjs';

const { uws, patched } = createRequire(import.meta.url)('./lib/uws.cjs');

const { port, host } = referenceAddress(process.argv.slice(2));

const chat = referenceChat((ws, text) => ws.send(text, false));
const decoder = new TextDecoder();

const app = uws.App();
app.ws('/ws', {
  maxPayloadLength: 64 * 1024,
  idleTimeout: 120,
  sendPingsAutomatically: true,
  open: (ws) => {
    ws.getUserData().user = chat.open(ws);
  },
  message: (ws, data, isBinary) => chat.message(ws.getUserData().user, decoder.decode(data), isBinary),
  close: (ws) => chat.close(ws.getUserData().user),
});
app.get('/healthz', (res) => {
  res.end('ok');
});
app.get('/stats', (res) => {
  res.writeHeader('content-type', 'application/json').end(JSON.stringify(chat.stats()));
});
app.any('/*', (res) => {
  res.writeStatus('404 Not Found').end();
});

let listenSocket;
function shutdown() {
  chat.shutdown();
  for (const user of chat.users.values()) if (!user.closed) user.ws.end(1001, 'server shutting down');
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
