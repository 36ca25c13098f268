/** The real Strangers server, in this process, for the browser tests. */
import { createServer, type ServerConfig } from '../../src/http/server.js';

export interface TestServer {
  readonly port: number;
  /** Reports received, by reason (what the page sent). */
  reports(): Readonly<Record<string, number>>;
  /** Graceful stop: matched users get `ended: shutdown`, sockets close with 1001. */
  close(): Promise<void>;
}

/**
 * Starts a server on 127.0.0.1 (`port` 0: any free port) with the in-memory engine and the
 * session gate ON, as `npm start` runs it, with cheaper challenges (`powCost`) so that the pages
 * solve them in a fraction of a second. No secret: each start has a new random one, so a restart
 * invalidates every session, as a real one-process restart does.
 */
export async function startTestServer(port: number, config: ServerConfig = {}): Promise<TestServer> {
  const server = await createServer({ host: '127.0.0.1', port, logLevel: 'silent', drainTimeoutMs: 2000, maxPerIp: 0, gate: true, powCost: 100, ...config, chat: { resumeWindowMs: 0, ...config.chat } });
  const address = await server.listen();
  return { port: address.port, reports: () => server.chat.moderation.stats.reports, close: () => server.stop('test') };
}
