/**
 * `strangers serve`: runs the chat server until SIGTERM/SIGINT, then drains it (bounded by
 * --drain-timeout). Exit codes: 0 after a clean stop, 1 when it could not start, 2 on a bad
 * setting (one line on stderr naming it).
 */
import { createServer } from '../http/server.js';
import { createLogger } from '../http/log.js';
import { ConfigError, helpText, parseServeArgs, type ServeConfig } from './config.js';

export async function main(argv: string[]): Promise<number | void> {
  let parsed;
  try {
    parsed = parseServeArgs(argv);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`strangers serve: ${err.message}\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(helpText() + '\n');
    return 0;
  }
  const config = parsed.config;
  if (config.workers > 1) {
    // Loaded only when asked for (node:cluster and the primary's bookkeeping).
    const { runWorkers } = await import('./workers.js');
    return runWorkers(config);
  }
  return serve(config);
}

/**
 * Runs one server process until one of `signals`; resolves with the exit code.
 * (A cluster worker listens to SIGTERM only: its primary turns Ctrl-C into one SIGTERM.)
 */
export async function serve(config: ServeConfig, signals: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT']): Promise<number> {
  const log = createLogger(config.logLevel ?? 'info');
  let server;
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
    return 1;
  }
  const s = server;
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
