/**
 * The WebSocket server: takes upgrade requests from a `node:http` (or `node:https`) server,
 * answers the handshake, and runs the connections' shared heartbeat.
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { CloseCode } from './errors.js';
import { WebSocketConnection, type ConnectionContext, type ConnectionHandler } from './connection.js';
import { acceptResponse, checkUpgrade, errorResponse, type HandshakeRules } from './handshake.js';
import { negotiateServer, resolveDeflateOptions, type PerMessageDeflateOptions, type ResolvedDeflateOptions } from './extensions.js';

/** Options of {@link WebSocketServer}: every limit, with its default and the reason for it. */
export interface WebSocketServerOptions<T = unknown> {
  /** Receives every connection's events; shared, so it costs nothing per connection. */
  handler: ConnectionHandler<T>;
  /**
   * Largest message in bytes, after reassembly; a larger one closes with 1009, decided from the
   * frame header before its payload is buffered.
   * @default 65536
   */
  maxMessageSize?: number;
  /**
   * Outgoing bytes a connection may have queued; past this, `send()` drops the message and the
   * connection is closed with 1008, so one slow reader cannot grow the server's memory.
   * @default 1048576 (1 MiB)
   */
  maxBufferedBytes?: number;
  /**
   * How long to wait for the peer's close frame (or FIN) after ours before destroying the socket.
   * @default 2000
   */
  closeTimeoutMs?: number;
  /**
   * A connection silent for one interval is pinged; still silent one interval later, it is
   * terminated. So a dead peer is gone within two intervals (and one tick: each interval's
   * sweep is spread over up to 30 ticks, see HEARTBEAT_TICKS). 0 disables the heartbeat.
   * @default 30000
   */
  heartbeatIntervalMs?: number;
  /**
   * Time allowed for the HTTP upgrade request's headers to arrive (applied to the HTTP server
   * by `attach()` as its `headersTimeout`). Slow or partial handshakes are dropped.
   * @default 5000
   */
  handshakeTimeoutMs?: number;
  /** Allowed `Origin` values; other origins are refused with 403. @default any origin */
  origins?: readonly string[];
  /** Subprotocols we speak, most preferred first. @default none */
  protocols?: readonly string[];
  /** The only path upgraded (others get 404). @default any path */
  path?: string;
  /**
   * permessage-deflate (RFC 7692): `true` (or options) accepts it from clients that offer it;
   * off unless asked for. Inflated messages obey `maxMessageSize` as they inflate (a small frame
   * that would inflate past it closes with 1009 before the memory is spent); messages waiting
   * to be compressed count against `maxBufferedBytes`. By default the server answers with
   * `server_no_context_takeover` and `client_no_context_takeover`, so an idle connection keeps
   * no zlib context at all. See {@link PerMessageDeflateOptions}.
   * @default false
   */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /**
   * Admission control before the handshake (e.g. connection limits): return an HTTP status to
   * refuse the upgrade with it (429, 503, ...), or undefined to accept.
   */
  admit?(req: IncomingMessage): number | undefined;
}

/** Defaults of every limit, with the reason for each in WebSocketServerOptions. */
export const serverDefaults = {
  maxMessageSize: 64 * 1024,
  maxBufferedBytes: 1024 * 1024,
  closeTimeoutMs: 2000,
  heartbeatIntervalMs: 30_000,
  handshakeTimeoutMs: 5000,
} as const;

/**
 * Ticks per heartbeat interval, each visiting its share of the connections: at 30 s, one tick a
 * second with 1/30 of them. One sweep of 100,000 idle connections at once is a burst of
 * writes (pings) and reads (pongs) that stalls everyone else's messages; spread, it is a few
 * milliseconds a second. Short intervals get fewer ticks (one per 100 ms at least).
 */
const HEARTBEAT_TICKS = 30;

/**
 * A WebSocket server: attach it to a `node:http` or `node:https` server (or hand it upgrade
 * requests with {@link WebSocketServer.handleUpgrade}). `T` is the type of `conn.data`.
 */
export class WebSocketServer<T = unknown> {
  #connections = new Set<WebSocketConnection<T>>();
  #context: ConnectionContext<T>;
  #closeTimeoutMs: number;
  #rules: HandshakeRules;
  #admit: ((req: IncomingMessage) => number | undefined) | undefined;
  #handshakeTimeoutMs: number;
  #heartbeat: NodeJS.Timeout | null = null;
  /** Heartbeat: ticks per interval, the current tick, the sweep under way and its share per tick. */
  #ticks = 1;
  #tick = 0;
  #sweep: IterableIterator<WebSocketConnection<T>> | null = null;
  #perTick = 0;
  #closing = false;
  #deflate: ResolvedDeflateOptions | null;

  /** Upgrades answered so far: accepted, and refused by HTTP status. For metrics. */
  readonly stats: {
    /** Upgrades answered with 101. */
    accepted: number;
    /** Upgrades refused, by HTTP status. */
    refused: Map<number, number>;
  } = { accepted: 0, refused: new Map<number, number>() };

  constructor(options: WebSocketServerOptions<T>) {
    const maxMessageSize = positive('maxMessageSize', options.maxMessageSize ?? serverDefaults.maxMessageSize);
    const maxBufferedBytes = positive('maxBufferedBytes', options.maxBufferedBytes ?? serverDefaults.maxBufferedBytes);
    const closeTimeoutMs = positive('closeTimeoutMs', options.closeTimeoutMs ?? serverDefaults.closeTimeoutMs);
    const heartbeatIntervalMs = options.heartbeatIntervalMs ?? serverDefaults.heartbeatIntervalMs;
    if (!Number.isFinite(heartbeatIntervalMs) || heartbeatIntervalMs < 0) throw new RangeError('heartbeatIntervalMs must be >= 0');
    this.#handshakeTimeoutMs = positive('handshakeTimeoutMs', options.handshakeTimeoutMs ?? serverDefaults.handshakeTimeoutMs);
    this.#closeTimeoutMs = closeTimeoutMs;
    this.#deflate = resolveDeflateOptions(options.perMessageDeflate, 'server');
    this.#context = {
      handler: options.handler,
      limits: { maxBufferedBytes, closeTimeoutMs, receiver: { isServer: true, maxMessageSize } },
      isServer: true,
      registry: this.#connections,
      deflate: this.#deflate === null ? null : {
        settings: { options: this.#deflate, maxMessageSize },
        receiver: { isServer: true, maxMessageSize, perMessageDeflate: true },
      },
    };
    this.#rules = {
      path: options.path,
      origins: options.origins === undefined ? undefined : new Set(options.origins),
      protocols: options.protocols ?? [],
    };
    this.#admit = options.admit;
    if (heartbeatIntervalMs > 0) {
      this.#ticks = Math.max(1, Math.min(HEARTBEAT_TICKS, Math.floor(heartbeatIntervalMs / 100)));
      this.#heartbeat = setInterval(() => this.#beat(), heartbeatIntervalMs / this.#ticks);
      this.#heartbeat.unref();
    }
  }

  /** Handles the server's upgrade requests, and bounds how long their headers may take. */
  attach(server: HttpServer | HttpsServer): this {
    server.headersTimeout = Math.min(server.headersTimeout || Infinity, this.#handshakeTimeoutMs);
    // Node enforces headersTimeout only every connectionsCheckingInterval (30 s by default, read
    // when the server starts listening, so attach before listen()): check often enough that a
    // partial handshake is dropped within about 1.2x handshakeTimeoutMs, not after 30 s.
    const tracked = server as (HttpServer | HttpsServer) & { connectionsCheckingInterval?: number };
    tracked.connectionsCheckingInterval = Math.min(
      tracked.connectionsCheckingInterval ?? 30_000,
      Math.max(250, Math.ceil(this.#handshakeTimeoutMs / 5)),
    );
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.handleUpgrade(req, socket, head));
    return this;
  }

  /** Answers one upgrade request: a 101 and a connection, or an HTTP error and a closed socket. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', ignoreError);
    if (this.#closing) return this.#refuse(socket, 503, 'server is shutting down');
    const checked = checkUpgrade(req, this.#rules);
    if (!checked.ok) return this.#refuse(socket, checked.status, checked.message, checked.headers);
    let status: number | undefined;
    try {
      status = this.#admit?.(req);
    } catch {
      // A failing admission hook must not take the process down: refuse this one request.
      status = 500;
    }
    if (status !== undefined) return this.#refuse(socket, status, refusalMessage(status));
    if (!socket.writable) return void socket.destroy();

    const deflate = this.#deflate === null ? null : negotiateServer(joined(req.headers['sec-websocket-extensions']), this.#deflate);
    socket.write(acceptResponse(checked.key, checked.protocol, deflate === null ? '' : deflate.header));
    this.stats.accepted++;
    const conn = new WebSocketConnection<T>(socket as Socket, this.#context, checked.protocol, deflate);
    conn.start(head);
    socket.removeListener('error', ignoreError); // the connection listens for errors now
    try {
      this.#context.handler.open?.(conn, req);
    } catch (error) {
      this.#context.handler.error?.(conn, error instanceof Error ? error : new Error(String(error)));
      conn.close(CloseCode.internalError, 'internal error');
    }
  }

  /** Open connections. */
  get size(): number {
    return this.#connections.size;
  }

  /** The open connections (a live view: do not close connections while iterating it). */
  connections(): IterableIterator<WebSocketConnection<T>> {
    return this.#connections.values();
  }

  /**
   * Refuses new upgrades, closes every connection with `code`, and resolves once all are gone
   * (each is destroyed after the close timeout at the latest).
   */
  async close(code: number = CloseCode.goingAway, reason = 'server shutting down'): Promise<void> {
    this.#closing = true;
    if (this.#heartbeat !== null) clearInterval(this.#heartbeat);
    this.#heartbeat = null;
    for (const conn of this.#connections) conn.close(code, reason);
    const deadline = Date.now() + this.#closeTimeoutMs + 1000;
    while (this.#connections.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    for (const conn of this.#connections) conn.terminate();
  }

  #refuse(socket: Duplex, status: number, message: string, headers?: Readonly<Record<string, string>>): void {
    this.stats.refused.set(status, (this.stats.refused.get(status) ?? 0) + 1);
    refuse(socket, status, message, headers, this.#closeTimeoutMs);
  }

  /**
   * One heartbeat tick. A sweep over the connections starts every interval and visits each of
   * them once, its share per tick; the interval's last tick also visits those that came during
   * the sweep (a Set's iterator sees what is added behind it and skips what is deleted).
   */
  #beat(): void {
    if (this.#tick === 0) {
      this.#sweep = this.#connections.values();
      this.#perTick = Math.ceil(this.#connections.size / this.#ticks);
    }
    this.#tick = (this.#tick + 1) % this.#ticks;
    const last = this.#tick === 0;
    const sweep = this.#sweep;
    if (sweep === null) return;
    for (let n = 0; last || n < this.#perTick; n++) {
      const next = sweep.next();
      if (next.done === true) {
        this.#sweep = null;
        return;
      }
      next.value.heartbeat();
    }
  }
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number`);
  return value;
}

function ignoreError(): void {}

/** A header Node may give as a list (repeated lines), as one comma-separated value. */
function joined(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

function refusalMessage(status: number): string {
  if (status === 429) return 'too many connections from your address';
  if (status === 503) return 'server is full';
  if (status === 403) return 'origin not allowed';
  if (status === 401) return 'a session is required';
  return 'connection refused';
}

/**
 * Answers with an HTTP error and lets the socket go. The answer is sent with a FIN (destroying at
 * once could reset it away); then whatever the client still sends is read and dropped, so that
 * its FIN is seen and the socket closes; a client that never closes is cut off after the close
 * timeout. An upgrade request's socket is no longer watched by the HTTP server's timeouts:
 * without both, a refused socket that got one more byte was held forever.
 */
function refuse(socket: Duplex, status: number, message: string, headers: Readonly<Record<string, string>> | undefined,
  lingerMs: number): void {
  if (!socket.writable) return void socket.destroy();
  socket.end(errorResponse(status, message, headers));
  socket.resume();
  setTimeout(destroySocket, lingerMs, socket).unref();
}

function destroySocket(socket: Duplex): void {
  socket.destroy();
}
