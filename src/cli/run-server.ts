/**
 * One server process, from start to exit: `strangers serve` without `--workers`, and each worker
 * of `--workers` (src/cli/workers.ts). Both import it; it imports neither.
 *
 * SIGHUP reloads the TLS certificate and key (new handshakes only; a bad pair is refused and the
 * current one kept); the stop signals drain the server (bounded by --drain-timeout).
 */
import { createServer, type StrangersServer } from '../http/server.js';
import { createLogger } from '../http/log.js';
import type { ServeConfig } from './config.js';

export interface RunOptions {
  /**
   * Signals that start the drain. A cluster worker listens to SIGTERM only: its primary turns
   * Ctrl-C into one SIGTERM. @default ['SIGTERM', 'SIGINT']
   */
  signals?: readonly NodeJS.Signals[];
  /** Called once the server listens (a cluster worker wires its metrics to the primary here). */
  onListening?: (server: StrangersServer) => void;
}

/** Runs one server process until one of the stop signals; resolves with the exit code. */
export async function runServer(config: ServeConfig, options: RunOptions = {}): Promise<number> {
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  const log = createLogger(config.logLevel ?? 'info');
  let server: StrangersServer | undefined;
  let listening = false;
  // At once, before anything slow: SIGHUP's default action would end the process. A SIGHUP
  // before the server listens changes nothing: the files are being read for the start.
  const onHangup = (): void => {
    if (listening) server?.reloadTls();
    else log.info({ event: 'tls_reload', ok: false }, 'SIGHUP while starting: the certificate files are read at start');
  };
  process.on('SIGHUP', onHangup);
  try {
    server = await createServer({ ...config, logger: log });
    await server.listen();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    log.error({ event: 'error', code: e.code, err: e.message }, `could not start: ${e.message}`);
    try {
      await server?.stop('start failed');
    } catch {
      // best effort
    }
    process.off('SIGHUP', onHangup);
    return 1;
  }
  listening = true;
  const s = server;
  options.onListening?.(s);
  process.on('uncaughtException', (err) => {
    log.fatal({ event: 'error', err }, 'uncaught exception');
    void s.stop('crash').finally(() => process.exit(1));
  });
  process.on('unhandledRejection', (reason) => {
    log.error({ event: 'error', err: reason instanceof Error ? reason : String(reason) }, 'unhandled rejection');
  });
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const once = (sig: NodeJS.Signals): void => {
      for (const name of signals) {
        process.off(name, once);
        // A second signal during the drain exits at once.
        process.once(name, () => process.exit(1));
      }
      resolve(sig);
    };
    for (const name of signals) process.on(name, once);
  });
  await s.stop(signal);
  // Whatever still holds the event loop (a reconnecting client library...) must not keep us up.
  setTimeout(() => process.exit(0), 1000).unref();
  return 0;
}
