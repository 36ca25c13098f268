#!/usr/bin/env node
// An echo WebSocket server on every path: each text or binary message goes back with its opcode.
// It is the program conformance tools (the Autobahn TestSuite's fuzzingclient, our own suite) are
// pointed at.
//
//   node examples/echo.mjs --port 9001 [--host 127.0.0.1] [--max-message-size BYTES] [--deflate]
//
// --deflate accepts permessage-deflate (RFC 7692) from clients that offer it, with the library's
// defaults (no context takeover either way, messages under 1 KiB sent as they are); without it,
// offers are declined.
// Prints `echo server listening on ws://HOST:PORT` once it listens (--port 0 picks a free port);
// SIGINT or SIGTERM closes every connection with 1001 and exits 0; a bad flag exits 2.
import http from 'node:http';
import { parseArgs } from 'node:util';
import { WebSocketServer } from '@strangers/websocket';

const USAGE = 'usage: node examples/echo.mjs [--host 127.0.0.1] [--port 9001] [--max-message-size BYTES] [--deflate]';

function fail(message) {
  console.error(`echo: ${message}`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    strict: true,
    allowPositionals: false,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '9001' },
      // The Autobahn TestSuite sends messages of 16 MiB.
      'max-message-size': { type: 'string', default: String(16 * 1024 * 1024 + 1024) },
      deflate: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (err) {
  fail(err.message.split('\n')[0]);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const port = Number(values.port);
if (!/^\d+$/.test(values.port) || port > 65535) fail(`invalid --port '${values.port}' (expected 0-65535)`);
const maxMessageSize = Number(values['max-message-size']);
if (!Number.isSafeInteger(maxMessageSize) || maxMessageSize < 1) {
  fail(`invalid --max-message-size '${values['max-message-size']}' (expected a positive integer)`);
}

const wss = new WebSocketServer({
  maxMessageSize,
  // An echo of the largest message is queued whole: the cap must admit it.
  maxBufferedBytes: 4 * Math.max(maxMessageSize, 1 << 20),
  perMessageDeflate: values.deflate,
  handler: {
    message(conn, data, isBinary) {
      conn.send(data, isBinary);
    },
    close() {},
  },
});
// Not an upgrade: RFC 6455 4.2.1 wants an HTTP error.
const server = http.createServer((_req, res) => {
  res.writeHead(400, { 'Content-Type': 'text/plain', Connection: 'close' });
  res.end('expected a WebSocket upgrade request\n');
});
wss.attach(server);
server.once('error', (err) => {
  console.error(`echo: cannot listen on ${values.host}:${port}: ${err.message}`);
  process.exit(1);
});
server.listen(port, values.host, () => {
  const { port: actual } = server.address();
  const host = values.host.includes(':') ? `[${values.host}]` : values.host;
  console.log(`echo server listening on ws://${host}:${actual}`);
});

async function stop() {
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  const closed = new Promise((resolve) => server.close(resolve));
  await wss.close(1001);
  server.closeAllConnections();
  await closed;
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
