/**
 * Helpers for the byte-level tests of the frame codec: build frames by hand (independently of
 * src/ws/sender.ts), record what a Receiver reports, and feed the same bytes cut every way.
 */
import { Receiver, type ReceiverSink, type WebSocketError } from '@strangers/websocket';

/** One thing the receiver reported, in a form `deepEqual` can compare. */
export type Event =
  | readonly ['message' | 'compressed', 'text' | 'binary', string]
  | readonly ['ping' | 'pong', string]
  | readonly ['close', number, string]
  | readonly ['error', string, number];

/** A sink that records events (payloads as hex, so binary compares exactly). */
export class Recorder implements ReceiverSink {
  readonly events: Event[] = [];
  /** Bytes fed so far when the error was reported (set by feed helpers). */
  errorAt = -1;
  fed = 0;
  /** The raw buffers handed to onMessage (to check ownership). */
  readonly messages: Buffer[] = [];

  onMessage(data: Buffer, isBinary: boolean): void {
    this.messages.push(data);
    this.events.push(['message', isBinary ? 'binary' : 'text', data.toString('hex')]);
  }
  onPing(data: Buffer): void {
    this.events.push(['ping', data.toString('hex')]);
  }
  onPong(data: Buffer): void {
    this.events.push(['pong', data.toString('hex')]);
  }
  onCloseFrame(code: number, reason: string): void {
    this.events.push(['close', code, reason]);
  }
  onProtocolError(error: WebSocketError): void {
    if (this.errorAt < 0) this.errorAt = this.fed;
    this.events.push(['error', error.code, error.closeCode]);
  }
}

export interface FrameSpec {
  fin?: boolean;
  rsv?: number;
  /** Mask with this key (4 bytes) or a fixed default; false for an unmasked frame. @default true */
  mask?: boolean | Buffer;
  /** Force the 16-bit (126) or 64-bit (127) length form. */
  lengthForm?: 7 | 16 | 64;
  /** Raw high 32 bits of a 64-bit length (implies lengthForm 64). */
  lengthHigh?: number;
  /** Announce this length instead of the payload's (for header-only tests). */
  announce?: number;
}

const DEFAULT_KEY = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

/** Builds one frame byte by byte. */
export function frame(opcode: number, payload: Buffer | string = '', spec: FrameSpec = {}): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const len = spec.announce ?? data.length;
  const form = spec.lengthHigh !== undefined ? 64 : spec.lengthForm ?? (len <= 125 ? 7 : len <= 0xffff ? 16 : 64);
  const bytes: number[] = [((spec.fin ?? true) ? 0x80 : 0) | (((spec.rsv ?? 0) & 7) << 4) | (opcode & 0xf)];
  const maskBit = spec.mask === false ? 0 : 0x80;
  if (form === 7) bytes.push(maskBit | len);
  else if (form === 16) bytes.push(maskBit | 126, (len >> 8) & 0xff, len & 0xff);
  else {
    const high = spec.lengthHigh ?? Math.floor(len / 2 ** 32);
    const low = len >>> 0;
    bytes.push(maskBit | 127, high >>> 24, (high >> 16) & 0xff, (high >> 8) & 0xff, high & 0xff,
      low >>> 24, (low >> 16) & 0xff, (low >> 8) & 0xff, low & 0xff);
  }
  if (spec.mask === false) return Buffer.concat([Buffer.from(bytes), data]);
  const key = Buffer.isBuffer(spec.mask) ? spec.mask : DEFAULT_KEY;
  const body = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) body[i] = data[i] ^ key[i & 3];
  return Buffer.concat([Buffer.from(bytes), key, body]);
}

/** A close payload: code (2 bytes) + reason. */
export function close(code: number, reason: string | Buffer = ''): Buffer {
  const r = typeof reason === 'string' ? Buffer.from(reason, 'utf8') : reason;
  const b = Buffer.alloc(2 + r.length);
  b.writeUInt16BE(code, 0);
  r.copy(b, 2);
  return b;
}

export const hexOf = (s: string | Buffer): string => (typeof s === 'string' ? Buffer.from(s, 'utf8') : s).toString('hex');

export interface FeedOptions {
  isServer?: boolean;
  maxMessageSize?: number;
}

/**
 * Feeds `bytes` cut at the given offsets (each piece a fresh copy: the receiver unmasks in
 * place) and returns the recorder.
 */
export function feed(bytes: Buffer, cuts: readonly number[] = [], opts: FeedOptions = {}): Recorder {
  const rec = new Recorder();
  const r = new Receiver(rec, { isServer: opts.isServer ?? true, maxMessageSize: opts.maxMessageSize ?? 1 << 20 });
  let from = 0;
  for (const to of [...cuts, bytes.length]) {
    if (to < from) continue;
    rec.fed = to;
    r.push(Buffer.from(bytes.subarray(from, to)));
    from = to;
  }
  return rec;
}

/** Feeds one byte per push. */
export function feedBytewise(bytes: Buffer, opts: FeedOptions = {}): Recorder {
  return feed(bytes, Array.from({ length: bytes.length }, (_, i) => i + 1), opts);
}

/** Every way of cutting `bytes` in two, then byte by byte: the cut list for each run. */
export function* everySplit(length: number): Generator<number[]> {
  yield [];
  for (let i = 1; i < length; i++) yield [i];
  yield Array.from({ length }, (_, i) => i + 1);
}
