/**
 * The echo server of the conformance and interop tests, in-process, with any server options
 * (examples/echo.mjs is the same server as a program). It answers the upgrade on any path and
 * sends every text or binary message back with the same opcode.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type ConnectionHandler, type WebSocketServerOptions } from '@strangers/websocket';

/** Autobahn section 9 sends 16 MiB messages; leave room for them. */
export const ECHO_MAX_MESSAGE_SIZE = 16 * 1024 * 1024 + 1024;

/** The echo handler: one object shared by every connection. */
const echoHandler: ConnectionHandler = {
  message(conn, data, isBinary) {
    conn.send(data, isBinary);
  },
  close() {},
};

/** Options of {@link startEchoServer}. */
export interface EchoServerOptions extends Omit<WebSocketServerOptions, 'handler'> {
  /** @default '127.0.0.1' */
  host?: string;
  /** 0 picks a free port. @default 9001 */
  port?: number;
}

/** A running echo server. */
export interface EchoServer {
  readonly http: http.Server;
  readonly wss: WebSocketServer;
  readonly host: string;
  readonly port: number;
  /** `ws://host:port` */
  readonly url: string;
  /** Closes every connection (1001) and the listening socket. */
  close(): Promise<void>;
}

/** Starts an echo server; resolves once it listens. */
export async function startEchoServer(options: EchoServerOptions = {}): Promise<EchoServer> {
  const { host = '127.0.0.1', port = 9001, ...wsOptions } = options;
  const wss = new WebSocketServer({
    maxMessageSize: ECHO_MAX_MESSAGE_SIZE,
    // An echo of a 16 MiB message is queued whole: the cap must admit it.
    maxBufferedBytes: 4 * ECHO_MAX_MESSAGE_SIZE,
    ...wsOptions,
    handler: echoHandler,
  });
  // Not an upgrade (no `Upgrade`/`Connection: upgrade`): RFC 6455 4.2.1 wants an HTTP error.
  const server = http.createServer((_req, res) => {
    const body = 'expected a WebSocket upgrade request\n';
    res.writeHead(400, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
    res.end(body);
  });
  wss.attach(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    http: server,
    wss,
    host,
    port: actual,
    url: `ws://${host.includes(':') ? `[${host}]` : host}:${actual}`,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await wss.close(1001);
      server.closeAllConnections();
      await closed;
    },
  };
}
