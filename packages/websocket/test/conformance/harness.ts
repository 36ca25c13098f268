/**
 * Shared setup of the conformance files: an echo server started in-process on port 0 for the
 * whole file, and `wsCase()` which opens a fresh raw connection per case and always cleans up.
 */
import { after, before, test } from 'node:test';
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
