// The `ws` equivalent of `strangers echo` for bench/ws.mjs: every message back with its opcode.
// `node ws-echo-server.mjs PORT [deflate]`: with `deflate`, permessage-deflate with ws's defaults
// (`perMessageDeflate: true`: context takeover both ways, 1 KiB threshold).
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2] ?? 9002);
const deflate = process.argv[3] === 'deflate';
const wss = new WebSocketServer({ host: '127.0.0.1', port, maxPayload: 16 * 1024 * 1024 + 1024, perMessageDeflate: deflate });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
wss.on('listening', () => console.log(`ws echo server listening on ws://127.0.0.1:${port}`));
process.on('SIGTERM', () => process.exit(0));
