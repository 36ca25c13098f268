/** The real Strangers server, in this process, for the browser tests. */
import { createServer } from '../../src/http/server.js';

export interface TestServer {
  readonly port: number;
  /** Graceful stop: matched users get `ended: shutdown`, sockets close with 1001. */
  close(): Promise<void>;
}

/** Starts a server on 127.0.0.1 (`port` 0: any free port) with the in-memory engine. */
export async function startTestServer(port: number): Promise<TestServer> {
  const server = await createServer({ host: '127.0.0.1', port, logLevel: 'silent', drainTimeoutMs: 2000, maxPerIp: 0 });
  const address = await server.listen();
  return { port: address.port, close: () => server.stop('test') };
}
