// The floor for bench/ws.mjs: a bare node:net server that accepts sockets and reads nothing
// into anything (no WebSocket at all), what any Node server pays per open socket.
import net from 'node:net';

const port = Number(process.argv[2] ?? 9003);
const server = net.createServer((socket) => {
  socket.on('data', () => {});
  socket.on('error', () => {});
});
server.listen(port, '127.0.0.1', () => console.log(`net server listening on 127.0.0.1:${port}`));
process.on('SIGTERM', () => process.exit(0));
