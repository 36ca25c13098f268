/**
 * `strangers echo` (also `npm run echo -- --port 9001`): a WebSocket echo server on our own
 * RFC 6455 layer, for conformance testing with the Autobahn TestSuite's fuzzingclient and for
 * our own conformance and interop tests. It answers the upgrade on any path and sends every
 * text or binary message back with the same opcode.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { WebSocketServer, type ConnectionHandler, type WebSocketServerOptions } from '../ws/index.js';

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

const USAGE = 'usage: strangers echo [--host 127.0.0.1] [--port 9001] [--max-message-size BYTES]';

function parsePort(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new TypeError(`invalid --port '${value}' (expected 0-65535)`);
  return n;
}

/** CLI entry: returns 2 on a bad flag; otherwise runs until SIGINT/SIGTERM. */
export async function main(argv: string[]): Promise<number | void> {
  let host: string;
  let port: number;
  let maxMessageSize: number;
  try {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string' },
        'max-message-size': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    host = values.host ?? '127.0.0.1';
    port = parsePort(values.port, 9001);
    const max = values['max-message-size'];
    maxMessageSize = max === undefined ? ECHO_MAX_MESSAGE_SIZE : Number(max);
    if (!Number.isSafeInteger(maxMessageSize) || maxMessageSize < 1) {
      throw new TypeError(`invalid --max-message-size '${max}' (expected a positive integer)`);
    }
  } catch (err) {
    console.error(`strangers echo: ${(err as Error).message.split('\n')[0]}`);
    return 2;
  }
  let server: EchoServer;
  try {
    server = await startEchoServer({ host, port, maxMessageSize, maxBufferedBytes: 4 * Math.max(maxMessageSize, 1 << 20) });
  } catch (err) {
    console.error(`strangers echo: cannot listen on ${host}:${port}: ${(err as Error).message}`);
    return 1;
  }
  console.log(`echo server listening on ${server.url}`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.close();
  return 0;
}

// `node dist/src/cli/echo.js` (what `npm run echo` runs) starts the server directly.
// No top-level await: the single binary bundles this module as CommonJS.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main(process.argv.slice(2)).then((code) => {
    if (typeof code === 'number') process.exitCode = code;
  });
}
