/**
 * Shared setup of the conformance files: an echo server started in-process on port 0 for the
 * whole file, and `wsCase()` which opens a fresh raw connection per case and always cleans up.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { WebSocketServer, type ConnectionHandler, type WebSocketServerOptions } from '@strangers/websocket';
import { startEchoServer, type EchoServer, type EchoServerOptions } from '../echo-server.js';
import { RawClient } from './raw-client.js';

/** Handle to the file's echo server (valid inside tests). */
export interface EchoFixture {
  readonly server: EchoServer;
  readonly port: number;
}

/**
 * Starts an echo server before the file's tests and stops it after. closeTimeoutMs is long so
 * that a TCP end seen within the client's wait proves the server ended on the close handshake,
 * not on its timeout.
 */
export function useEchoServer(options: EchoServerOptions = {}): EchoFixture {
  let server: EchoServer | undefined;
  before(async () => {
    server = await startEchoServer({ port: 0, closeTimeoutMs: 10_000, heartbeatIntervalMs: 0, ...options });
  });
  after(async () => {
    await server?.close();
  });
  return {
    get server(): EchoServer {
      if (server === undefined) throw new Error('echo server not started');
      return server;
    },
    get port(): number {
      return this.server.port;
    },
  };
}

/** One conformance case on its own connection. */
export function wsCase(fixture: EchoFixture, id: string, title: string, body: (c: RawClient) => Promise<void>,
  timeoutMs = 15_000): void {
  test(`${id} ${title}`, { timeout: timeoutMs }, async () => {
    const c = await RawClient.open(fixture.port);
    try {
      await body(c);
    } finally {
      c.destroy();
    }
  });
}

/** Handle to a file's server with its own handler (valid inside tests). */
export interface HandlerServer {
  readonly port: number;
  readonly wss: WebSocketServer;
}

/**
 * Starts an http server with a WebSocketServer for `handler` on 127.0.0.1, port 0, before the
 * file's tests, and stops it after. `onSocket` sees each accepted TCP socket first.
 */
export function useHandlerServer(handler: ConnectionHandler, options: Omit<WebSocketServerOptions, 'handler'> = {}, onSocket?: (socket: Socket) => void): HandlerServer {
  let server: http.Server | undefined;
  let wss: WebSocketServer | undefined;
  let port = 0;
  before(async () => {
    server = http.createServer();
    if (onSocket !== undefined) server.on('connection', onSocket);
    wss = new WebSocketServer({ handler, ...options }).attach(server);
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    await wss?.close();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
  });
  return {
    get port(): number {
      return port;
    },
    get wss(): WebSocketServer {
      if (wss === undefined) throw new Error('server not started');
      return wss;
    },
  };
}
