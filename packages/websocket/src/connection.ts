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
import { isUtf8 } from 'node:buffer';
import { CloseCode, ErrorCodes, WebSocketError, isValidCloseCode } from './errors.js';
import { PerMessageDeflate, type DeflateSettings } from './deflate.js';
import type { DeflateParams } from './extensions.js';
import { Opcode, Receiver, type ReceiverOptions, type ReceiverSink } from './receiver.js';
import { ZERO_COPY_THRESHOLD, closePayload, encodeFrame, encodeHeader } from './sender.js';

/** What `send()` did with a message. */
export const SendResult = {
  /**
   * Handed to the socket, which accepted it without going over its high-water mark (with
   * permessage-deflate: or queued for compression, with the socket and the queue under it).
   */
  sent: 'sent',
  /**
   * Handed to the socket (or the compression queue) but buffered in memory past the socket's
   * high-water mark: the peer reads slowly; `drain` follows.
   */
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
  /** See {@link WebSocketServerOptions.maxBufferedBytes}. */
  readonly maxBufferedBytes: number;
  /** See {@link WebSocketServerOptions.closeTimeoutMs}. */
  readonly closeTimeoutMs: number;
  /** What the receiver checks (role and maximum message size). */
  readonly receiver: ReceiverOptions;
}

/**
 * @internal What every connection of one server (or of one `connect()`) shares: kept in one
 * object so that each connection pays for one pointer instead of four.
 */
export interface ConnectionContext<T> {
  readonly handler: ConnectionHandler<T>;
  readonly limits: ConnectionLimits;
  readonly isServer: boolean;
  /** The server's set of open connections (null on the client side). */
  readonly registry: Set<WebSocketConnection<T>> | null;
  /** permessage-deflate settings when it is enabled (null: never negotiated). */
  readonly deflate: DeflateContext | null;
}

/** @internal permessage-deflate settings shared by the connections of one server (or client). */
export interface DeflateContext {
  readonly settings: DeflateSettings;
  /** The receiver options of connections that negotiated it (RSV1 allowed). */
  readonly receiver: ReceiverOptions;
}

/** The states of a connection, as {@link WebSocketConnection.state} reports them. */
export const ReadyState = { open: 'open', closing: 'closing', closed: 'closed' } as const;
/** One of {@link ReadyState}'s values. */
export type ReadyState = (typeof ReadyState)[keyof typeof ReadyState];

const kConnection = Symbol('strangers.ws.connection');
type OwnedSocket = Socket & { [kConnection]?: WebSocketConnection<any> };

const EMPTY = Buffer.alloc(0);

// Frames go out once per turn of the event loop and socket (one setImmediate per turn, no
// closure per send). A connection's frames of a turn are held (not written): at the end of the
// turn they are written as one buffer, with no cork, no writev and no stream buffering (the
// common cases in a chat: one message to each of many peers, or a few small frames to one). Past
// the socket's high-water mark, or after a pong corked it, the socket is corked instead and the
// held frames go first; corked sockets are uncorked together at the end of the turn (one writev).
const corked: Socket[] = [];
const holding: WebSocketConnection<any>[] = [];
let turnScheduled = false;
// Connections whose pong waits for the end of the turn: they answered a ping in this turn's
// batch already, and a later ping replaced the one they owe (RFC 6455 5.5.3).
const pongsDue: WebSocketConnection<any>[] = [];
// Counts turns that ended with a batch: a connection that wrote a pong in turn `turn` knows
// the pong is still in the corked batch.
let turn = 0;

/** Corks `socket` until the end of this turn, so its frames of the turn leave in one writev. */
function corkForTurn(socket: Socket): void {
  if (socket.writableCorked !== 0) return;
  socket.cork();
  corked.push(socket);
  scheduleTurnEnd();
}

function scheduleTurnEnd(): void {
  if (turnScheduled) return;
  turnScheduled = true;
  setImmediate(endTurn);
}

function endTurn(): void {
  turnScheduled = false;
  // Pongs that waited go out last in the batch, each carrying its connection's latest ping.
  for (let i = 0; i < pongsDue.length; i++) WebSocketConnection.dispatch.pongDue(pongsDue[i]!);
  pongsDue.length = 0;
  turn = (turn + 1) & 0x3fffffff;
  for (let i = 0; i < holding.length; i++) WebSocketConnection.dispatch.release(holding[i]!);
  holding.length = 0;
  for (let i = 0; i < corked.length; i++) corked[i]!.uncork();
  corked.length = 0;
}

/** A copy of a (small) ping payload in memory of its own, so that it pins no socket read. */
function ownCopy(data: Buffer): Buffer {
  if (data.length === 0) return EMPTY;
  const copy = Buffer.allocUnsafeSlow(data.length);
  data.copy(copy);
  return copy;
}

// Bits of a connection's #flags: one small integer instead of four fields.
const Flag = {
  closeSent: 1,
  closeReceived: 2,
  /** Heartbeat: nothing received since the last tick. */
  quiet: 4,
  /** Heartbeat: pinged because quiet; terminated if still silent at the next tick. */
  pinged: 8,
  /** A pong is owed and waits for the socket's `drain` (its listener is attached). */
  pongOnDrain: 16,
  /** The connection failed (protocol error, slow consumer, handler error): input means nothing now. */
  failed: 1024,
  /** permessage-deflate: a send() returned `queued` because of the compression queue: `drain` is owed. */
  drainOwed: 2048,
  /** permessage-deflate: the socket closed while a message inflated; `close` waits for what was read. */
  closeDeferred: 4096,
} as const;
// Bits 5-9 of #flags: pongs written in turn #pongTurn (saturating at 31).
const PONG_COUNT_SHIFT = 5;
const PONG_COUNT_MASK = 0x1f << PONG_COUNT_SHIFT;
/**
 * Pings answered one by one per connection and turn: a few pings in a row get their pongs in
 * order (as Autobahn case 2.10 expects); past this, the turn's pings get one pong, for the latest.
 */
const PONG_BURST = 16;

export class WebSocketConnection<T = unknown> implements ReceiverSink {
  /** A slot for the application (e.g. its session object). */
  data: T | undefined = undefined;
  /** The negotiated subprotocol, or ''. */
  readonly protocol: string;

  #socket: OwnedSocket;
  #ctx: ConnectionContext<T>;
  /** Made on the first bytes read: a connection that never sends holds none. */
  #receiver: Receiver | null = null;
  #state: ReadyState = ReadyState.open;
  #flags = 0;
  #closeCode: number = CloseCode.abnormal;
  #closeReason = '';
  #closeTimer: NodeJS.Timeout | null = null;
  /** The payload of the latest ping not answered yet, while its pong waits (null: none owed). */
  #pendingPong: Buffer | null = null;
  /** The turn in which this connection last wrote a pong (see `turn`). */
  #pongTurn = -1;
  /** permessage-deflate state, when negotiated (null: frames go as they are). */
  #pmd: PerMessageDeflate | null = null;
  /** This turn's frames, held until the end of the turn (see `holding`): none, one, or several. */
  #held: Buffer | Buffer[] | null = null;
  /** Bytes in `#held`. */
  #heldBytes = 0;

  /** @internal Built by WebSocketServer or connect(); call `start()` next. */
  constructor(socket: Socket, ctx: ConnectionContext<T>, protocol: string, deflate: DeflateParams | null = null) {
    this.#socket = socket;
    this.#ctx = ctx;
    this.protocol = protocol;
    if (deflate !== null && ctx.deflate !== null) {
      this.#pmd = new PerMessageDeflate(deflate, ctx.deflate.settings, this);
    }
  }

  /**
   * The negotiated extensions, as in `Sec-WebSocket-Extensions` (e.g. `permessage-deflate;
   * server_no_context_takeover; client_no_context_takeover`), or '' when none.
   */
  get extensions(): string {
    return this.#pmd === null ? '' : this.#pmd.params.header;
  }

  /** The peer's IP address ('' when unknown). Read from the socket: not stored twice. */
  get remoteAddress(): string {
    return this.#socket.remoteAddress ?? '';
  }

  /** @internal Wires the socket and parses bytes that arrived with the handshake. */
  start(head: Buffer): void {
    const socket = this.#socket;
    socket[kConnection] = this;
    socket.setNoDelay(true);
    socket.setTimeout(0);
    // When the peer sends FIN, end our side too (http's sockets are half-open by default).
    socket.allowHalfOpen = false;
    socket.on('data', onSocketData);
    socket.on('close', onSocketClose);
    socket.on('error', onSocketError);
    if (this.#ctx.handler.drain !== undefined) socket.on('drain', onSocketDrain);
    this.#ctx.registry?.add(this);
    if (head.length > 0) this.#receive(head);
  }

  /** `open`, `closing` (our close frame sent or theirs received) or `closed` (the socket is gone). */
  get state(): ReadyState {
    return this.#state;
  }

  /** Bytes handed to the socket and not yet written to the network (with permessage-deflate: and waiting to be compressed). */
  get bufferedAmount(): number {
    const held = this.#heldBytes;
    return this.#pmd === null ? this.#socket.writableLength + held : this.#socket.writableLength + held + this.#pmd.queuedBytes;
  }

  /**
   * Sends one message (text for strings unless `isBinary`). Never throws on a closed
   * connection: it reports `dropped`. Over the buffer cap, the connection is closed with 1008.
   */
  send(data: string | Buffer, isBinary: boolean = typeof data !== 'string'): SendResult {
    if (this.#state !== ReadyState.open) return SendResult.dropped;
    if (this.#pmd !== null) return this.#sendDeflate(this.#pmd, data, isBinary);
    const socket = this.#socket;
    if (socket.writableLength + this.#heldBytes >= this.#ctx.limits.maxBufferedBytes) {
      this.#overflow();
      return SendResult.dropped;
    }
    return this.#writeMessage(data, isBinary ? Opcode.binary : Opcode.text) ? SendResult.sent : SendResult.queued;
  }

  /**
   * send() with permessage-deflate: small messages go as they are when nothing waits before
   * them; others join the compression queue, whose bytes count against the buffer cap.
   */
  #sendDeflate(pmd: PerMessageDeflate, data: string | Buffer, isBinary: boolean): SendResult {
    const socket = this.#socket;
    if (socket.writableLength + this.#heldBytes + pmd.queuedBytes >= this.#ctx.limits.maxBufferedBytes) {
      this.#overflow();
      return SendResult.dropped;
    }
    const bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    if (!pmd.sending && bytes < pmd.threshold) {
      return this.#writeMessage(data, isBinary ? Opcode.binary : Opcode.text) ? SendResult.sent : SendResult.queued;
    }
    pmd.send(data, isBinary, bytes);
    if (socket.writableLength + pmd.queuedBytes >= socket.writableHighWaterMark) {
      this.#flags |= Flag.drainOwed;
      return SendResult.queued;
    }
    return SendResult.sent;
  }

  /** Writes one whole message frame (`opcode` may carry RSV1); false when the socket is over its high-water mark. */
  #writeMessage(data: string | Buffer, opcode: number): boolean {
    const socket = this.#socket;
    let flushed: boolean;
    const masked = !this.#ctx.isServer;
    if (typeof data !== 'string' && !masked && data.length >= ZERO_COPY_THRESHOLD) {
      this.#release();
      socket.cork();
      socket.write(encodeHeader(opcode, data.length));
      flushed = socket.write(data);
      socket.uncork();
    } else {
      // Frames sent to one peer within one turn of the event loop leave in one write or writev
      // (one syscall), not one write each: a relay burst costs one syscall per peer per turn.
      flushed = this.#writeForTurn(encodeFrame(opcode, data, true, masked));
    }
    return flushed;
  }

  /**
   * Sends a ping (at most 125 bytes of payload). Like `send()`, over the buffer cap it closes
   * the connection with 1008 instead.
   */
  ping(data: Buffer | string = EMPTY): void {
    if (this.#state !== ReadyState.open) return;
    const payload = typeof data === 'string' ? Buffer.from(data) : data;
    if (payload.length > 125) throw new RangeError('ping payload must be at most 125 bytes');
    if (this.#socket.writableLength >= this.#ctx.limits.maxBufferedBytes) return this.#overflow();
    this.#release();
    this.#socket.write(encodeFrame(Opcode.ping, payload, true, !this.#ctx.isServer));
  }

  /**
   * Starts the closing handshake. The socket ends when the peer answers, or is destroyed
   * after the close timeout. Over the buffer cap, the close says 1008 (and `error()` hears
   * `buffer_overflow`) instead of `code`. Throws only on a code that may not be sent (our API
   * misused).
   */
  close(code: number = CloseCode.normal, reason = ''): void {
    if (!isValidCloseCode(code)) throw new RangeError(`close code ${code} may not be sent`);
    if (this.#state !== ReadyState.open) return;
    if (this.#socket.writableLength >= this.#ctx.limits.maxBufferedBytes) return this.#overflow();
    if (this.#pmd !== null && this.#pmd.sending) {
      // Messages sent before close() are still being compressed: the close frame follows them.
      this.#state = ReadyState.closing;
      this.#pmd.pendingClose = { code, reason, end: false };
    } else {
      this.#sendClose(code, reason);
    }
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
    const flags = this.#flags;
    if ((flags & Flag.pinged) !== 0) {
      this.#reportError(new WebSocketError(ErrorCodes.heartbeatTimeout, 'peer did not answer a ping'));
      this.terminate();
      return false;
    }
    if ((flags & Flag.quiet) !== 0) {
      this.#flags = flags | Flag.pinged;
      this.ping();
    } else {
      this.#flags = flags | Flag.quiet;
    }
    return true;
  }

  // ---- ReceiverSink: called by this connection's Receiver only ----

  /** @internal */
  onMessage(data: Buffer, isBinary: boolean): void {
    // After our own close() the peer may still send until it sees our close frame (RFC 6455
    // 5.5.1: it is only the sender of a close that sends no more data): those messages are
    // delivered. After a failure, or the peer's own close, nothing more is.
    if (this.#state === ReadyState.closed || (this.#flags & (Flag.failed | Flag.closeReceived)) !== 0) return;
    try {
      this.#ctx.handler.message(this, data, isBinary);
    } catch (error) {
      this.#handlerFailed(error);
    }
  }

  /**
   * @internal RFC 6455 5.5.2: answer a ping with a pong carrying the same payload. Pongs do not
   * pile up: RFC 6455 5.5.3 lets an endpoint that "has not yet sent Pong frame(s) in response to
   * previous Ping frame(s)" answer "only the most recently processed Ping frame". So once
   * PONG_BURST pongs are in this turn's batch, or while the socket waits for `drain`, a ping
   * only replaces the payload of the one pong owed, written at the end of the turn or on
   * `drain`. A ping flood from a peer that never reads costs a few pongs per turn, not one each.
   */
  onPing(data: Buffer): void {
    const flags = this.#flags;
    if ((flags & Flag.closeSent) !== 0) return;
    if (this.#pendingPong !== null) {
      // Waiting for `drain` may take long: keep a copy, not a view pinning a whole socket read.
      this.#pendingPong = (flags & Flag.pongOnDrain) !== 0 ? ownCopy(data) : data;
      return;
    }
    const socket = this.#socket;
    if (socket.writableLength >= this.#ctx.limits.maxBufferedBytes) return this.#overflow();
    if (socket.writableNeedDrain) return this.#pongOnDrain(data);
    if (this.#pongTurn === turn && (flags & PONG_COUNT_MASK) >>> PONG_COUNT_SHIFT >= PONG_BURST) {
      // Enough pongs in this turn's batch already: the latest ping is answered at the turn's end.
      this.#pendingPong = data;
      pongsDue.push(this);
      return;
    }
    this.#writePong(data);
  }

  /**
   * @internal A compressed message (permessage-deflate): the socket stops reading and the
   * receiver waits until it is inflated, so messages and control frames keep their order and a
   * peer cannot queue inflate work faster than it is done.
   */
  onCompressedMessage(data: Buffer, isBinary: boolean): boolean {
    if (this.#state === ReadyState.closed || (this.#flags & (Flag.failed | Flag.closeReceived)) !== 0 || this.#pmd === null) return false;
    this.#socket.pause();
    this.#pmd.inflate(data, isBinary);
    return true;
  }

  // ---- DeflateSink: called by this connection's PerMessageDeflate only ----

  /** @internal */
  onInflated(data: Buffer, isBinary: boolean): void {
    if (this.#state === ReadyState.closed) return;
    // RFC 6455 8.1 applies to the inflated text.
    if (!isBinary && !isUtf8(data)) {
      return this.onInflateError(new WebSocketError(ErrorCodes.invalidUtf8, 'invalid UTF-8 in a text message'));
    }
    this.onMessage(data, isBinary);
    this.#receiver!.resume();
    if (this.#receiver!.paused) return;
    this.#socket.resume();
    if ((this.#flags & Flag.closeDeferred) !== 0) WebSocketConnection.dispatch.close(this);
  }

  /** @internal */
  onInflateError(error: WebSocketError): void {
    if (this.#state === ReadyState.closed) return;
    this.#receiver?.stop();
    this.onProtocolError(error);
    // Read on (and discard) so that the peer's FIN is seen.
    this.#socket.resume();
    if ((this.#flags & Flag.closeDeferred) !== 0) WebSocketConnection.dispatch.close(this);
  }

  /** @internal */
  onDeflated(data: Buffer | string, isBinary: boolean, compressed: boolean): void {
    if (this.#state === ReadyState.closed || (this.#flags & Flag.closeSent) !== 0) return;
    // RFC 7692 6: RSV1 ("Per-Message Compressed") on the first (here: only) frame of the message.
    this.#writeMessage(data, (isBinary ? Opcode.binary : Opcode.text) | (compressed ? 0x40 : 0));
  }

  /** @internal */
  onDeflateIdle(): void {
    const pmd = this.#pmd!;
    const pending = pmd.pendingClose;
    if (pending !== null) {
      pmd.pendingClose = null;
      if ((this.#flags & Flag.closeSent) === 0 && this.#state !== ReadyState.closed) {
        this.#sendClose(pending.code, pending.reason);
        if (pending.end) this.#socket.end();
      }
    }
    if ((this.#flags & Flag.drainOwed) !== 0) {
      this.#flags &= ~Flag.drainOwed;
      // If the socket itself is behind, its own `drain` will tell the handler.
      if (!this.#socket.writableNeedDrain) WebSocketConnection.dispatch.drain(this);
    }
  }

  /** @internal */
  onDeflateError(error: WebSocketError): void {
    this.#reportError(error);
    if (this.#state !== ReadyState.closed) this.#fail(error.closeCode, error.message);
  }

  /** @internal Liveness is tracked on any input, so a pong needs nothing more. */
  onPong(_data: Buffer): void {}

  /**
   * @internal RFC 6455 5.5.1: answer a close with a close (same code), then end TCP. A peer
   * over the buffer cap gets 1008 instead, like everything else queued for it.
   */
  onCloseFrame(code: number, reason: string): void {
    this.#flags |= Flag.closeReceived;
    this.#closeCode = code;
    this.#closeReason = reason;
    if ((this.#flags & Flag.closeSent) === 0 && this.#socket.writableLength >= this.#ctx.limits.maxBufferedBytes) {
      return this.#overflow();
    }
    if (this.#pmd !== null && this.#pmd.sending && (this.#flags & Flag.closeSent) === 0) {
      // RFC 6455 5.5.1: an endpoint "MAY delay sending a Close frame until its current message is
      // sent": messages sent before the peer's close was read still go, compressed, then ours.
      this.#state = ReadyState.closing;
      this.#pmd.pendingClose = { code, reason: '', end: this.#ctx.isServer };
      this.#armCloseTimer();
      return;
    }
    this.#sendClose(code, '');
    // RFC 6455 7.1.1: the server closes the TCP connection first; a client waits a bounded time.
    if (this.#ctx.isServer) this.#socket.end();
    else this.#armCloseTimer();
  }

  /** @internal RFC 6455 7.1.7: fail the connection with the error's close code. */
  onProtocolError(error: WebSocketError): void {
    this.#reportError(error);
    this.#fail(error.closeCode, error.message);
  }

  // ---- internals ----

  #receive(chunk: Buffer): void {
    this.#flags &= ~(Flag.quiet | Flag.pinged);
    const ctx = this.#ctx;
    (this.#receiver ??= new Receiver(this, this.#pmd !== null && ctx.deflate !== null ? ctx.deflate.receiver : ctx.limits.receiver)).push(chunk);
  }

  /**
   * Writes `frame` by the end of this turn: held with the turn's other frames while the socket is
   * not corked and they would not fill it past its high-water mark, else written into the corked
   * socket after the held ones. Returns what `socket.write` would: false once over the high-water
   * mark.
   */
  #writeForTurn(frame: Buffer): boolean {
    const socket = this.#socket;
    const bytes = this.#heldBytes + frame.length;
    if (socket.writableCorked === 0 && socket.writableLength + bytes < socket.writableHighWaterMark) {
      const held = this.#held;
      if (held === null) {
        this.#held = frame;
        holding.push(this);
        scheduleTurnEnd();
      } else if (Array.isArray(held)) {
        held.push(frame);
      } else {
        this.#held = [held, frame];
      }
      this.#heldBytes = bytes;
      return true;
    }
    corkForTurn(socket);
    this.#release();
    return socket.write(frame);
  }

  /** Writes the held frames, if any, as one buffer: before any other write, so that order is kept. */
  #release(): void {
    const held = this.#held;
    if (held === null) return;
    this.#held = null;
    const bytes = this.#heldBytes;
    this.#heldBytes = 0;
    if (!this.#socket.destroyed) this.#socket.write(Array.isArray(held) ? Buffer.concat(held, bytes) : held);
  }

  #writePong(data: Buffer): void {
    corkForTurn(this.#socket);
    this.#release();
    const flags = this.#flags;
    const count = this.#pongTurn === turn ? Math.min(31, ((flags & PONG_COUNT_MASK) >>> PONG_COUNT_SHIFT) + 1) : 1;
    this.#flags = (flags & ~PONG_COUNT_MASK) | (count << PONG_COUNT_SHIFT);
    this.#pongTurn = turn;
    this.#socket.write(encodeFrame(Opcode.pong, data, true, !this.#ctx.isServer));
  }

  /** Owes a pong until the socket drains (one shared listener, attached only meanwhile). */
  #pongOnDrain(data: Buffer): void {
    this.#pendingPong = ownCopy(data);
    this.#flags |= Flag.pongOnDrain;
    this.#socket.on('drain', onSocketDrainPong);
  }

  /** Writes the pong owed, if any and if still allowed (end of turn, or `drain`). */
  #payPong(): void {
    const data = this.#pendingPong;
    if (data === null) return;
    this.#pendingPong = null;
    const socket = this.#socket;
    if ((this.#flags & Flag.closeSent) !== 0 || socket.destroyed) return;
    if (socket.writableLength >= this.#ctx.limits.maxBufferedBytes) return this.#overflow();
    if (socket.writableNeedDrain) return this.#pongOnDrain(data);
    this.#writePong(data);
  }

  /**
   * Fails the connection with 1008 (`buffer_overflow`): the peer let `maxBufferedBytes` of
   * frames pile up. Its close frame is the one frame written past the cap (once, at most 125
   * bytes of payload); the socket is destroyed after the close timeout if it does not drain.
   */
  #overflow(): void {
    const error = new WebSocketError(ErrorCodes.bufferOverflow, 'peer reads too slowly: outgoing buffer full');
    this.#reportError(error);
    this.#fail(error.closeCode, 'slow consumer');
  }

  /** Sends a close frame (once) and stops accepting application sends. */
  #sendClose(code: number, reason: string): void {
    this.#state = ReadyState.closing;
    if ((this.#flags & Flag.closeSent) !== 0) return;
    this.#flags |= Flag.closeSent;
    // Nothing may follow a close frame (RFC 6455 5.5.1): messages still waiting for compression are dropped.
    this.#pmd?.discardQueue();
    this.#release();
    this.#socket.write(encodeFrame(Opcode.close, closePayload(code, reason), true, !this.#ctx.isServer));
  }

  /** Close frame, then end TCP at once: after an error the stream cannot be trusted. */
  #fail(code: number, reason: string): void {
    this.#flags |= Flag.failed;
    this.#sendClose(code, reason.slice(0, 100));
    this.#socket.end();
    this.#armCloseTimer();
  }

  #armCloseTimer(): void {
    if (this.#closeTimer !== null || this.#state === ReadyState.closed) return;
    this.#closeTimer = setTimeout(destroySocket, this.#ctx.limits.closeTimeoutMs, this.#socket);
    this.#closeTimer.unref();
  }

  #handlerFailed(error: unknown): void {
    this.#reportError(error instanceof Error ? error : new Error(String(error)));
    if (this.#state === ReadyState.open) this.#fail(CloseCode.internalError, 'internal error');
  }

  #reportError(error: Error): void {
    try {
      this.#ctx.handler.error?.(this, error);
    } catch {
      // An error reporter that throws has nowhere left to report to.
    }
  }

  /** @internal Socket listener bodies (the listeners themselves are shared functions below). */
  static dispatch = {
    data(conn: WebSocketConnection<any>, chunk: Buffer): void {
      conn.#receive(chunk);
    },
    pongDue(conn: WebSocketConnection<any>): void {
      conn.#payPong();
    },
    release(conn: WebSocketConnection<any>): void {
      conn.#release();
    },
    drainPong(conn: WebSocketConnection<any>): void {
      conn.#flags &= ~Flag.pongOnDrain;
      conn.#payPong();
    },
    drain(conn: WebSocketConnection<any>): void {
      if (conn.#state !== ReadyState.open) return;
      try {
        conn.#ctx.handler.drain?.(conn);
      } catch (error) {
        conn.#handlerFailed(error);
      }
    },
    close(conn: WebSocketConnection<any>): void {
      if (conn.#state === ReadyState.closed) return;
      if (conn.#pmd !== null && conn.#pmd.inflating) {
        // What was read before the socket closed (a compressed message, maybe the peer's close
        // frame after it) is still delivered: `close` follows once it is parsed.
        conn.#flags |= Flag.closeDeferred;
        return;
      }
      conn.#flags &= ~Flag.closeDeferred;
      conn.#state = ReadyState.closed;
      conn.#held = null;
      conn.#heldBytes = 0;
      if (conn.#closeTimer !== null) clearTimeout(conn.#closeTimer);
      conn.#closeTimer = null;
      conn.#ctx.registry?.delete(conn);
      conn.#pmd?.destroy();
      const code = (conn.#flags & Flag.closeReceived) !== 0 ? conn.#closeCode : CloseCode.abnormal;
      try {
        conn.#ctx.handler.close(conn, code, conn.#closeReason);
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
function onSocketDrain(this: OwnedSocket): void {
  const conn = this[kConnection];
  if (conn !== undefined) WebSocketConnection.dispatch.drain(conn);
}
function onSocketDrainPong(this: OwnedSocket): void {
  this.removeListener('drain', onSocketDrainPong);
  const conn = this[kConnection];
  if (conn !== undefined) WebSocketConnection.dispatch.drainPong(conn);
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
