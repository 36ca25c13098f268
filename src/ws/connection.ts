/**
 * One WebSocket connection over a TCP (or TLS) socket, server or client side: feeds the socket's
 * bytes to a Receiver, writes frames, runs the closing handshake, and enforces the outgoing
 * buffer cap.
 *
 * Memory is the design constraint (thousands of mostly idle connections): no EventEmitter of its
 * own, no closure per connection (socket listeners are shared functions that find the
 * connection through a symbol), and a handler object shared by every connection of a server.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { CloseCode, ErrorCodes, WebSocketError, isValidCloseCode } from './errors.js';
import { Opcode, Receiver, type ReceiverSink } from './receiver.js';
import { ZERO_COPY_THRESHOLD, closePayload, encodeFrame, encodeHeader } from './sender.js';

/** What `send()` did with a message. */
export const SendResult = {
  /** Handed to the socket, which accepted it without going over its high-water mark. */
  sent: 'sent',
  /** Handed to the socket but buffered in memory: the peer reads slowly; `drain` follows. */
  queued: 'queued',
  /** Not sent: the connection is not open, or it went over its buffer cap (and is being closed). */
  dropped: 'dropped',
} as const;
export type SendResult = (typeof SendResult)[keyof typeof SendResult];

/** One handler object serves every connection of a server: no closures per connection. */
export interface ConnectionHandler<T = unknown> {
  /** The handshake completed. `req` is the upgrade request: read what you need, do not keep it. */
  open?(conn: WebSocketConnection<T>, req: IncomingMessage): void;
  /** A complete message. `data` is the callee's to keep; text has been validated as UTF-8. */
  message(conn: WebSocketConnection<T>, data: Buffer, isBinary: boolean): void;
  /** Called exactly once, when the socket is gone. `code` is 1006 when no close frame arrived. */
  close(conn: WebSocketConnection<T>, code: number, reason: string): void;
  /** The socket's buffer emptied after `send()` returned `queued`. */
  drain?(conn: WebSocketConnection<T>): void;
  /**
   * Something went wrong on this connection: a protocol error (a WebSocketError, the connection
   * is being closed with its closeCode), or an exception thrown by this handler (closed with 1011).
   */
  error?(conn: WebSocketConnection<T>, error: Error): void;
}

/** Limits shared by all connections of a server (or a client), already validated. */
export interface ConnectionLimits {
  readonly maxMessageSize: number;
  readonly maxBufferedBytes: number;
  readonly closeTimeoutMs: number;
}

export const ReadyState = { open: 'open', closing: 'closing', closed: 'closed' } as const;
export type ReadyState = (typeof ReadyState)[keyof typeof ReadyState];

const kConnection = Symbol('strangers.ws.connection');
type OwnedSocket = Socket & { [kConnection]?: WebSocketConnection<any> };

const EMPTY = Buffer.alloc(0);

// Heartbeat states, advanced by the server's shared timer.
const Heartbeat = { active: 0, quiet: 1, pinged: 2 } as const;

export class WebSocketConnection<T = unknown> implements ReceiverSink {
  /** A slot for the application (e.g. its session object). */
  data: T | undefined = undefined;
  /** The peer's IP address ('' when unknown). */
  readonly remoteAddress: string;
  /** The negotiated subprotocol, or ''. */
  readonly protocol: string;

  #socket: OwnedSocket;
  #handler: ConnectionHandler<T>;
  #limits: ConnectionLimits;
  #receiver: Receiver;
  #masked: boolean;
  #registry: Set<WebSocketConnection<T>> | null;
  #state: ReadyState = ReadyState.open;
  #closeSent = false;
  #closeReceived = false;
  #closeCode: number = CloseCode.abnormal;
  #closeReason = '';
  #closeTimer: NodeJS.Timeout | null = null;
  #heartbeat: number = Heartbeat.active;

  /** @internal Built by WebSocketServer or connect(); call `start()` next. */
  constructor(
    socket: Socket,
    handler: ConnectionHandler<T>,
    limits: ConnectionLimits,
    isServer: boolean,
    protocol: string,
    registry: Set<WebSocketConnection<T>> | null,
  ) {
    this.#socket = socket;
    this.#handler = handler;
    this.#limits = limits;
    this.#masked = !isServer;
    this.#registry = registry;
    this.protocol = protocol;
    this.remoteAddress = socket.remoteAddress ?? '';
    this.#receiver = new Receiver(this, { isServer, maxMessageSize: limits.maxMessageSize });
  }

  /** @internal Wires the socket and parses bytes that arrived with the handshake. */
  start(head: Buffer): void {
    const socket = this.#socket;
    socket[kConnection] = this;
    socket.setNoDelay(true);
    socket.setTimeout(0);
    socket.on('data', onSocketData);
    socket.on('end', onSocketEnd);
    socket.on('close', onSocketClose);
    socket.on('error', onSocketError);
    if (this.#handler.drain !== undefined) socket.on('drain', onSocketDrain);
    this.#registry?.add(this);
    if (head.length > 0) this.#receive(head);
  }

  get state(): ReadyState {
    return this.#state;
  }

  /** Bytes handed to the socket and not yet written to the network. */
  get bufferedAmount(): number {
    return this.#socket.writableLength;
  }

  /**
   * Sends one message (text for strings unless `isBinary`). Never throws on a closed
   * connection: it reports `dropped`. Over the buffer cap, the connection is closed with 1008.
   */
  send(data: string | Buffer, isBinary: boolean = typeof data !== 'string'): SendResult {
    if (this.#state !== ReadyState.open) return SendResult.dropped;
    const socket = this.#socket;
    if (socket.writableLength >= this.#limits.maxBufferedBytes) {
      const error = new WebSocketError(ErrorCodes.bufferOverflow, 'peer reads too slowly: outgoing buffer full');
      this.#reportError(error);
      this.#fail(error.closeCode, 'slow consumer');
      return SendResult.dropped;
    }
    const opcode = isBinary ? Opcode.binary : Opcode.text;
    let flushed: boolean;
    if (typeof data !== 'string' && !this.#masked && data.length >= ZERO_COPY_THRESHOLD) {
      socket.cork();
      socket.write(encodeHeader(opcode, data.length));
      flushed = socket.write(data);
      socket.uncork();
    } else {
      flushed = socket.write(encodeFrame(opcode, data, true, this.#masked));
    }
    return flushed ? SendResult.sent : SendResult.queued;
  }

  /** Sends a ping (at most 125 bytes of payload). */
  ping(data: Buffer | string = EMPTY): void {
    if (this.#state !== ReadyState.open) return;
    const payload = typeof data === 'string' ? Buffer.from(data) : data;
    if (payload.length > 125) throw new RangeError('ping payload must be at most 125 bytes');
    this.#socket.write(encodeFrame(Opcode.ping, payload, true, this.#masked));
  }

  /**
   * Starts the closing handshake. The socket ends when the peer answers, or is destroyed
   * after the close timeout. Throws only on a code that may not be sent (our API misused).
   */
  close(code: number = CloseCode.normal, reason = ''): void {
    if (!isValidCloseCode(code)) throw new RangeError(`close code ${code} may not be sent`);
    if (this.#state !== ReadyState.open) return;
    this.#sendClose(code, reason);
    this.#armCloseTimer();
  }

  /** Destroys the socket at once, without a closing handshake. */
  terminate(): void {
    this.#socket.destroy();
  }

  /**
   * @internal One tick of the server's heartbeat. A connection that sent nothing for a whole
   * interval is pinged; one still silent a tick later is terminated. Returns false if terminated.
   */
  heartbeat(): boolean {
    if (this.#state === ReadyState.closed) return false;
    if (this.#heartbeat === Heartbeat.pinged) {
      this.#reportError(new WebSocketError(ErrorCodes.heartbeatTimeout, 'peer did not answer a ping'));
      this.terminate();
      return false;
    }
    if (this.#heartbeat === Heartbeat.quiet) {
      this.#heartbeat = Heartbeat.pinged;
      this.ping();
    } else {
      this.#heartbeat = Heartbeat.quiet;
    }
    return true;
  }

  // ---- ReceiverSink: called by this connection's Receiver only ----

  /** @internal */
  onMessage(data: Buffer, isBinary: boolean): void {
    // No messages to the application once it (or the peer) started closing.
    if (this.#state !== ReadyState.open) return;
    try {
      this.#handler.message(this, data, isBinary);
    } catch (error) {
      this.#handlerFailed(error);
    }
  }

  /** @internal RFC 6455 5.5.2: answer a ping with a pong carrying the same payload. */
  onPing(data: Buffer): void {
    if (this.#closeSent) return;
    this.#socket.write(encodeFrame(Opcode.pong, data, true, this.#masked));
  }

  /** @internal Liveness is tracked on any input, so a pong needs nothing more. */
  onPong(_data: Buffer): void {}

  /** @internal RFC 6455 5.5.1: answer a close with a close (same code), then end TCP. */
  onCloseFrame(code: number, reason: string): void {
    this.#closeReceived = true;
    this.#closeCode = code;
    this.#closeReason = reason;
    if (!this.#closeSent) this.#sendClose(code, '');
    this.#state = ReadyState.closing;
    // RFC 6455 7.1.1: the server closes the TCP connection first; a client waits a bounded time.
    if (this.#masked) this.#armCloseTimer();
    else this.#socket.end();
  }

  /** @internal RFC 6455 7.1.7: fail the connection with the error's close code. */
  onProtocolError(error: WebSocketError): void {
    this.#reportError(error);
    this.#fail(error.closeCode, error.message);
  }

  // ---- internals ----

  #receive(chunk: Buffer): void {
    this.#heartbeat = Heartbeat.active;
    this.#receiver.push(chunk);
  }

  /** Sends a close frame (once) and stops accepting application sends. */
  #sendClose(code: number, reason: string): void {
    if (this.#closeSent) return;
    this.#closeSent = true;
    this.#state = ReadyState.closing;
    this.#socket.write(encodeFrame(Opcode.close, closePayload(code, reason), true, this.#masked));
  }

  /** Close frame, then end TCP at once: after an error the stream cannot be trusted. */
  #fail(code: number, reason: string): void {
    this.#sendClose(code, reason.slice(0, 100));
    this.#socket.end();
    this.#armCloseTimer();
  }

  #armCloseTimer(): void {
    if (this.#closeTimer !== null || this.#state === ReadyState.closed) return;
    this.#closeTimer = setTimeout(destroySocket, this.#limits.closeTimeoutMs, this.#socket);
    this.#closeTimer.unref();
  }

  #handlerFailed(error: unknown): void {
    this.#reportError(error instanceof Error ? error : new Error(String(error)));
    if (this.#state === ReadyState.open) this.#fail(CloseCode.internalError, 'internal error');
  }

  #reportError(error: Error): void {
    try {
      this.#handler.error?.(this, error);
    } catch {
      // An error reporter that throws has nowhere left to report to.
    }
  }

  /** @internal Socket listener bodies (the listeners themselves are shared functions below). */
  static dispatch = {
    data(conn: WebSocketConnection<any>, chunk: Buffer): void {
      conn.#receive(chunk);
    },
    end(conn: WebSocketConnection<any>): void {
      // The peer will send nothing more; finish our side too (sockets from http are half-open).
      conn.#socket.end();
    },
    drain(conn: WebSocketConnection<any>): void {
      if (conn.#state !== ReadyState.open) return;
      try {
        conn.#handler.drain?.(conn);
      } catch (error) {
        conn.#handlerFailed(error);
      }
    },
    close(conn: WebSocketConnection<any>): void {
      if (conn.#state === ReadyState.closed) return;
      conn.#state = ReadyState.closed;
      if (conn.#closeTimer !== null) clearTimeout(conn.#closeTimer);
      conn.#closeTimer = null;
      conn.#registry?.delete(conn);
      const code = conn.#closeReceived ? conn.#closeCode : CloseCode.abnormal;
      try {
        conn.#handler.close(conn, code, conn.#closeReason);
      } catch (error) {
        conn.#reportError(error instanceof Error ? error : new Error(String(error)));
      }
    },
  };
}

function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  const conn = this[kConnection];
  if (conn !== undefined) WebSocketConnection.dispatch.data(conn, chunk);
}
function onSocketEnd(this: OwnedSocket): void {
  const conn = this[kConnection];
  if (conn !== undefined) WebSocketConnection.dispatch.end(conn);
}
function onSocketDrain(this: OwnedSocket): void {
  const conn = this[kConnection];
  if (conn !== undefined) WebSocketConnection.dispatch.drain(conn);
}
function onSocketClose(this: OwnedSocket): void {
  const conn = this[kConnection];
  if (conn !== undefined) WebSocketConnection.dispatch.close(conn);
}
function onSocketError(this: OwnedSocket): void {
  // 'close' always follows; the error itself (ECONNRESET, EPIPE) says nothing we act on.
}
function destroySocket(socket: Socket): void {
  socket.destroy();
}
