/**
 * The server's logger: pino, one JSON object per line when stdout is not a terminal (for log
 * collectors); a short plain line on a terminal, for people.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

const LEVEL_NAMES: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** Formats pino's JSON lines as `12:00:00 INFO message key=value ...` (a minimal pino-pretty). */
function plainDestination(out: NodeJS.WritableStream): { write(line: string): void } {
  return {
    write(line: string): void {
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(line) as Record<string, unknown>;
      } catch {
        out.write(line);
        return;
      }
      const { time, level, msg, pid: _pid, hostname: _host, ...rest } = o;
      const t = new Date(typeof time === 'number' ? time : Date.now()).toTimeString().slice(0, 8);
      const extra = Object.entries(rest)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      out.write(`${t} ${LEVEL_NAMES[level as number] ?? String(level)} ${String(msg ?? '')}${extra ? ' ' + extra : ''}\n`);
    },
  };
}

/**
 * Lines logged at `error` or `fatal` by the loggers of this process (our own failures: a handler
 * that threw, a drain that failed, Redis errors...), for `strangers_log_errors_total`.
 */
export const logStats = { errors: 0 };

/** Creates the logger; `pretty` defaults to whether stdout is a terminal. */
export function createLogger(level: LevelWithSilent = 'info', pretty = process.stdout.isTTY === true): Logger {
  const options = {
    level,
    base: { pid: process.pid },
    name: 'strangers',
    hooks: {
      logMethod(this: Logger, args: Parameters<Logger['info']>, method: Logger['info'], n: number): void {
        if (n >= 50) logStats.errors++;
        method.apply(this, args);
      },
    },
  };
  return pretty ? pino(options, plainDestination(process.stdout)) : pino(options);
}
