/**
 * `strangers bench <scenario> --url ws://HOST:PORT/ws [options]`: the load generator.
 * Flags are parsed here; the run itself is src/bench/coordinator.ts.
 */
import { writeFileSync } from 'node:fs';
import { runBench, type BenchOptions } from '../bench/coordinator.js';
import { Scenario } from '../bench/ipc.js';
import { connect, type ConnectionHandler } from '@strangers/websocket';
import { formatProgress, formatSummary, renderHtml } from '../bench/report.js';

const HELP = `usage: strangers bench <idle|chat|churn|flood> --url ws://HOST:PORT/ws [options]

scenarios:
  idle    open the connections, wait for welcome, hold them for --duration
  chat    pairs match, then each client sends --rate messages per second to its partner
  churn   clients repeatedly find, exchange --per-match messages each, and the pair moves on (next)
  flood   pairs send as fast as a window of --window unanswered messages per client allows

options:
  --url URL             the server's WebSocket URL (required); repeat it for several nodes of one
                        cluster: connections are spread over them round-robin
  --connections N       connections in total (default 100)
  --pairs P             same as --connections 2P
  --duration S          seconds the scenario runs once everyone is connected (default 10)
  --warmup S            of those, seconds not measured at the start (default 0)
  --rate R              chat: messages per second per client (default 1)
  --window W            flood: in-flight messages per client (default 16)
  --per-match M         churn: messages per side per conversation (default 2)
  --interests a,b       interests sent with every find (default none)
  --cross-pairs         chat, flood: connections 2k and 2k+1 pair with each other (an interest of
                        their own); with two --url, every pair spans the two nodes
  --resume              chat: clients keep their resume token, acknowledge what they receive (at
                        most once a second), and when the server closes (1012: a node restarting)
                        or the connection drops, reconnect to the next --url (round robin,
                        skipping one that refuses) and resume; replayed messages they already
                        have are set aside. Reports resumes, failures, and the delay of the
                        messages sent or delivered while someone was cut off (restart windows)
                        apart from the steady state
  --size N              pad each message's text to N characters (default: no padding, ~30)
  --ramp N              open at most N connections per second (default 0: as fast as possible)
  --workers N           worker processes (default: one per 15000 connections)
  --concurrency N       handshakes in flight per worker (default 64)
  --connect-timeout MS  handshake + welcome timeout per connection (default 10000)
  --connect-phase S     longest connect phase; what is not connected by then fails as
                        connect_phase_timeout (default 120)
  --grace MS            longest wait for in-flight messages at the end (default 5000)
  --session TOKEN       a session token (POST /session) for a server that runs its session gate:
                        sent as ?session=TOKEN by every connection (default: none, for a server
                        started with --gate off)
  --server-pid PID      sample this server process's CPU and RSS (repeatable, or PID,PID)
  --json FILE           write the full result as JSON
  --html FILE           write a self-contained HTML report
  --quiet               no progress line
  -h, --help            this help

Exit status: 0 when the server behaved (no lost or misdelivered message, no unexpected close,
no connection failure; with --resume: no conversation ended, no failed resume), 1 when it did not (or refused the first connection: a server that requires
a session answers 401), 2 on a bad command line. Ctrl-C stops early with a partial report. On
loopback, worker N binds source address 127.0.0.(N+2).`;

class UsageError extends Error {}

function int(name: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (v === undefined || v === '' || !Number.isInteger(n) || n < min) throw new UsageError(`${name} needs an integer >= ${min}, got '${v ?? ''}'`);
  return n;
}

function num(name: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (v === undefined || v === '' || !Number.isFinite(n) || n < min) throw new UsageError(`${name} needs a number >= ${min}, got '${v ?? ''}'`);
  return n;
}

/** The parsed command line. */
export interface BenchArgs {
  readonly options: Omit<BenchOptions, 'signal' | 'onTick'>;
  readonly json?: string;
  readonly html?: string;
  readonly quiet: boolean;
}

/** Parses argv (without `bench`); throws UsageError with a one-line message; returns 'help' for --help. */
export function parseArgs(argv: readonly string[]): BenchArgs | 'help' {
  if (argv.includes('--help') || argv.includes('-h')) return 'help';
  const [scenario, ...rest] = argv;
  if (scenario === undefined || !(scenario in Scenario)) throw new UsageError(`expected a scenario (idle, chat, churn or flood), got '${scenario ?? ''}'`);
  const o: Record<string, unknown> = { scenario, duration: 10, connections: 100 };
  const serverPids: number[] = [];
  const moreUrls: string[] = [];
  let json: string | undefined;
  let html: string | undefined;
  let quiet = false;
  let session: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i];
    const [name, inline] = flag.startsWith('--') && flag.includes('=') ? [flag.slice(0, flag.indexOf('=')), flag.slice(flag.indexOf('=') + 1)] : [flag, undefined];
    const value = (): string => {
      if (inline !== undefined) return inline;
      const v = rest[++i];
      if (v === undefined) throw new UsageError(`${name} needs a value`);
      return v;
    };
    switch (name) {
      case '--url': {
        const v = value();
        let u: URL;
        try {
          u = new URL(v);
        } catch {
          throw new UsageError(`--url is not a URL: '${v}'`);
        }
        if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new UsageError(`--url must be ws:// or wss://, got '${v}'`);
        if (o.url === undefined) o.url = v;
        else moreUrls.push(v);
        break;
      }
      case '--connections': o.connections = int(name, value(), 1); break;
      case '--pairs': o.connections = 2 * int(name, value(), 1); break;
      case '--duration': o.duration = num(name, value(), 0); break;
      case '--warmup': o.warmup = num(name, value(), 0); break;
      case '--rate': o.rate = num(name, value(), 0.001); break;
      case '--window': o.window = int(name, value(), 1); break;
      case '--per-match': o.perMatch = int(name, value(), 1); break;
      case '--interests': o.interests = value().split(',').map((s) => s.trim()).filter((s) => s !== ''); break;
      case '--size': o.size = int(name, value(), 0); break;
      case '--ramp': o.ramp = num(name, value(), 0); break;
      case '--workers': o.workers = int(name, value(), 1); break;
      case '--concurrency': o.concurrency = int(name, value(), 1); break;
      case '--connect-timeout': o.connectTimeoutMs = int(name, value(), 1); break;
      case '--connect-phase': o.connectPhaseMs = num(name, value(), 1) * 1000; break;
      case '--grace': o.graceMs = int(name, value(), 0); break;
      case '--server-pid': for (const p of value().split(',')) serverPids.push(int(name, p, 1)); break;
      case '--json': json = value(); break;
      case '--html': html = value(); break;
      case '--quiet': quiet = true; break;
      case '--cross-pairs': o.crossPairs = true; break;
      case '--resume': o.resume = true; break;
      case '--session': {
        session = value();
        if (!/^[A-Za-z0-9._~-]+$/.test(session)) throw new UsageError('--session needs a token as POST /session returned it');
        break;
      }
      default: throw new UsageError(`unknown option '${flag}'`);
    }
  }
  if (o.url === undefined) throw new UsageError('--url is required (e.g. --url ws://127.0.0.1:8080/ws)');
  if (o.resume === true && scenario !== 'chat') throw new UsageError('--resume is for the chat scenario');
  if (serverPids.length > 0) o.serverPids = serverPids;
  if (session !== undefined) {
    const withSession = (u: string): string => `${u}${u.includes('?') ? '&' : '?'}session=${session}`;
    o.url = withSession(o.url as string);
    for (let i = 0; i < moreUrls.length; i++) moreUrls[i] = withSession(moreUrls[i]!);
  }
  if (moreUrls.length > 0) o.moreUrls = moreUrls;
  return { options: o as unknown as BenchArgs['options'], json, html, quiet };
}

/** Entry point of `strangers bench`. */
export async function main(argv: string[]): Promise<number> {
  let args: BenchArgs | 'help';
  try {
    args = parseArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`strangers bench: ${err.message} (see --help)`);
      return 2;
    }
    throw err;
  }
  if (args === 'help') {
    console.log(HELP);
    return 0;
  }
  const refused = await probe(args.options.url);
  if (refused !== undefined) {
    console.error(`strangers bench: ${refused}`);
    return 1;
  }
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = (): void => {
    if (++interrupts > 1) process.exit(130);
    process.stderr.write('\nstopping (Ctrl-C again to quit at once)...\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  const tty = process.stderr.isTTY === true && !args.quiet;
  const result = await runBench({
    ...args.options,
    signal: controller.signal,
    onTick: tty ? (p, wanted) => process.stderr.write(`\r${formatProgress(p, wanted)}\x1b[K`) : undefined,
  });
  process.off('SIGINT', onSigint);
  if (tty) process.stderr.write('\n');
  console.log(formatSummary(result));
  if (args.json) writeFileSync(args.json, JSON.stringify(result, null, 2) + '\n');
  if (args.html) writeFileSync(args.html, renderHtml(result));
  return result.ok ? 0 : 1;
}

const quietHandler: ConnectionHandler<unknown> = { message() {}, close() {} };

/**
 * One connection before the run, so that a server that refuses everyone for a reason the user
 * can fix is reported in one line rather than as thousands of failed connections. Returns that
 * line, or undefined to go on (other failures are the run's to report).
 */
async function probe(url: string): Promise<string | undefined> {
  try {
    const conn = await connect(url, { handler: quietHandler, timeoutMs: 5000 });
    conn.close(1000);
    return undefined;
  } catch (err) {
    const status = (err as { status?: unknown }).status;
    if (status === 401) {
      return /[?&]session=/.test(url)
        ? 'the server refused the session (401): it is invalid, expired, or from a server with another secret; get a new one with POST /session'
        : 'the server requires a session (401): run it with --gate off, or pass --session TOKEN';
    }
    return undefined;
  }
}
