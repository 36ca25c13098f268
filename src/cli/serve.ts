/**
 * `strangers serve`: runs the chat server (src/cli/run-server.ts) until SIGTERM/SIGINT, then
 * drains it (bounded by --drain-timeout); SIGHUP reloads the TLS certificate. Exit codes: 0 after
 * a clean stop, 1 when it could not start, 2 on a bad setting (one line on stderr naming it).
 */
import { ConfigError, helpText, parseServeArgs } from './config.js';
import { runServer } from './run-server.js';

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
  return runServer(config);
}
