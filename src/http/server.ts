/**
 * The composition root: an HTTP(S) server with the health, stats and static routes, the
 * WebSocket server at `/ws` (src/ws), and the chat (src/chat) on an engine (src/engine).
 * The only module that knows all three.
 */
import { X509Certificate, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createSecureContext } from 'node:tls';
import { ChatService, addressKey, addressSalt, maxFrameBytes, defaultChatOptions, type ChatOptions, type Session } from '../chat/index.js';
import type { Engine } from '../engine/engine.js';
import { createEngine } from '../engine/index.js';
import { SessionGate, gateDefaults } from '../session/index.js';
import { CloseCode, WebSocketServer, type ConnectionHandler, type WebSocketConnection } from '@strangers/websocket';
import type { Registry } from 'prom-client';
import { createLogger, type Logger } from './log.js';
import { serveAdminPage } from './admin-page.js';
import { createAdminRoutes } from './admin-routes.js';
import { createMetrics, type TlsStats } from './metrics.js';
import { routeSession, sessionToken, type SessionRouteContext } from './session-routes.js';
import { securityHeaders, serveStatic } from './static.js';
import { sendJson } from './respond.js';
import { socketCeiling } from './file-limit.js';

/** Everything `strangers serve` can set; see src/cli/config.ts for flags and defaults. */
export interface ServerConfig {
  /** @default '0.0.0.0' */
  host?: string;
  /** 0 picks a free port. @default 8080 */
  port?: number;
  /** PEM certificate and key file paths: both set means https:// and wss://. */
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  /**
   * `Origin` values allowed for the WebSocket besides the server's own (an `Origin` whose host is
   * the request's `Host`) and none (clients that are not browsers); others get 403, so a foreign
   * page cannot make its visitors' browsers connect. `['*']` allows every origin. @default []
   */
  origins?: readonly string[] | undefined;
  /** Open WebSocket connections per client address (IPv6: per prefix); over it the upgrade gets 429. 0: no limit. @default 20 */
  maxPerIp?: number;
  /** IPv6 clients are counted, limited and banned by this prefix length (one /64 is one address). @default 64 */
  ipv6Prefix?: number;
  /**
   * The secret every node of a cluster shares: address keys (and sessions) are derived from it.
   * @default random per process (fine for one process; required with Redis, see src/cli/config.ts)
   */
  secret?: string | undefined;
  /**
   * A second, internal port for `/metrics` (and the moderator API): when set, they are served
   * only there and are 404 on the public port. Plain HTTP; keep it off the internet.
   */
  internalPort?: number | undefined;
  /** Address of the internal port. @default '127.0.0.1' */
  internalHost?: string;
  /**
   * Bearer token of the moderator API and console (`/admin`), at least 32 characters. Unset: every
   * `/admin` path is 404. Served on the internal port when there is one.
   */
  adminToken?: string | undefined;
  /** Open WebSocket connections in total; over it the upgrade gets 503. 0: no limit. @default 10000 */
  maxConnections?: number;
  /**
   * The proof-of-work session gate (src/session): a WebSocket upgrade needs a valid session
   * (cookie or `?session=`), else 401. Off: no session is needed, and a person is their address
   * key (tests, benchmarks, private deployments). @default true
   */
  gate?: boolean;
  /** PBKDF2 iterations per attempt of a challenge at the base difficulty (4096 attempts expected). @default 500 */
  powCost?: number;
  /** How long a session lasts. @default 86400000 (24 h) */
  sessionTtlMs?: number;
  /** Open connections one session may hold on this node; over it the upgrade gets 429. 0: no limit. @default 3 */
  maxPerPerson?: number;
  /** Refuse new sessions to an address key. @default a ban of that address in the engine's moderation store */
  isBanned?: (address: string) => Promise<boolean>;
  /**
   * Behind a reverse proxy: the client's address is the last entry of `X-Forwarded-For` (the
   * one our proxy wrote), for the per-IP limit and moderation. Never set it without a proxy
   * that sets the header: clients could pick their own address. @default false
   */
  trustProxy?: boolean;
  /** Ping interval; a peer silent for two intervals is dropped (ended `disconnected`). @default 30000 */
  heartbeatMs?: number;
  /** Longest a graceful drain may take before connections are cut (it covers the resume window: places are handed over meanwhile). @default 25000 */
  drainTimeoutMs?: number;
  /** Chat limits (message size, rate limit, interest wait, moderation...). */
  chat?: Partial<ChatOptions>;
  /** Redis URL: selects the Redis engine. */
  redis?: string | undefined;
  /** Seed nodes of a Redis Cluster (`redis://`/`rediss://` URLs): selects the Redis engine on a cluster. */
  redisCluster?: readonly string[] | undefined;
  /** An engine to use instead of creating one (tests, in-process clusters). */
  engine?: Engine;
  /** @default a pino logger at `logLevel` */
  logger?: Logger;
  /** @default 'info' */
  logLevel?: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  /**
   * Set in a `--workers` worker (src/cli/cluster-metrics.ts): `/metrics` answers for the whole
   * process group of `workers` processes through `scrape`, which gets this process's registry.
   */
  clusterMetrics?: { workers: number; scrape(local: Registry): Promise<string> } | undefined;
}

export const serverConfigDefaults = {
  host: '0.0.0.0',
  port: 8080,
  maxPerIp: 20,
  ipv6Prefix: 64,
  internalHost: '127.0.0.1',
  maxConnections: 10_000,
  gate: true,
  powCost: gateDefaults.powCost,
  sessionTtlMs: gateDefaults.sessionTtlMs,
  maxPerPerson: 3,
  heartbeatMs: 30_000,
  drainTimeoutMs: 25_000,
} as const;

type Conn = WebSocketConnection<Session>;

/** Where admission leaves the person of a verified session for the `open` handler. */
const kPerson = Symbol('strangers.person');
type PersonRequest = IncomingMessage & { [kPerson]?: string };

/** A running (or ready to run) Strangers server. */
export class StrangersServer {
  readonly http: HttpServer | HttpsServer;
  /** The internal server (`/metrics`, moderation), when `internalPort` is set. */
  readonly internal: HttpServer | undefined;
  readonly wss: WebSocketServer<Session>;
  readonly chat: ChatService;
  readonly engine: Engine;
  readonly log: Logger;
  readonly secure: boolean;
  /** The session gate; undefined when it is off. */
  readonly gate: SessionGate | undefined;
  readonly #config: ServerConfig;
  /** Open connections per address key (identity.ts: no addresses kept). */
  readonly #perAddress = new Map<string, number>();
  /** Open connections per person (gate on only). */
  readonly #perPerson = new Map<string, number>();
  readonly #sessionContext: SessionRouteContext;
  readonly #addressSalt: Buffer;
  readonly #ipv6Prefix: number;
  /** Allowed foreign origins; null: any. */
  readonly #origins: ReadonlySet<string> | null;
  /** The moderator API, when an admin token is set. */
  readonly #admin: ((req: IncomingMessage, res: ServerResponse, path: string) => boolean) | undefined;
  #open = 0;
  #draining = false;
  /** WebSocket protocol errors by code, for /metrics. */
  readonly #protocolErrors = new Map<string, number>();
  #metrics: Registry | undefined;
  /** Certificate reloads and the served certificate's end of validity (with TLS). */
  readonly #tls: TlsStats = { reloaded: 0, failed: 0, notAfter: 0 };
  #stopped: Promise<void> | undefined;

  constructor(config: ServerConfig, engine: Engine, log: Logger) {
    this.#config = config;
    this.engine = engine;
    this.log = log;
    const secret = config.secret ?? randomBytes(32).toString('base64url');
    // With sessions, a resume must come from the same person; without, a connection is its own.
    this.chat = new ChatService(engine, config.chat ?? {}, log, secret, config.gate !== false);
    const chatOptions = this.chat.options;
    this.#addressSalt = addressSalt(secret);
    this.gate =
      config.gate === false
        ? undefined
        : new SessionGate({
            secret,
            store: engine.gate,
            powCost: config.powCost,
            sessionTtlMs: config.sessionTtlMs,
            // An address banned after reports gets no new session while the ban lasts.
            isBanned: config.isBanned ?? (async (address) => (await engine.moderation.checkSearch('', address, Date.now())).bannedUntil > 0),
          });
    this.#sessionContext = {
      gate: this.gate,
      addressKey: (req) => this.#addressKey(req),
      isSecure: (req) => this.#isSecure(req),
      onError: (err) => this.log.error({ err }, 'session route failed'),
    };
    this.#ipv6Prefix = config.ipv6Prefix ?? serverConfigDefaults.ipv6Prefix;
    this.#admin = config.adminToken === undefined ? undefined : createAdminRoutes({ token: config.adminToken, store: engine.moderation, log, page: serveAdminPage });
    const origins = config.origins ?? [];
    this.#origins = origins.includes('*') ? null : new Set(origins);
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => this.#route(req, res, config.internalPort === undefined);
    if (config.tlsCert !== undefined && config.tlsKey !== undefined) {
      this.secure = true;
      const pair = loadTlsPair(config.tlsCert, config.tlsKey);
      this.#tls.notAfter = pair.notAfter;
      this.http = createHttpsServer(pair.options, onRequest);
    } else {
      this.secure = false;
      this.http = createHttpServer(onRequest);
    }
    this.http.on('clientError', onClientError);
    // Below the open-file limit, with room for everything else (file-limit.ts).
    const ceiling = socketCeiling();
    if (ceiling !== undefined) this.http.maxConnections = ceiling;
    if (config.internalPort !== undefined) {
      this.internal = createHttpServer((req, res) => this.#routeInternal(req, res));
      this.internal.on('clientError', onClientError);
    }
    const maxPerIp = config.maxPerIp ?? serverConfigDefaults.maxPerIp;
    const maxConnections = config.maxConnections ?? serverConfigDefaults.maxConnections;
    const maxPerPerson = config.maxPerPerson ?? serverConfigDefaults.maxPerPerson;
    const gate = this.gate;
    this.wss = new WebSocketServer<Session>({
      handler: this.#handler,
      path: '/ws',
      maxMessageSize: maxFrameBytes(chatOptions),
      heartbeatIntervalMs: config.heartbeatMs ?? serverConfigDefaults.heartbeatMs,
      admit: (req) => {
        if (this.#draining) return 503;
        if (!this.#originAllowed(req)) return 403;
        if (maxConnections > 0 && this.#open >= maxConnections) return 503;
        if (maxPerIp > 0 && (this.#perAddress.get(this.#addressKey(req)) ?? 0) >= maxPerIp) return 429;
        if (gate === undefined) return undefined;
        // Once per upgrade, never per message: one HMAC, no lookup.
        const claims = gate.verify(sessionToken(req));
        if (typeof claims === 'string') {
          gate.stats.unauthorized++;
          return 401;
        }
        if (maxPerPerson > 0 && (this.#perPerson.get(claims.person) ?? 0) >= maxPerPerson) return 429;
        (req as PersonRequest)[kPerson] = claims.person;
        return undefined;
      },
    });
    this.wss.attach(this.http);
  }

  /** One handler for every connection: wires frames to the chat. */
  readonly #handler: ConnectionHandler<Session> = {
    open: (conn: Conn, req: IncomingMessage) => {
      this.#open++;
      const address = this.#addressKey(req);
      // With the gate on, admission verified the session and left its person here.
      const person = (req as PersonRequest)[kPerson];
      const session = this.chat.connect(conn, address, person);
      conn.data = session;
      this.#perAddress.set(address, (this.#perAddress.get(address) ?? 0) + 1);
      if (person !== undefined) this.#perPerson.set(person, (this.#perPerson.get(person) ?? 0) + 1);
    },
    message: (conn: Conn, data: Buffer, isBinary: boolean) => {
      if (conn.data !== undefined) this.chat.receive(conn.data, data, isBinary);
    },
    close: (conn: Conn) => {
      this.#open--;
      const session = conn.data;
      if (session === undefined) return;
      const n = (this.#perAddress.get(session.address) ?? 1) - 1;
      if (n <= 0) this.#perAddress.delete(session.address);
      else this.#perAddress.set(session.address, n);
      if (this.gate !== undefined) {
        const p = (this.#perPerson.get(session.person) ?? 1) - 1;
        if (p <= 0) this.#perPerson.delete(session.person);
        else this.#perPerson.set(session.person, p);
      }
      this.chat.disconnect(session, conn);
    },
    error: (_conn: Conn, err: Error) => {
      // Protocol errors of one peer are routine (bad frames, too large): debug. Our bugs: error.
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'string') {
        this.#protocolErrors.set(code, (this.#protocolErrors.get(code) ?? 0) + 1);
        this.log.debug({ code, err: err.message }, 'websocket protocol error');
      } else {
        this.log.error({ err }, 'connection handler failed');
      }
    },
  };

  /** The client's address: the socket's peer, or with `trustProxy` the proxy's last X-Forwarded-For hop. */
  #clientAddress(req: IncomingMessage): string {
    if (this.#config.trustProxy === true) {
      const forwarded = req.headers['x-forwarded-for'];
      const last = typeof forwarded === 'string' ? forwarded.slice(forwarded.lastIndexOf(',') + 1).trim() : '';
      if (last !== '') return last;
    }
    return req.socket.remoteAddress ?? '';
  }

  /** Whether the client reached us over TLS: directly, or (with `trustProxy`) at our proxy. */
  #isSecure(req: IncomingMessage): boolean {
    if (this.secure) return true;
    if (this.#config.trustProxy !== true) return false;
    const proto = req.headers['x-forwarded-proto'];
    return typeof proto === 'string' && proto.slice(proto.lastIndexOf(',') + 1).trim().toLowerCase() === 'https';
  }

  /** The key of the client's address (IPv6 grouped by prefix); the address itself is not kept. */
  #addressKey(req: IncomingMessage): string {
    return addressKey(this.#addressSalt, this.#clientAddress(req), this.#ipv6Prefix);
  }

  /**
   * Browsers always send `Origin` on a WebSocket upgrade; a page may connect to its own server
   * (an `Origin` whose host is the request's `Host`) or to one that lists its origin. Clients
   * that send none are not browsers and cannot be steered by a foreign page.
   */
  #originAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (origin === undefined || this.#origins === null || this.#origins.has(origin)) return true;
    const host = req.headers.host;
    if (host === undefined) return false;
    try {
      const url = new URL(origin);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.host === new URL(`${url.protocol}//${host}`).host;
    } catch {
      return false;
    }
  }

  /** The internal port: metrics, health and the moderator API. */
  #routeInternal(req: IncomingMessage, res: ServerResponse): void {
    const path = pathOf(req);
    if (this.#admin?.(req, res, path) === true) return;
    const get = req.method === 'GET' || req.method === 'HEAD';
    switch (path) {
      case '/metrics':
        if (!get) return methodNotAllowed(req, res);
        return void this.#serveMetrics(req, res);
      case '/healthz':
      case '/readyz':
        return this.#route(req, res, false);
    }
    res.writeHead(404, { ...securityHeaders(req), 'content-type': 'text/plain; charset=utf-8' });
    res.end('not found\n');
  }

  #route(req: IncomingMessage, res: ServerResponse, publicMetrics: boolean): void {
    const path = pathOf(req);
    // Without an internal port the moderator API is on the public one (publicMetrics says which).
    if (publicMetrics && this.#admin?.(req, res, path) === true) return;
    const get = req.method === 'GET' || req.method === 'HEAD';
    switch (path) {
      case '/healthz':
        if (!get) return methodNotAllowed(req, res);
        return sendJson(req, res, 200, { status: 'ok' });
      case '/readyz': {
        if (!get) return methodNotAllowed(req, res);
        const ready = this.#ready();
        return sendJson(req, res, ready ? 200 : 503, { ready, draining: this.#draining, engine: this.engine.ready() });
      }
      case '/stats':
        if (!get) return methodNotAllowed(req, res);
        return sendJson(req, res, 200, this.chat.clusterCounts());
      case '/metrics':
        if (!publicMetrics) break; // served on the internal port only
        if (!get) return methodNotAllowed(req, res);
        return void this.#serveMetrics(req, res);
      case '/session':
      case '/session/challenge':
        routeSession(req, res, path, this.#sessionContext);
        return;
      case '/ws':
        res.writeHead(426, { ...securityHeaders(req), 'content-type': 'text/plain; charset=utf-8', upgrade: 'websocket', connection: 'Upgrade' });
        res.end('this is a WebSocket endpoint\n');
        return;
    }
    try {
      if (serveStatic(req, res)) return;
    } catch (err) {
      this.log.error({ err }, 'static file failed');
      if (!res.headersSent) res.writeHead(500);
      res.end();
      return;
    }
    res.writeHead(404, { ...securityHeaders(req), 'content-type': 'text/plain; charset=utf-8' });
    res.end('not found\n');
  }

  #ready(): boolean {
    return this.engine.ready() && !this.#draining;
  }

  /** This process's metrics registry (made on first use). */
  get metrics(): Registry {
    this.#metrics ??= createMetrics({
      chat: this.chat,
      wss: this.wss as WebSocketServer<unknown>,
      engine: this.engine,
      protocolErrors: this.#protocolErrors,
      gate: this.gate,
      ready: () => this.#ready(),
      tls: this.secure ? this.#tls : undefined,
      workers: this.#config.clusterMetrics?.workers,
    });
    return this.#metrics;
  }

  async #serveMetrics(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const registry = this.metrics;
    try {
      const cluster = this.#config.clusterMetrics;
      const body = cluster === undefined ? await registry.metrics() : await cluster.scrape(registry);
      res.writeHead(200, { ...securityHeaders(req), 'content-type': registry.contentType, 'cache-control': 'no-store' });
      res.end(body);
    } catch (err) {
      this.log.error({ err }, 'metrics failed');
      if (!res.headersSent) res.writeHead(500);
      res.end();
    }
  }

  /** Starts the engine and listens; resolves with the bound address. */
  async listen(): Promise<AddressInfo> {
    await this.chat.start();
    const host = this.#config.host ?? serverConfigDefaults.host;
    const port = this.#config.port ?? serverConfigDefaults.port;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.http.once('error', onError);
      this.http.listen(port, host, () => {
        this.http.off('error', onError);
        this.http.on('error', (err) => this.log.error({ err }, 'server error'));
        resolve();
      });
    });
    const address = this.http.address() as AddressInfo;
    let internalPort: number | undefined;
    if (this.internal !== undefined) {
      const internal = this.internal;
      await new Promise<void>((resolve, reject) => {
        internal.once('error', reject);
        internal.listen(this.#config.internalPort, this.#config.internalHost ?? serverConfigDefaults.internalHost, () => {
          internal.off('error', reject);
          internal.on('error', (err) => this.log.error({ err }, 'internal server error'));
          resolve();
        });
      });
      internalPort = (internal.address() as AddressInfo).port;
    }
    this.log.info(
      { event: 'start', host: address.address, port: address.port, internalPort, tls: this.secure, engine: this.#config.redisCluster?.length ? 'redis-cluster' : this.#config.redis ? 'redis' : 'memory', node: this.engine.nodeId },
      `listening on ${this.url}`,
    );
    return address;
  }

  /** Base URL of the HTTP side, e.g. `http://127.0.0.1:8080`. */
  get url(): string {
    const a = this.http.address();
    if (a === null || typeof a === 'string') return '';
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `${this.secure ? 'https' : 'http'}://${host}:${a.port}`;
  }

  /** Base URL of the internal port, e.g. `http://127.0.0.1:9090` ('' when there is none). */
  get internalUrl(): string {
    const a = this.internal?.address();
    if (a === undefined || a === null || typeof a === 'string') return '';
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}`;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /**
   * Reads `tlsCert`/`tlsKey` again (on SIGHUP, see src/cli/run-server.ts): new TLS handshakes get
   * the new pair, open connections keep theirs. A pair that cannot serve (a missing or unreadable
   * file, a directory, malformed PEM, a key that is not the certificate's) is refused and logged,
   * and the current pair stays. Never logs key material. Returns whether the new pair is served.
   */
  reloadTls(): boolean {
    const { tlsCert, tlsKey } = this.#config;
    if (!this.secure || tlsCert === undefined || tlsKey === undefined) {
      this.log.info({ event: 'tls_reload', ok: false }, 'no certificate to reload (no --tls-cert)');
      return false;
    }
    let pair: TlsPair;
    try {
      pair = loadTlsPair(tlsCert, tlsKey);
      (this.http as HttpsServer).setSecureContext(pair.options);
    } catch (err) {
      this.#tls.failed++;
      const e = err as NodeJS.ErrnoException;
      this.log.error({ event: 'tls_reload', ok: false, code: e.code, err: e.message }, 'certificate reload refused; still serving the previous certificate');
      return false;
    }
    this.#tls.reloaded++;
    this.#tls.notAfter = pair.notAfter;
    this.log.info({ event: 'tls_reload', ok: true, subject: pair.subject, fingerprint256: pair.fingerprint256, validTo: new Date(pair.notAfter).toISOString() }, 'certificate reloaded');
    return true;
  }

  /**
   * Graceful drain, bounded by `drainTimeoutMs`: refuses new connections (readyz 503), closes
   * every WebSocket with 1012 and hands each user's place over to the node it resumes on (with a
   * resume window; without one, or for whoever has not resumed when time is up, matched users
   * get `ended: shutdown` and the WebSocket closes with 1001), leaves the cluster and stops
   * listening. Idempotent.
   */
  stop(reason = 'stop'): Promise<void> {
    this.#stopped ??= this.#stop(reason);
    return this.#stopped;
  }

  async #stop(reason: string): Promise<void> {
    this.#draining = true;
    const started = Date.now();
    const users = this.#open;
    const limit = this.#config.drainTimeoutMs ?? serverConfigDefaults.drainTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(resolve, limit, 'timeout');
    });
    this.http.close(); // stop accepting; resolves once every socket is gone
    this.internal?.close();
    const drain = (async () => {
      if (this.chat.options.resumeWindowMs > 0) {
        // A deploy ends no conversation: every connection is closed with 1012 (service restart),
        // each place is held for a resume on another node and handed over to it, until all are
        // gone or the drain timeout is near.
        const handedOver = this.chat.handOver(started + limit - 250);
        await this.wss.close(CloseCode.serviceRestart, 'service restart');
        await handedOver;
      }
      await this.chat.shutdown();
      await this.wss.close(CloseCode.goingAway, 'server shutting down');
      return 'done' as const;
    })();
    const outcome = await Promise.race([drain, deadline]).catch((err: unknown) => {
      this.log.error({ err }, 'drain failed');
      return 'failed' as const;
    });
    clearTimeout(timer);
    for (const conn of this.wss.connections()) conn.terminate();
    this.http.closeAllConnections();
    this.internal?.closeAllConnections();
    this.log.info({ event: 'stop', reason, users, outcome, ms: Date.now() - started }, 'stopped');
  }
}

/** A certificate and key read from their files and checked to serve together. */
interface TlsPair {
  options: { cert: Buffer; key: Buffer };
  subject: string;
  fingerprint256: string;
  /** End of validity, ms since the epoch. */
  notAfter: number;
}

/**
 * Reads and checks a PEM certificate (chain) and its key: `createSecureContext` refuses malformed
 * PEM and a key that does not match the certificate.
 * @throws the file system's error (ENOENT, EISDIR, EACCES) or OpenSSL's (ERR_OSSL_*)
 */
function loadTlsPair(certPath: string, keyPath: string): TlsPair {
  const options = { cert: readFileSync(certPath), key: readFileSync(keyPath) };
  createSecureContext(options);
  const x509 = new X509Certificate(options.cert); // the first certificate of a chain: ours
  return { options, subject: x509.subject.replace(/\n/g, ', '), fingerprint256: x509.fingerprint256, notAfter: Date.parse(x509.validTo) };
}

function onClientError(_err: Error, socket: Duplex): void {
  if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  else socket.destroy();
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}


function methodNotAllowed(req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(405, { ...securityHeaders(req), allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
  res.end('method not allowed\n');
}

/**
 * Builds a server from its configuration (the engine is created from `redis` or `redisCluster`, unless given).
 * Call `listen()` to start it and `stop()` to drain it.
 */
export async function createServer(config: ServerConfig = {}): Promise<StrangersServer> {
  const log = config.logger ?? createLogger(config.logLevel ?? 'info');
  const engineLog = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): void => log[level]({ event: 'engine', ...fields }, msg);
  const engine = config.engine ?? (await createEngine({ redis: config.redis, redisCluster: config.redisCluster, redisOptions: { log: engineLog } }));
  return new StrangersServer(config, engine, log);
}

export { defaultChatOptions };
