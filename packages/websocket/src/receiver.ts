/**
 * The frame parser: turns bytes, cut and joined any way TCP likes, into messages, control
 * frames or one protocol error. It knows no sockets; the connection gives it a sink.
 *
 * An integer-state loop over a list of pending chunks. Bytes are copied only when a header
 * spans chunks, or when a message has several pieces; a frame that sits inside one chunk is
 * unmasked in place and handed over as a view. Payloads are unmasked and (for text) UTF-8
 * checked as they arrive, so a bad byte fails the connection on the read where it appears.
 *
 * What is kept between pushes holds only its own bytes: a view pins the whole socket read it
 * points into, so a small piece of a message in progress, or a partial header left at the end
 * of a read, is copied into memory of its own before push() returns (see #settle, #compact).
 */
import { isUtf8 } from 'node:buffer';
import { ErrorCodes, WebSocketError, isValidCloseCode, type ErrorKind } from './errors.js';
import { UTF8_ACCEPT, UTF8_REJECT, utf8Step } from './utf8.js';

/** Opcodes (RFC 6455 5.2). */
export const Opcode = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

/** Where the parser delivers what it finds. Implemented once per connection class, not per socket. */
export interface ReceiverSink {
  /** A complete message; `data` is the caller's to keep. Text has been validated as UTF-8. */
  onMessage(data: Buffer, isBinary: boolean): void;
  /**
   * A complete compressed message (permessage-deflate, RSV1 on its first frame): `data` is the
   * payload as received, not inflated and not UTF-8 checked. Return true to pause the receiver
   * (it buffers input and parses nothing more until `resume()`), false to drop the message and
   * go on. Called only when `perMessageDeflate` is set in the options.
   */
  onCompressedMessage?(data: Buffer, isBinary: boolean): boolean;
  /** A ping (at most 125 bytes of payload); answering it is the sink's job. */
  onPing(data: Buffer): void;
  /** A pong (solicited or not). */
  onPong(data: Buffer): void;
  /** A valid close frame; `code` is 1005 when it carried no status. */
  onCloseFrame(code: number, reason: string): void;
  /** The input broke the protocol; the receiver ignores all further input. */
  onProtocolError(error: WebSocketError): void;
}

/** What a {@link Receiver} checks. */
export interface ReceiverOptions {
  /** Server side: frames must be masked. Client side: frames must not be. */
  readonly isServer: boolean;
  /** Largest message in bytes, after reassembly (for compressed messages: on the wire). */
  readonly maxMessageSize: number;
  /** permessage-deflate was negotiated: RSV1 may mark the first frame of a data message. */
  readonly perMessageDeflate?: boolean;
}

const State = {
  header: 0,
  length16: 1,
  length64: 2,
  maskKey: 3,
  payload: 4,
  /** After a close frame or an error: input is ignored. */
  done: 5,
  /** After a compressed message, until resume(): input is buffered, not parsed. */
  paused: 6,
} as const;

const EMPTY = Buffer.alloc(0);

/** Pieces of a message kept apart before they are joined into one buffer (see #joinRun). */
const JOIN_RUN = 128;

/**
 * The frame parser: bytes in (`push()`), messages, control frames and protocol errors out to its
 * {@link ReceiverSink}. It never touches a socket and never throws on wire input.
 */
export class Receiver {
  #sink: ReceiverSink;
  #options: ReceiverOptions;
  #state: number = State.header;

  // Pending input; null while there is none (most connections, most of the time).
  #chunks: Buffer[] | null = null;
  #buffered = 0;

  // The frame being read.
  #fin = false;
  #opcode = 0;
  #mask = 0; // 32-bit mask key, big-endian as on the wire (0 on unmasked frames)
  #maskOffset = 0; // payload bytes of this frame unmasked so far, mod 4
  #payloadLeft = 0;

  // The message being assembled (data frames).
  #messageOpcode = 0; // 0: no message in progress
  #messageBytes = 0;
  #fragments: Buffer[] | null = null;
  #joinedFragments = 0; // leading entries of #fragments that are already joined runs
  #settledFragments = 0; // leading entries of #fragments that may be kept past this push
  #utf8State = UTF8_ACCEPT;
  #pieces = 0; // pieces of the current message, to pick the fast path for single-piece text
  #compressed = false; // the current message had RSV1 on its first frame (permessage-deflate)

  constructor(sink: ReceiverSink, options: ReceiverOptions) {
    this.#sink = sink;
    this.#options = options;
  }

  /** True once a close frame or a protocol error was seen: nothing more will be parsed. */
  get done(): boolean {
    return this.#state === State.done;
  }

  /**
   * @internal Bytes of memory kept alive by what the receiver holds between pushes: the whole
   * backing store of every buffer it keeps (a view pins all of its store), each counted once.
   * For the tests of the retention rules; costs a walk over the held buffers.
   */
  get retainedBytes(): number {
    const stores = new Set<ArrayBufferLike>();
    let bytes = 0;
    for (const list of [this.#fragments, this.#chunks]) {
      if (list === null) continue;
      for (const b of list) {
        if (stores.has(b.buffer)) continue;
        stores.add(b.buffer);
        bytes += b.buffer.byteLength;
      }
    }
    return bytes;
  }

  /** True while paused after a compressed message (see `ReceiverSink.onCompressedMessage`). */
  get paused(): boolean {
    return this.#state === State.paused;
  }

  /** Feeds bytes in arrival order. Never throws on any input. */
  push(chunk: Buffer): void {
    if (this.#state === State.done || chunk.length === 0) return;
    if (this.#chunks === null) this.#chunks = [chunk];
    else this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    this.#run();
    this.#tidy();
  }

  /** Parses on after a pause: what was buffered meanwhile first. */
  resume(): void {
    if (this.#state !== State.paused) return;
    this.#state = State.header;
    if (this.#chunks === null) return;
    this.#run();
    this.#tidy();
  }

  /** Stops parsing for good and lets go of buffered input (the connection failed). */
  stop(): void {
    this.#finish();
  }

  /** What is kept past a push or a resume holds only its own bytes. */
  #tidy(): void {
    // Idle connections keep no array: most of them sit silent between reads.
    if (this.#buffered === 0) this.#chunks = null;
    else this.#compact();
    if (this.#fragments !== null) this.#settle();
  }

  #run(): void {
    while (this.#state < State.done) {
      switch (this.#state) {
        case State.header:
          if (this.#buffered < 2 || !this.#readHeader()) return;
          break;
        case State.length16:
          if (this.#buffered < 2) return;
          this.#setPayloadLength(this.#take(2).readUInt16BE(0));
          break;
        case State.length64: {
          if (this.#buffered < 8) return;
          const bytes = this.#take(8);
          const high = bytes.readUInt32BE(0);
          // RFC 6455 5.2: "the most significant bit MUST be 0".
          if (high >= 0x80000000) {
            this.#fail(ErrorCodes.invalidLength, 'payload length has its most significant bit set');
            return;
          }
          // Anything past 2^53 is far beyond any sane limit: report it as too big.
          if (high > 0x1fffff) {
            this.#fail(ErrorCodes.messageTooBig, 'payload length exceeds 2^53 - 1');
            return;
          }
          this.#setPayloadLength(high * 0x100000000 + bytes.readUInt32BE(4));
          break;
        }
        case State.maskKey:
          if (this.#buffered < 4) return;
          this.#mask = this.#take(4).readUInt32BE(0);
          this.#state = State.payload;
          break;
        case State.payload:
          if (!this.#readPayload()) return;
          break;
      }
    }
  }

  /** Reads the two fixed header bytes and checks everything they decide. */
  #readHeader(): boolean {
    const first = this.#chunks![0]!;
    const b0 = first.length >= 2 ? first[0]! : this.#peekByte(0);
    const b1 = first.length >= 2 ? first[1]! : this.#peekByte(1);
    this.#drop(2);

    this.#fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    this.#opcode = opcode;
    const masked = (b1 & 0x80) !== 0;
    const length = b1 & 0x7f;

    // RFC 6455 5.2: RSV1-3 "MUST be 0 unless an extension is negotiated".
    if ((b0 & 0x70) !== 0 && !this.#compressedStart(b0, opcode)) {
      return this.#fail(ErrorCodes.reservedBits, (b0 & 0x30) !== 0 || !this.#options.perMessageDeflate
        ? 'RSV bits must be clear' : 'RSV1 is allowed only on the first frame of a data message');
    }

    if (opcode >= Opcode.close) {
      if (opcode > Opcode.pong) return this.#fail(ErrorCodes.reservedOpcode, `reserved opcode 0x${opcode.toString(16)}`);
      if (!this.#fin) return this.#fail(ErrorCodes.fragmentedControl, 'control frames must not be fragmented');
      if (length > 125) return this.#fail(ErrorCodes.controlTooLong, 'control frame payload over 125 bytes');
    } else if (opcode === Opcode.continuation) {
      if (this.#messageOpcode === 0) return this.#fail(ErrorCodes.unexpectedContinuation, 'continuation frame without a message in progress');
    } else if (opcode === Opcode.text || opcode === Opcode.binary) {
      if (this.#messageOpcode !== 0) return this.#fail(ErrorCodes.expectedContinuation, 'new message before the fragmented one ended');
      this.#compressed = (b0 & 0x40) !== 0;
    } else {
      return this.#fail(ErrorCodes.reservedOpcode, `reserved opcode 0x${opcode.toString(16)}`);
    }

    if (masked !== this.#options.isServer) {
      return this.#options.isServer
        ? this.#fail(ErrorCodes.unmaskedFrame, 'client frames must be masked')
        : this.#fail(ErrorCodes.maskedFrame, 'server frames must not be masked');
    }

    if (length === 126) this.#state = State.length16;
    else if (length === 127) this.#state = State.length64;
    else this.#setPayloadLength(length);
    return true;
  }

  /**
   * RFC 7692 6: with permessage-deflate, RSV1 set on the first frame of a text or binary message
   * marks it compressed; "a receiver MUST fail the connection" on RSV1 elsewhere (a continuation
   * or control frame), and RSV2/RSV3 stay reserved.
   */
  #compressedStart(b0: number, opcode: number): boolean {
    return (b0 & 0x70) === 0x40 && this.#options.perMessageDeflate === true && this.#sink.onCompressedMessage !== undefined &&
      (opcode === Opcode.text || opcode === Opcode.binary);
  }

  #setPayloadLength(length: number): void {
    if (this.#opcode < Opcode.close) {
      // Checked from the header, before a single payload byte is buffered.
      if (this.#messageBytes + length > this.#options.maxMessageSize) {
        this.#fail(ErrorCodes.messageTooBig, `message exceeds ${this.#options.maxMessageSize} bytes`);
        return;
      }
      if (this.#opcode !== Opcode.continuation) {
        this.#messageOpcode = this.#opcode;
        this.#utf8State = UTF8_ACCEPT;
        this.#pieces = 0;
      }
      this.#messageBytes += length;
    }
    this.#payloadLeft = length;
    this.#mask = 0;
    this.#maskOffset = 0;
    // Masking was checked against the role: server side, every frame has a key.
    this.#state = this.#options.isServer ? State.maskKey : State.payload;
  }

  /** Returns false when it needs more input. */
  #readPayload(): boolean {
    if (this.#opcode >= Opcode.close) {
      // Control frames are tiny (<= 125 bytes): wait for all of them.
      if (this.#buffered < this.#payloadLeft) return false;
      const payload = this.#payloadLeft === 0 ? EMPTY : this.#take(this.#payloadLeft);
      this.#payloadLeft = 0;
      this.#unmask(payload);
      this.#state = State.header;
      this.#control(payload);
      return true;
    }

    // Data frames: take what has arrived, so text is validated as it comes.
    if (this.#payloadLeft > 0) {
      if (this.#buffered === 0) return false;
      const piece = this.#take(Math.min(this.#payloadLeft, this.#buffered));
      this.#payloadLeft -= piece.length;
      this.#unmask(piece);
      this.#pieces++;
      if (this.#messageOpcode === Opcode.text && !this.#compressed) {
        // A single-piece final frame is checked at once by the native validator below.
        const wholeMessage = this.#fin && this.#payloadLeft === 0 && this.#pieces === 1;
        if (!wholeMessage) {
          this.#utf8State = utf8Step(this.#utf8State, piece);
          if (this.#utf8State === UTF8_REJECT) return this.#fail(ErrorCodes.invalidUtf8, 'invalid UTF-8 in a text message');
        }
      }
      if (this.#fragments === null) this.#fragments = [piece];
      else if (this.#fragments.push(piece) - this.#joinedFragments >= JOIN_RUN) this.#joinRun();
      if (this.#payloadLeft > 0) return false;
    }

    this.#state = State.header;
    if (this.#fin) this.#finishMessage();
    return true;
  }

  #finishMessage(): void {
    const fragments = this.#fragments;
    const data =
      fragments === null ? EMPTY : fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments, this.#messageBytes);
    const isBinary = this.#messageOpcode === Opcode.binary;
    if (this.#compressed) {
      this.#endMessage();
      this.#compressed = false;
      // Inflated (and checked) by the sink; nothing more is parsed until it says so.
      if (this.#sink.onCompressedMessage!(data, isBinary) && this.#state === State.header) this.#state = State.paused;
      return;
    }
    if (!isBinary) {
      const valid = this.#pieces <= 1 ? isUtf8(data) : this.#utf8State === UTF8_ACCEPT;
      if (!valid) {
        this.#fail(ErrorCodes.invalidUtf8, 'invalid UTF-8 in a text message');
        return;
      }
    }
    this.#endMessage();
    this.#sink.onMessage(data, isBinary);
  }

  /** Forgets the message just completed (its fragments and counters). */
  #endMessage(): void {
    this.#fragments = null;
    this.#joinedFragments = 0;
    this.#settledFragments = 0;
    this.#messageOpcode = 0;
    this.#messageBytes = 0;
    this.#pieces = 0;
  }

  /**
   * Joins the pieces added since the last join into one buffer. A message sent as thousands of
   * tiny fragments would otherwise hold a Buffer object (and a view of a whole socket read) per
   * piece: ~100 bytes of heap per byte of a 1-byte fragment. Each byte is copied once more.
   */
  #joinRun(): void {
    this.#joinFrom(this.#joinedFragments);
    this.#joinedFragments = this.#fragments!.length;
  }

  /**
   * The pieces of a message in progress that arrived in this push are views into its chunks.
   * Kept as they are, 127 one-byte fragments in 127 reads of 64 KiB would pin 8 MiB. If they
   * fill less than half of the memory they pin, they are joined into a buffer of their own;
   * a large piece (most of its read) stays a view, so big messages are not copied twice.
   */
  #settle(): void {
    const fragments = this.#fragments!;
    const start = this.#settledFragments;
    let bytes = 0;
    let pinned = 0;
    let store: ArrayBufferLike | null = null;
    for (let i = start; i < fragments.length; i++) {
      const piece = fragments[i]!;
      bytes += piece.length;
      if (piece.buffer !== store) {
        store = piece.buffer;
        pinned += store.byteLength;
      }
    }
    if (pinned > 2 * bytes) this.#joinFrom(start);
    this.#settledFragments = fragments.length;
  }

  /**
   * Replaces the pieces from `start` on with one copy in memory of its own: allocated outside
   * Node's shared pool, whose 8 KiB slabs a small copy would otherwise keep alive.
   */
  #joinFrom(start: number): void {
    const fragments = this.#fragments!;
    let length = 0;
    for (let i = start; i < fragments.length; i++) length += fragments[i]!.length;
    const run = Buffer.allocUnsafeSlow(length);
    let offset = 0;
    for (let i = start; i < fragments.length; i++) offset += fragments[i]!.copy(run, offset);
    fragments.length = start;
    fragments.push(run);
    this.#settledFragments = start + 1;
  }

  /**
   * Bytes left over at the end of a push are a partial frame header or control frame (under
   * 140 bytes: data payloads are taken as they arrive). They are copied out of the read they
   * came in unless they fill at least half of it.
   */
  #compact(): void {
    const chunks = this.#chunks!;
    const buffered = this.#buffered;
    if (chunks.length === 1 && chunks[0]!.buffer.byteLength <= 2 * buffered) return;
    const own = Buffer.allocUnsafeSlow(buffered);
    let offset = 0;
    for (const chunk of chunks) offset += chunk.copy(own, offset);
    chunks.length = 1;
    chunks[0] = own;
  }

  #control(payload: Buffer): void {
    switch (this.#opcode) {
      case Opcode.ping:
        this.#sink.onPing(payload);
        return;
      case Opcode.pong:
        this.#sink.onPong(payload);
        return;
      default:
        this.#closeFrame(payload);
    }
  }

  #closeFrame(payload: Buffer): void {
    if (payload.length === 0) {
      this.#finish();
      this.#sink.onCloseFrame(1005, '');
      return;
    }
    if (payload.length === 1) {
      this.#fail(ErrorCodes.invalidClosePayload, 'close frame payload of 1 byte');
      return;
    }
    const code = payload.readUInt16BE(0);
    if (!isValidCloseCode(code)) {
      this.#fail(ErrorCodes.invalidCloseCode, `invalid close code ${code}`);
      return;
    }
    const reasonBytes = payload.subarray(2);
    if (!isUtf8(reasonBytes)) {
      this.#fail(ErrorCodes.invalidUtf8, 'invalid UTF-8 in the close reason');
      return;
    }
    this.#finish();
    this.#sink.onCloseFrame(code, reasonBytes.toString('utf8'));
  }

  /** Fails the connection; returns false so parsing steps can `return this.#fail(...)`. */
  #fail(kind: ErrorKind, message: string): false {
    this.#finish();
    this.#sink.onProtocolError(new WebSocketError(kind, message));
    return false;
  }

  /** Stops parsing and lets go of buffered input. */
  #finish(): void {
    this.#state = State.done;
    this.#chunks = null;
    this.#buffered = 0;
    this.#fragments = null;
    this.#joinedFragments = 0;
    this.#settledFragments = 0;
  }

  /** XORs the frame's mask into `bytes`, continuing where the previous piece of the frame ended. */
  #unmask(bytes: Buffer): void {
    const n = bytes.length;
    const mask = this.#mask;
    if (mask === 0 || n === 0) return; // unmasked, or a zero key: XOR with 0 changes nothing
    const start = this.#maskOffset;
    let i = 0;
    // Byte-wise until the key is aligned, then 4 bytes at a time, then the tail.
    for (; i < n && ((start + i) & 3) !== 0; i++) bytes[i] ^= (mask >>> (24 - 8 * ((start + i) & 3))) & 0xff;
    const m0 = mask >>> 24;
    const m1 = (mask >>> 16) & 0xff;
    const m2 = (mask >>> 8) & 0xff;
    const m3 = mask & 0xff;
    for (; i + 3 < n; i += 4) {
      bytes[i] ^= m0;
      bytes[i + 1] ^= m1;
      bytes[i + 2] ^= m2;
      bytes[i + 3] ^= m3;
    }
    for (; i < n; i++) bytes[i] ^= (mask >>> (24 - 8 * ((start + i) & 3))) & 0xff;
    this.#maskOffset = (start + n) & 3;
  }

  #peekByte(index: number): number {
    for (const chunk of this.#chunks!) {
      if (index < chunk.length) return chunk[index]!;
      index -= chunk.length;
    }
    return 0;
  }

  /** Drops `n` buffered bytes (already read by peeking). */
  #drop(n: number): void {
    const chunks = this.#chunks!;
    this.#buffered -= n;
    while (n > 0) {
      const first = chunks[0]!;
      if (n < first.length) {
        chunks[0] = first.subarray(n);
        return;
      }
      n -= first.length;
      chunks.shift();
    }
  }

  /** Removes `n` buffered bytes (n <= buffered): a view when they sit in one chunk, else a copy. */
  #take(n: number): Buffer {
    const chunks = this.#chunks!;
    this.#buffered -= n;
    const first = chunks[0]!;
    if (n === first.length) {
      chunks.shift();
      return first;
    }
    if (n < first.length) {
      chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let written = 0;
    while (written < n) {
      const chunk = chunks[0]!;
      const want = n - written;
      if (chunk.length <= want) {
        chunk.copy(out, written);
        written += chunk.length;
        chunks.shift();
      } else {
        chunk.copy(out, written, 0, want);
        chunks[0] = chunk.subarray(want);
        written += want;
      }
    }
    return out;
  }
}
