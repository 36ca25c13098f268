/**
 * permessage-deflate at run time (RFC 7692 section 7.2): one object per connection that
 * negotiated it, compressing what the connection sends and inflating what it receives.
 *
 * How its cost stays bounded:
 * - zlib runs asynchronously on libuv's threadpool, at most one inflate and one deflate job in
 *   flight per connection. Node's zlib returns to the event loop after each 16 KiB of output,
 *   so a large message is many short jobs queued behind other connections' (FIFO): one client
 *   cannot hold the threadpool, and the event loop never inflates anything itself.
 * - Inflating: the connection's receiver stops parsing and its socket stops reading while a
 *   message inflates (backpressure to the peer through TCP, nothing queued in memory), and
 *   every 16 KiB of output is counted: past `maxMessageSize` the inflate is abandoned and the
 *   connection fails with 1009, so a small frame that would inflate to gigabytes costs
 *   `maxMessageSize` + 16 KiB at most.
 * - Deflating: messages wait in a queue whose bytes count against `maxBufferedBytes` with the
 *   socket's own buffer; they leave in the order they were sent.
 * - Memory: a zlib context exists only while there is work. Without context takeover (the
 *   server's default in both directions) it is reset between messages and freed once it has
 *   not been used for 0.5 to 1 s (one shared timer sweeps them, and stops when there are none),
 *   so an idle connection holds none and a busy one does not pay for a new context per
 *   message (about 20 us and a 64 KiB memset each). With context takeover the context
 *   must outlive the message: it is created on the first message and kept until the
 *   connection closes (about 2^(windowBits+2) + 2^(memLevel+9) bytes to deflate, 256 KiB at
 *   the defaults, and 2^windowBits + 7 KiB to inflate).
 */
import { constants, createDeflateRaw, createInflateRaw, type DeflateRaw, type InflateRaw } from 'node:zlib';
import { ErrorCodes, WebSocketError } from './errors.js';
import type { DeflateParams, ResolvedDeflateOptions } from './extensions.js';

/** RFC 7692 7.2.2: the 4 octets appended to a message's payload before inflating it. */
const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** What a connection's deflate settings share: the options and the message size limit. */
export interface DeflateSettings {
  readonly options: ResolvedDeflateOptions;
  /** Largest inflated message (the connection's maxMessageSize). */
  readonly maxMessageSize: number;
}

/** Where results go, in order. Implemented by the connection. */
export interface DeflateSink {
  /** A message inflated in full (text not validated yet). */
  onInflated(data: Buffer, isBinary: boolean): void;
  /** Inflating failed: corrupt data (1007) or over the size limit (1009). */
  onInflateError(error: WebSocketError): void;
  /** The next message to write, in send order; `compressed`: the payload is deflated (RSV1). */
  onDeflated(data: Buffer | string, isBinary: boolean, compressed: boolean): void;
  /** The send queue emptied (after at least one deflate). */
  onDeflateIdle(): void;
  /** Our own compressor failed (a zlib error: should not happen). */
  onDeflateError(error: WebSocketError): void;
}

/** Contexts unused for a whole sweep interval (0.5 to 1 s after their last use) are freed. */
const SWEEP_MS = 500;
/** Connections holding a context that may go idle (no context takeover on that side). */
const watched = new Set<PerMessageDeflate>();
let sweepTick = 0;
let sweeper: NodeJS.Timeout | null = null;

function sweep(): void {
  sweepTick++;
  for (const pmd of watched) if (pmd.sweep(sweepTick)) watched.delete(pmd);
  if (watched.size === 0 && sweeper !== null) {
    clearInterval(sweeper);
    sweeper = null;
  }
}

function watch(pmd: PerMessageDeflate): void {
  watched.add(pmd);
  if (sweeper === null) {
    sweeper = setInterval(sweep, SWEEP_MS);
    sweeper.unref();
  }
}

/** Payloads up to this size are inflated in one write with the trailer (one threadpool job, one copy). */
const JOIN_TRAILER_MAX = 64 * 1024;

const kOwner = Symbol('strangers.ws.deflate');
type Stream<Z> = Z & { [kOwner]: PerMessageDeflate; [kFlushed]: () => void };
const kFlushed = Symbol('strangers.ws.flushed');

/** One message waiting to be compressed and sent. */
interface Outgoing {
  readonly data: Buffer | string;
  readonly isBinary: boolean;
  readonly bytes: number;
}

export class PerMessageDeflate {
  readonly params: DeflateParams;
  #settings: DeflateSettings;
  #sink: DeflateSink;

  #inflater: Stream<InflateRaw> | null = null;
  #inChunks: Buffer[] = [];
  #inBytes = 0;
  #inBinary = false;
  #inflating = false;
  /** sweepTick of the inflater's last use. */
  #inUsed = 0;

  #deflater: Stream<DeflateRaw> | null = null;
  #queue: Outgoing[] = [];
  #queuedBytes = 0;
  #deflating: Outgoing | null = null;
  #outChunks: Buffer[] = [];
  #outBytes = 0;
  /** sweepTick of the deflater's last use. */
  #outUsed = 0;
  #closed = false;
  /** A close the connection asked for while messages were still queued: sent after them. */
  pendingClose: { code: number; reason: string; end: boolean } | null = null;

  constructor(params: DeflateParams, settings: DeflateSettings, sink: DeflateSink) {
    this.params = params;
    this.#settings = settings;
    this.#sink = sink;
  }

  /** Bytes of messages waiting to be compressed and written (counted against maxBufferedBytes). */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** True while messages wait or one is being compressed. */
  get sending(): boolean {
    return this.#deflating !== null || this.#queue.length > 0;
  }

  /** True while a message inflates. */
  get inflating(): boolean {
    return this.#inflating;
  }

  /** Messages under this many bytes go uncompressed when nothing is queued. */
  get threshold(): number {
    return this.#settings.options.threshold;
  }

  // ---- inflate ----

  /**
   * Inflates one message (its payload as received, RSV1 set on its first frame). One at a time:
   * the connection does not read on until `onInflated` or `onInflateError`.
   */
  inflate(data: Buffer, isBinary: boolean): void {
    let z = this.#inflater;
    if (z === null) {
      // Every write is processed with Z_SYNC_FLUSH: its callback means all its output was emitted.
      z = createInflateRaw({ windowBits: this.params.peerWindowBits, flush: constants.Z_SYNC_FLUSH }) as Stream<InflateRaw>;
      z[kOwner] = this;
      z[kFlushed] = () => this.#inflated(z!);
      z.on('data', onInflateData);
      z.on('error', onInflateError);
      this.#inflater = z;
      if (this.params.peerNoContextTakeover) watch(this);
    }
    this.#inflating = true;
    this.#inUsed = sweepTick;
    this.#inBinary = isBinary;
    this.#inChunks = [];
    this.#inBytes = 0;
    if (data.length <= JOIN_TRAILER_MAX) {
      z.write(Buffer.concat([data, TRAILER], data.length + 4), z[kFlushed]);
    } else {
      z.write(data);
      z.write(TRAILER, z[kFlushed]);
    }
  }

  /** @internal A piece of inflated output: counted against the limit before anything else. */
  inflateData(z: InflateRaw, chunk: Buffer): void {
    if (z !== this.#inflater || !this.#inflating) return;
    this.#inBytes += chunk.length;
    if (this.#inBytes > this.#settings.maxMessageSize) {
      this.#dropInflater();
      this.#sink.onInflateError(new WebSocketError(ErrorCodes.messageTooBig,
        `message inflates to more than ${this.#settings.maxMessageSize} bytes`));
      return;
    }
    this.#inChunks.push(chunk);
  }

  /** @internal zlib rejected the data. */
  inflateError(z: InflateRaw, error: Error): void {
    if (z !== this.#inflater) return;
    const wasInflating = this.#inflating;
    this.#dropInflater();
    if (wasInflating) this.#sink.onInflateError(new WebSocketError(ErrorCodes.invalidCompressedData, `invalid compressed data: ${error.message}`));
  }

  #inflated(z: Stream<InflateRaw>): void {
    if (z !== this.#inflater || !this.#inflating) return;
    const chunks = this.#inChunks;
    const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.#inBytes);
    this.#inChunks = [];
    this.#inBytes = 0;
    this.#inflating = false;
    // RFC 7692 7.2.3.3: without context takeover the peer may end a message with a final block,
    // which ends the stream (Node's stream is then done for good: a new one comes next time).
    if (!z.readable) this.#dropInflater();
    else if (this.params.peerNoContextTakeover) z.reset();
    this.#sink.onInflated(data, this.#inBinary);
  }

  /**
   * @internal One tick of the shared sweeper: frees contexts (without context takeover) unused
   * since the tick before last. True when nothing is left to watch.
   */
  sweep(tick: number): boolean {
    if (this.#inflater !== null && !this.#inflating && this.#inUsed < tick - 1) this.#dropInflater();
    if (this.#deflater !== null && this.#deflating === null && this.#outUsed < tick - 1) this.#dropDeflater();
    return (this.#inflater === null || !this.params.peerNoContextTakeover) && (this.#deflater === null || !this.params.ownNoContextTakeover);
  }

  #dropInflater(): void {
    const z = this.#inflater;
    this.#inflater = null;
    this.#inflating = false;
    this.#inChunks = [];
    this.#inBytes = 0;
    if (z !== null) z.close();
  }

  // ---- deflate ----

  /** Queues a message; it reaches `onDeflated` after every message queued before it. */
  send(data: Buffer | string, isBinary: boolean, bytes: number): void {
    this.#queue.push({ data, isBinary, bytes });
    this.#queuedBytes += bytes;
    if (this.#deflating === null) this.#next();
  }

  #next(): void {
    const queue = this.#queue;
    while (queue.length > 0 && !this.#closed) {
      const item = queue.shift()!;
      if (item.bytes < this.#settings.options.threshold) {
        this.#queuedBytes -= item.bytes;
        this.#sink.onDeflated(item.data, item.isBinary, false);
        continue;
      }
      this.#deflating = item;
      let z = this.#deflater;
      if (z === null) {
        const o = this.#settings.options;
        // Every write ends with a sync flush (RFC 7692 7.2.1): the output ends with 00 00 ff ff.
        z = createDeflateRaw({ windowBits: this.params.ownWindowBits, level: o.level, memLevel: o.memLevel,
          flush: constants.Z_SYNC_FLUSH }) as Stream<DeflateRaw>;
        z[kOwner] = this;
        z[kFlushed] = () => this.#deflated(z!);
        z.on('data', onDeflateData);
        z.on('error', onDeflateError);
        this.#deflater = z;
        if (this.params.ownNoContextTakeover) watch(this);
      }
      this.#outUsed = sweepTick;
      this.#outChunks = [];
      this.#outBytes = 0;
      z.write(item.data, z[kFlushed]);
      return;
    }
    if (!this.#closed) this.#sink.onDeflateIdle();
  }

  /** @internal */
  deflateData(z: DeflateRaw, chunk: Buffer): void {
    if (z !== this.#deflater || this.#deflating === null) return;
    this.#outChunks.push(chunk);
    this.#outBytes += chunk.length;
  }

  /** @internal */
  deflateError(z: DeflateRaw, error: Error): void {
    if (z !== this.#deflater) return;
    this.#dropDeflater();
    this.#deflating = null;
    this.#sink.onDeflateError(new WebSocketError(ErrorCodes.compressionFailed, `deflate failed: ${error.message}`));
  }

  #deflated(z: Stream<DeflateRaw>): void {
    const item = this.#deflating;
    if (z !== this.#deflater || item === null) return;
    this.#deflating = null;
    this.#queuedBytes -= item.bytes;
    let out = this.#outChunks.length === 1 ? this.#outChunks[0]! : Buffer.concat(this.#outChunks, this.#outBytes);
    this.#outChunks = [];
    this.#outBytes = 0;
    // RFC 7692 7.2.1: "Remove 4 octets (that are 0x00 0x00 0xff 0xff) from the tail end."
    if (out.length >= 4 && out[out.length - 4] === 0 && out[out.length - 3] === 0 && out[out.length - 2] === 0xff && out[out.length - 1] === 0xff) {
      out = out.subarray(0, out.length - 4);
    }
    if (this.params.ownNoContextTakeover) z.reset();
    // Incompressible data grows a little: it goes as it is (RFC 7692 lets each message choose),
    // unless the context is taken over, where the peer's window must see these bytes too.
    if (out.length >= item.bytes && this.params.ownNoContextTakeover) this.#sink.onDeflated(item.data, item.isBinary, false);
    else this.#sink.onDeflated(out, item.isBinary, true);
    this.#next();
  }

  #dropDeflater(): void {
    const z = this.#deflater;
    this.#deflater = null;
    if (z !== null) z.close();
  }

  /** Drops every queued message (a close frame was sent: nothing may follow it). */
  discardQueue(): void {
    this.#queue = [];
    this.#queuedBytes = this.#deflating?.bytes ?? 0;
    this.pendingClose = null;
  }

  /** The connection is gone: frees the zlib contexts and drops the queue. */
  destroy(): void {
    this.#closed = true;
    watched.delete(this);
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#deflating = null;
    this.pendingClose = null;
    this.#dropInflater();
    this.#dropDeflater();
  }
}

function onInflateData(this: Stream<InflateRaw>, chunk: Buffer): void {
  this[kOwner].inflateData(this, chunk);
}
function onInflateError(this: Stream<InflateRaw>, error: Error): void {
  this[kOwner].inflateError(this, error);
}
function onDeflateData(this: Stream<DeflateRaw>, chunk: Buffer): void {
  this[kOwner].deflateData(this, chunk);
}
function onDeflateError(this: Stream<DeflateRaw>, error: Error): void {
  this[kOwner].deflateError(this, error);
}
