/**
 * `strangers serve` settings: command-line flags, each also readable from an environment
 * variable (`--max-per-ip` <-> `STRANGERS_MAX_PER_IP`); a flag wins over its variable.
 * A bad value is a {@link ConfigError} whose message is one line naming the setting.
 */
import { accessSync, constants } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { defaultChatOptions } from '../chat/options.js';
import { serverConfigDefaults, type ServerConfig } from '../http/server.js';

/** The full serve configuration: the server's plus process-level settings. */
export interface ServeConfig extends ServerConfig {
  /** Processes to run (more than 1 needs Redis; see src/cli/workers.ts). @default 1 */
  workers: number;
}

export class ConfigError extends Error {
  readonly code = 'bad_config';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
type LogLevel = (typeof LOG_LEVELS)[number];

type Kind = 'flag' | 'switch' | 'string' | 'int' | 'workers' | 'duration' | 'list' | 'url' | 'seeds' | 'file' | 'level' | 'secret';

interface Setting {
  readonly flag: string;
  readonly kind: Kind;
  readonly def: string;
  readonly help: string;
  readonly min?: number;
  readonly max?: number;
}

/** Every setting, in `--help` order. `def` is shown in help and used when neither flag nor variable is set. */
export const settings: readonly Setting[] = [
  { flag: 'host', kind: 'string', def: serverConfigDefaults.host, help: 'address to listen on' },
  { flag: 'port', kind: 'int', def: String(serverConfigDefaults.port), min: 0, max: 65535, help: 'port to listen on (0: any free port)' },
  { flag: 'tls-cert', kind: 'file', def: '', help: 'PEM certificate file: serve https:// and wss:// (needs --tls-key)' },
  { flag: 'tls-key', kind: 'file', def: '', help: 'PEM private key file (needs --tls-cert)' },
  { flag: 'origins', kind: 'list', def: '', help: "comma-separated Origin values allowed for /ws besides the page's own ('*': any)" },
  { flag: 'rate-limit', kind: 'int', def: String(defaultChatOptions.rateLimit), min: 0, max: 1_000_000, help: 'messages per second per connection (0: off)' },
  { flag: 'rate-burst', kind: 'int', def: String(defaultChatOptions.rateBurst), min: 1, max: 1_000_000, help: 'messages a connection may send in a burst' },
  { flag: 'max-per-ip', kind: 'int', def: String(serverConfigDefaults.maxPerIp), min: 0, max: 1_000_000, help: 'connections per client address (IPv6: per prefix), else 429 (0: no limit)' },
  { flag: 'ipv6-prefix', kind: 'int', def: String(serverConfigDefaults.ipv6Prefix), min: 1, max: 128, help: 'IPv6 clients are limited and banned per prefix of this length' },
  { flag: 'max-connections', kind: 'int', def: String(serverConfigDefaults.maxConnections), min: 0, max: 10_000_000, help: 'connections in total, else 503 (0: no limit)' },
  { flag: 'max-message-chars', kind: 'int', def: String(defaultChatOptions.maxMessageChars), min: 1, max: 100_000, help: 'longest chat message in characters (too_long beyond)' },
  { flag: 'interest-wait', kind: 'duration', def: `${defaultChatOptions.interestWaitMs / 1000}s`, help: 'wait for a shared interest, then pair with anyone (e.g. 5s, 500ms)' },
  { flag: 'heartbeat', kind: 'duration', def: `${serverConfigDefaults.heartbeatMs / 1000}s`, help: 'ping interval; a peer silent for two is disconnected (0: off)' },
  { flag: 'resume-window', kind: 'duration', def: `${defaultChatOptions.resumeWindowMs / 1000}s`, help: 'a user whose connection drops keeps its conversation (or search) this long for a resume (0: off)' },
  { flag: 'drain-timeout', kind: 'duration', def: `${serverConfigDefaults.drainTimeoutMs / 1000}s`, help: 'longest graceful shutdown on SIGTERM/SIGINT' },
  { flag: 'gate', kind: 'switch', def: 'on', help: 'proof-of-work session gate: on (a WebSocket needs a session, else 401) or off (tests, benchmarks, private use)' },
  { flag: 'pow-cost', kind: 'int', def: String(serverConfigDefaults.powCost), min: 1, max: 10_000_000, help: 'PBKDF2 iterations per attempt of a challenge (4096 attempts expected; raised up to 16x for busy addresses)' },
  { flag: 'session-ttl', kind: 'duration', def: '24h', max: 30 * 86_400_000, help: 'how long a session lasts (e.g. 24h, 90m)' },
  { flag: 'max-per-person', kind: 'int', def: String(serverConfigDefaults.maxPerPerson), min: 0, max: 1_000_000, help: 'connections one session may hold on a node, else 429 (0: no limit)' },
  { flag: 'trust-proxy', kind: 'flag', def: 'false', help: 'take the client address from X-Forwarded-For (last hop): set behind a reverse proxy' },
  { flag: 'secret', kind: 'secret', def: '', help: 'secret shared by every node of a cluster, at least 32 characters: sessions and address keys derive from it (default: random per process, so sessions end with the process; required with --redis). Prefer the variable' },
  { flag: 'internal-port', kind: 'int', def: '', min: 0, max: 65535, help: 'serve /metrics (and moderation) only on this port, not on the public one' },
  { flag: 'internal-host', kind: 'string', def: serverConfigDefaults.internalHost, help: 'address of the internal port' },
  { flag: 'admin-token', kind: 'secret', def: '', help: 'bearer token of the moderator API and console at /admin, at least 32 characters (unset: /admin is 404). Prefer the variable' },
  { flag: 'report-ttl', kind: 'duration', def: '7d', max: 366 * 86_400_000, help: 'how long a report and its evidence are kept after the last report (e.g. 7d, 12h)' },
  { flag: 'redis', kind: 'url', def: '', help: 'redis:// or rediss:// URL: share matchmaking between processes (default: in memory)' },
  { flag: 'redis-cluster', kind: 'seeds', def: '', help: 'seed nodes of a Redis Cluster, host:port[,host:port...] (or redis:// / rediss:// URLs: user, password and TLS of the first apply to all): the same as --redis, on a cluster' },
  { flag: 'workers', kind: 'workers', def: '1', min: 1, max: 256, help: 'server processes on one port, or auto (one per core); more than 1 needs --redis or --redis-cluster' },
  { flag: 'log-level', kind: 'level', def: 'info', help: `log level (${LOG_LEVELS.join(', ')})` },
];

/** `STRANGERS_` + the flag in upper snake case. */
export function envName(flag: string): string {
  return `STRANGERS_${flag.toUpperCase().replace(/-/g, '_')}`;
}

export function helpText(): string {
  const rows = settings.map((s) => {
    const left = `  --${s.flag}${s.kind === 'flag' ? '' : ` ${s.kind === 'level' ? 'LEVEL' : s.kind === 'workers' ? 'N|auto' : s.kind === 'switch' ? 'on|off' : s.kind === 'seeds' ? 'HOST:PORT,...' : s.kind.toUpperCase()}`}`;
    const def = s.def === '' ? '' : ` [default: ${s.def}]`;
    return `${left.padEnd(30)} ${s.help}${def}\n${''.padEnd(31)} env ${envName(s.flag)}`;
  });
  return [
    'usage: strangers serve [options]',
    '',
    'Runs the chat server: the web client at /, WebSocket at /ws, GET /healthz, /readyz, /stats;',
    'sessions (on by default, see --gate): GET /session/challenge, POST /session, GET /session.',
    '',
    'options (each also from its environment variable; a flag wins):',
    ...rows,
    '  -h, --help                   show this help',
  ].join('\n');
}

function fail(source: string, raw: string, expected: string): never {
  throw new ConfigError(`invalid ${source} '${raw}': expected ${expected}`);
}

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses a duration: `5` or `5s` (seconds), `500ms`, `2m`, `12h`, `7d` (at most a year). Returns ms. */
export function parseDuration(raw: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(raw);
  if (m === null) return undefined;
  const ms = Number(m[1]) * DURATION_UNITS[m[2] ?? 's']!;
  return Number.isFinite(ms) && ms <= 366 * 86_400_000 ? Math.round(ms) : undefined;
}

function convert(s: Setting, raw: string, source: string): unknown {
  switch (s.kind) {
    case 'string':
      if (raw.trim() === '') fail(source, raw, 'a non-empty value');
      return raw.trim();
    case 'workers':
      if (raw.trim() === 'auto') return availableParallelism();
      if (!/^\s*\d+\s*$/.test(raw)) fail(source, raw, `auto or an integer from ${s.min} to ${s.max}`);
      return convert({ ...s, kind: 'int' }, raw, source);
    case 'int': {
      if (!/^\s*\d+\s*$/.test(raw)) fail(source, raw, `an integer from ${s.min} to ${s.max}`);
      const n = Number(raw);
      if (n < (s.min ?? 0) || n > (s.max ?? Number.MAX_SAFE_INTEGER)) fail(source, raw, `an integer from ${s.min} to ${s.max}`);
      return n;
    }
    case 'duration': {
      const ms = parseDuration(raw);
      // Timers overflow past 24.8 days: durations are at most a day unless a setting says more.
      if (ms === undefined || ms > (s.max ?? 86_400_000)) fail(source, raw, `a duration like 5s, 500ms, 2m, 12h or 7d, at most ${(s.max ?? 86_400_000) / 3_600_000}h`);
      return ms;
    }
    case 'list':
      return raw
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== '');
    case 'url': {
      if (raw.trim() === '') return undefined;
      let u: URL;
      try {
        u = new URL(raw.trim());
      } catch {
        return fail(source, raw, 'a URL like redis://host:6379/0');
      }
      if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') fail(source, raw, 'a redis:// or rediss:// URL');
      if (u.hostname === '') fail(source, raw, 'a URL with a host');
      if (u.pathname !== '' && u.pathname !== '/' && !/^\/\d+$/.test(u.pathname)) fail(source, raw, 'a database number as the path (redis://host/0)');
      return u.toString();
    }
    case 'seeds':
      return parseSeeds(raw, source);
    case 'file':
      if (raw.trim() === '') return undefined;
      try {
        accessSync(raw, constants.R_OK);
      } catch {
        fail(source, raw, 'a readable file');
      }
      return raw;
    case 'secret':
      if (raw.length < 32) fail(source, '…', 'at least 32 characters (e.g. openssl rand -base64 32)');
      return raw;
    case 'level':
      if (!(LOG_LEVELS as readonly string[]).includes(raw)) fail(source, raw, `one of ${LOG_LEVELS.join(', ')}`);
      return raw as LogLevel;
    case 'switch': {
      const value = raw.trim().toLowerCase();
      if (value === 'on') return true;
      if (value === 'off') return false;
      return fail(source, raw, 'on or off');
    }
    case 'flag': {
      const value = raw.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(value)) return true;
      if (['0', 'false', 'no', 'off'].includes(value)) return false;
      return fail(source, raw, 'true or false');
    }
  }
}

/**
 * Parses Redis Cluster seeds: `host:port` or `redis://[user:password@]host:port` (`rediss://` for
 * TLS), comma-separated. Returns URLs without a database, each with the scheme and credentials of
 * the seeds that give them (the cluster has one password and one TLS setting for all its nodes).
 */
export function parseSeeds(raw: string, source: string): string[] | undefined {
  const items = raw.split(',').map((x) => x.trim()).filter((x) => x !== '');
  if (items.length === 0) return undefined;
  const expected = 'seed nodes like 10.0.0.1:6379,10.0.0.2:6379 (or redis://user:password@host:port URLs)';
  const urls = items.map((item) => {
    let u: URL;
    try {
      u = new URL(/^[a-z]+:\/\//i.test(item) ? item : `redis://${item}`);
    } catch {
      return fail(source, raw, expected);
    }
    if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') fail(source, raw, `${expected}; a redis:// or rediss:// scheme`);
    if (u.hostname === '' || u.port === '') fail(source, raw, `${expected}; each with a host and a port`);
    if (u.pathname !== '' && u.pathname !== '/') fail(source, raw, `${expected}; no database (a cluster has only database 0)`);
    return u;
  });
  const scheme = urls.find((u) => /^[a-z]+:\/\//i.test(items[urls.indexOf(u)]!))?.protocol ?? 'redis:';
  const withAuth = urls.find((u) => u.username !== '' || u.password !== '');
  for (const [i, u] of urls.entries()) {
    if (/^[a-z]+:\/\//i.test(items[i]!) && u.protocol !== scheme) fail(source, raw, `${expected}; one scheme for every seed (TLS is for the whole cluster)`);
    if ((u.username !== '' || u.password !== '') && (u.username !== withAuth!.username || u.password !== withAuth!.password)) {
      fail(source, '…', `${expected}; one user and password for every seed`);
    }
  }
  return urls.map((u) => `${scheme}//${withAuth ? `${withAuth.username}:${withAuth.password}@` : ''}${u.host}`);
}

/** Result of parsing: the configuration, or a request for help. */
export type ParsedArgs = { help: true } | { help: false; config: ServeConfig };

/**
 * Parses flags (`argv` without the command) and environment variables.
 * @throws ConfigError on an unknown flag or a bad value (one line naming the setting).
 */
export function parseServeArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ParsedArgs {
  const options: Record<string, { type: 'string' } | { type: 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const s of settings) options[s.flag] = s.kind === 'flag' ? { type: 'boolean' } : { type: 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new ConfigError((err as Error).message.split('\n')[0]!);
  }
  if (values.help === true) return { help: true };
  const v: Record<string, unknown> = {};
  for (const s of settings) {
    const fromFlag = values[s.flag];
    const name = envName(s.flag);
    if (fromFlag === true) v[s.flag] = true;
    else if (typeof fromFlag === 'string') v[s.flag] = convert(s, fromFlag, `--${s.flag}`);
    else if (env[name] !== undefined && env[name] !== '') v[s.flag] = convert(s, env[name]!, name);
    else v[s.flag] = s.def === '' ? undefined : convert(s, s.def, `--${s.flag}`);
  }
  const cert = v['tls-cert'] as string | undefined;
  const key = v['tls-key'] as string | undefined;
  if ((cert === undefined) !== (key === undefined)) {
    throw new ConfigError(`invalid --${cert === undefined ? 'tls-cert' : 'tls-key'}: --tls-cert and --tls-key go together`);
  }
  const workers = v.workers as number;
  const redis = v.redis as string | undefined;
  const redisCluster = v['redis-cluster'] as string[] | undefined;
  if (redis !== undefined && redisCluster !== undefined) {
    throw new ConfigError('invalid --redis-cluster: --redis and --redis-cluster exclude each other (one Redis, or one Redis Cluster)');
  }
  if (workers > 1 && redis === undefined && redisCluster === undefined) {
    throw new ConfigError(`invalid --workers '${workers}': more than 1 worker needs --redis or --redis-cluster (workers share matchmaking through Redis)`);
  }
  const secret = v.secret as string | undefined;
  if ((redis !== undefined || redisCluster !== undefined) && secret === undefined) {
    const flag = redis !== undefined ? 'redis' : 'redis-cluster';
    throw new ConfigError(`invalid --${flag}: nodes that share Redis must share a secret too: set STRANGERS_SECRET (or --secret) on every node`);
  }
  const config: ServeConfig = {
    host: v.host as string,
    port: v.port as number,
    tlsCert: cert,
    tlsKey: key,
    origins: v.origins as string[] | undefined,
    maxPerIp: v['max-per-ip'] as number,
    ipv6Prefix: v['ipv6-prefix'] as number,
    secret,
    internalPort: v['internal-port'] as number | undefined,
    internalHost: v['internal-host'] as string,
    adminToken: v['admin-token'] as string | undefined,
    maxConnections: v['max-connections'] as number,
    gate: v.gate as boolean,
    powCost: v['pow-cost'] as number,
    sessionTtlMs: v['session-ttl'] as number,
    maxPerPerson: v['max-per-person'] as number,
    heartbeatMs: v.heartbeat as number,
    drainTimeoutMs: v['drain-timeout'] as number,
    trustProxy: v['trust-proxy'] as boolean,
    redis,
    redisCluster,
    workers,
    logLevel: v['log-level'] as LogLevel,
    chat: {
      rateLimit: v['rate-limit'] as number,
      rateBurst: v['rate-burst'] as number,
      maxMessageChars: v['max-message-chars'] as number,
      interestWaitMs: v['interest-wait'] as number,
      reportTtlMs: v['report-ttl'] as number,
      resumeWindowMs: v['resume-window'] as number,
    },
  };
  return { help: false, config };
}
