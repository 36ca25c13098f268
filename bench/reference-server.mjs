#!/usr/bin/env node
// The reference for `npm run bench`: the Strangers wire protocol (docs/protocol.md) on the
// `ws` package, written the way a typical Node developer would write it: plain and correct
// (the chat logic, shared with the uWebSockets.js reference, is bench/lib/reference-chat.mjs),
// ws's documented heartbeat pattern. Not tuned, and not sabotaged either.
//
//   node bench/reference-server.mjs [--port 8090] [--host 127.0.0.1]
import http from 'node:http';
import { WebSocketServer } from 'ws';
import { referenceAddress, referenceChat } from './lib/reference-chat.mjs';

const { port, host } = referenceAddress(process.argv.slice(2));

const chat = referenceChat((ws, text) => {
  if (ws.readyState === ws.OPEN) ws.send(text);
});

const server = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    res.end('ok');
    return;
  }
  if (req.url === '/stats') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(chat.stats()));
    return;
  }
  res.statusCode = 404;
  res.end();
});

const wss = new WebSocketServer({ server, path: '/ws', maxPayload: 64 * 1024 });

wss.on('connection', (ws) => {
  const user = chat.open(ws);
  ws.isAlive = true;
  ws.on('pong', () => {
    ws.isAlive = true;
  });
  ws.on('message', (data, isBinary) => chat.message(user, data.toString(), isBinary));
  ws.on('close', () => chat.close(user));
  ws.on('error', () => {});
});

// ws's documented way to detect broken connections.
const heartbeat = setInterval(() => {
  for (const ws of wss.clients) {
    if (ws.isAlive === false) {
      ws.terminate();
      continue;
    }
    ws.isAlive = false;
    ws.ping();
  }
}, 30000);

function shutdown() {
  clearInterval(heartbeat);
  chat.shutdown();
  for (const user of chat.users.values()) user.ws.close(1001, 'server shutting down');
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

server.listen(port, host, () => {
  console.log(`reference server listening on ws://${host}:${server.address().port}/ws`);
});
