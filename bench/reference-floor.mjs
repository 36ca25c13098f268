#!/usr/bin/env node
// A measuring stick, not a server: the least a Node program on `node:net` can do to serve the
// benchmark's load, so that what Node's public socket API costs by itself can be told apart from
// what a WebSocket library and a chat add. The same chat logic as the `ws` and uWebSockets.js
// references (bench/lib/reference-chat.mjs); the transport is a `node:net` server that answers
// the handshake with the accept key and nothing else, parses only what the load generator sends
// (masked frames, no fragments, no extensions), writes each frame with one `socket.write`, has no
// heartbeat, no limits and no error handling worth the name. Never expose it: it trusts its peer.
//
//   node bench/reference-floor.mjs [--port 8090] [--host 127.0.0.1]
import { createHash } from 'node:crypto';
import net from 'node:net';
import { referenceAddress, referenceChat } from './lib/reference-chat.mjs';

const { port, host } = referenceAddress(process.argv.slice(2));

/** One unmasked text frame. */
function frame(text) {
  const len = Buffer.byteLength(text);
  const head = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const buf = Buffer.allocUnsafe(head + len);
  buf[0] = 0x81;
  if (head === 2) buf[1] = len;
  else if (head === 4) {
    buf[1] = 126;
    buf.writeUInt16BE(len, 2);
  } else {
    buf[1] = 127;
    buf.writeBigUInt64BE(BigInt(len), 2);
  }
  buf.write(text, head, 'utf8');
  return buf;
}

const chat = referenceChat((socket, text) => {
  if (!socket.destroyed) socket.write(frame(text));
});

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  let pending = Buffer.alloc(0);
  let user = null;
  socket.on('data', (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    if (user === null) {
      const end = pending.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = pending.subarray(0, end).toString('latin1');
      pending = pending.subarray(end + 4);
      const path = head.slice(head.indexOf(' ') + 1, head.indexOf(' ', head.indexOf(' ') + 1));
      if (path === '/healthz' || path === '/stats') {
        const body = path === '/healthz' ? 'ok' : JSON.stringify(chat.stats());
        socket.end(`HTTP/1.1 200 OK\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
        return;
      }
      const key = /\r\nsec-websocket-key:\s*(\S+)/i.exec(head)?.[1];
      if (key === undefined) {
        socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
        return;
      }
      const accept = createHash('sha1').update(key + GUID).digest('base64');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`);
      user = chat.open(socket);
    }
    // Whole masked frames; a partial one waits for the next read.
    let off = 0;
    while (pending.length - off >= 6) {
      const opcode = pending[off] & 0x0f;
      let len = pending[off + 1] & 0x7f;
      let at = off + 2;
      if (len === 126) {
        if (pending.length - off < 8) break;
        len = pending.readUInt16BE(at);
        at += 2;
      } else if (len === 127) {
        if (pending.length - off < 14) break;
        len = Number(pending.readBigUInt64BE(at));
        at += 8;
      }
      if (pending.length < at + 4 + len) break;
      const mask = pending.subarray(at, at + 4);
      const payload = Buffer.allocUnsafe(len);
      for (let i = 0; i < len; i++) payload[i] = pending[at + 4 + i] ^ mask[i & 3];
      off = at + 4 + len;
      if (opcode === 0x1) chat.message(user, payload.toString('utf8'), false);
      else if (opcode === 0x8) {
        socket.end(Buffer.from([0x88, 0]));
        break;
      }
    }
    pending = off === pending.length ? Buffer.alloc(0) : pending.subarray(off);
  });
  socket.on('close', () => {
    if (user !== null) chat.close(user);
  });
  socket.on('error', () => {});
});

function shutdown() {
  chat.shutdown();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

server.listen(port, host, () => {
  console.log(`floor reference listening on ws://${host}:${server.address().port}/ws`);
});
