/**
 * A raw WebSocket client for the conformance suite: it writes exact bytes (masked frames we
 * build by hand, possibly invalid on purpose) over a plain `net` socket and parses what the
 * server sends back, strictly (server frames must be unmasked, RSV 0, known opcodes).
 *
 * It deliberately shares no code with src/ws, so a bug in our codec cannot hide itself.
 * Every wait is bounded; nothing sleeps blindly: "nothing was sent" is checked with a sentinel
 * ping (frames are ordered, so a pong proves nothing came before it) or with the TCP end.
 */
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import assert from 'node:assert/strict';

export const Op = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** Default wait for one event (a frame, a response, the TCP end). */
export const WAIT_MS = 3000;

/** Options of {@link encodeFrame}. */
export interface FrameOptions {
  /** @default true */
  fin?: boolean;
  /** The three RSV bits as a number 0..7 (RSV1 = 4). @default 0 */
  rsv?: number;
  /** Client frames must be masked; false builds an invalid unmasked client frame. @default true */
  mask?: boolean;
  /** A fixed masking key (4 bytes); random by default. */
  maskKey?: Buffer;
  /** Force the 64-bit length form with this raw high 32-bit word (to test the MSB rule). */
  lengthHigh?: number;
}

/** Builds one frame as a client would (masked unless told otherwise). */
export function encodeFrame(opcode: number, payload: Buffer | string = Buffer.alloc(0), opts: FrameOptions = {}): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const mask = opts.mask ?? true;
  const len = data.length;
  let header: Buffer;
  if (opts.lengthHigh !== undefined || len > 0xffff) {
    header = Buffer.alloc(10);
    header[1] = 127;
    header.writeUInt32BE(opts.lengthHigh ?? Math.floor(len / 2 ** 32), 2);
    header.writeUInt32BE(len >>> 0, 6);
  } else if (len > 125) {
    header = Buffer.alloc(4);
    header[1] = 126;
    header.writeUInt16BE(len, 2);
  } else {
    header = Buffer.alloc(2);
    header[1] = len;
  }
  header[0] = ((opts.fin ?? true) ? 0x80 : 0) | (((opts.rsv ?? 0) & 7) << 4) | (opcode & 0xf);
  if (!mask) return Buffer.concat([header, data]);
  header[1] |= 0x80;
  const key = opts.maskKey ?? randomBytes(4);
  const body = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) body[i] = data[i] ^ key[i & 3];
  return Buffer.concat([header, key, body]);
}

/** A close frame payload: 2-byte code then the reason (string as UTF-8, or raw bytes). */
export function closePayload(code?: number, reason: string | Buffer = ''): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  const r = typeof reason === 'string' ? Buffer.from(reason, 'utf8') : reason;
  const b = Buffer.alloc(2 + r.length);
  b.writeUInt16BE(code, 0);
  r.copy(b, 2);
  return b;
}

/**
 * What permessage-deflate negotiated (RFC 7692), as this client reads the server's answer.
 * Window bits are the largest each side may use (15 when not named).
 */
export interface PmdConfig {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number;
  clientMaxWindowBits: number;
}

/** Reads the server's `Sec-WebSocket-Extensions` answer strictly (a test helper: asserts, never lenient). */
export function parsePmdAnswer(header: string): PmdConfig {
  const parts = header.split(';').map((p) => p.trim());
  assert.equal(parts[0], 'permessage-deflate', `answer ${JSON.stringify(header)}`);
  const cfg: PmdConfig = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 };
  const seen = new Set<string>();
  for (const param of parts.slice(1)) {
    const [name = '', value] = param.split('=');
    assert.ok(!seen.has(name), `parameter ${name} twice in ${header}`);
    seen.add(name);
    if (name === 'server_no_context_takeover' && value === undefined) cfg.serverNoContextTakeover = true;
    else if (name === 'client_no_context_takeover' && value === undefined) cfg.clientNoContextTakeover = true;
    else if (name === 'server_max_window_bits' && /^(8|9|1[0-5])$/.test(value ?? '')) cfg.serverMaxWindowBits = Number(value);
    else if (name === 'client_max_window_bits' && /^(8|9|1[0-5])$/.test(value ?? '')) cfg.clientMaxWindowBits = Number(value);
    else assert.fail(`invalid parameter ${JSON.stringify(param)} in ${JSON.stringify(header)}`);
  }
  return cfg;
}

/** RFC 7692 7.2.2: appended to a compressed payload before inflating it. */
const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** Runs one write + sync flush through a persistent zlib stream and returns its output. */
function throughStream(z: zlib.DeflateRaw | zlib.InflateRaw, input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const onData = (c: Buffer): void => void out.push(c);
    const onError = (e: Error): void => {
      z.off('data', onData);
      reject(e);
    };
    z.on('data', onData);
    z.once('error', onError);
    z.write(input);
    z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
      z.off('data', onData);
      z.off('error', onError);
      resolve(Buffer.concat(out));
    });
  });
}

/**
 * permessage-deflate by hand with node:zlib (RFC 7692 7.2), sharing nothing with the library:
 * compresses what this client sends and inflates what the server sends, keeping a context
 * between messages only where the negotiation allows it. Inflating uses the negotiated server
 * window in small output chunks, so a server that uses a larger window than it agreed to is
 * caught ("invalid distance too far back").
 */
export class PmdCodec {
  readonly config: PmdConfig;
  #deflate: zlib.DeflateRaw | null = null;
  #inflate: zlib.InflateRaw | null = null;

  constructor(config: PmdConfig) {
    this.config = config;
  }

  /**
   * The payload of a compressed message (RSV1 goes on its first frame). `final` ends it with a
   * BFINAL block instead of a sync flush (RFC 7692 7.2.3.3), allowed without context takeover.
   */
  async compress(data: Buffer, opts: { final?: boolean } = {}): Promise<Buffer> {
    const windowBits = Math.max(9, this.config.clientMaxWindowBits);
    if (opts.final) {
      assert.ok(this.config.clientNoContextTakeover, 'a final block ends the stream: only without context takeover');
      return zlib.deflateRawSync(data, { windowBits });
    }
    let out: Buffer;
    if (this.config.clientNoContextTakeover) {
      out = zlib.deflateRawSync(data, { windowBits, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    } else {
      this.#deflate ??= zlib.createDeflateRaw({ windowBits });
      out = await throughStream(this.#deflate, data);
    }
    // RFC 7692 7.2.1: remove the 0x00 0x00 0xff 0xff at the tail end.
    assert.ok(out.subarray(-4).equals(TRAILER), 'a sync flush ends with 00 00 ff ff');
    return out.subarray(0, out.length - 4);
  }

  /** Inflates a compressed message from the server. */
  async decompress(payload: Buffer): Promise<Buffer> {
    const windowBits = this.config.serverMaxWindowBits;
    const input = Buffer.concat([payload, TRAILER]);
    if (this.config.serverNoContextTakeover) {
      return zlib.inflateRawSync(input, { windowBits, chunkSize: 64, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    }
    // Streamed, each output chunk is a threadpool round trip: chunks of a quarter window keep
    // that fast and still catch a match more than 1.25 windows back.
    this.#inflate ??= zlib.createInflateRaw({ windowBits, chunkSize: Math.max(64, 1 << (windowBits - 2)) });
    return throughStream(this.#inflate, input);
  }

  /** compress() without context takeover (the server's default), synchronously. */
  compressSync(data: Buffer, opts: { final?: boolean } = {}): Buffer {
    assert.ok(this.config.clientNoContextTakeover, 'synchronous only without context takeover');
    const windowBits = Math.max(9, this.config.clientMaxWindowBits);
    if (opts.final) return zlib.deflateRawSync(data, { windowBits });
    const out = zlib.deflateRawSync(data, { windowBits, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    return out.subarray(0, out.length - 4);
  }

  /** decompress() without context takeover, synchronously. */
  decompressSync(payload: Buffer): Buffer {
    assert.ok(this.config.serverNoContextTakeover, 'synchronous only without context takeover');
    return zlib.inflateRawSync(Buffer.concat([payload, TRAILER]), { windowBits: this.config.serverMaxWindowBits, chunkSize: 64,
      finishFlush: zlib.constants.Z_SYNC_FLUSH });
  }

  close(): void {
    this.#deflate?.close();
    this.#inflate?.close();
  }
}

/** A frame as received from the server. */
export interface ServerFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/** Close code of a close frame payload (undefined when empty). */
export function closeCodeOf(f: ServerFrame): number | undefined {
  return f.payload.length >= 2 ? f.payload.readUInt16BE(0) : undefined;
}

const describe = (f: ServerFrame): string =>
  `opcode=${f.opcode} fin=${f.fin} rsv=${f.rsv} len=${f.payload.length}` +
  (f.opcode === Op.close ? ` code=${closeCodeOf(f)} reason=${JSON.stringify(f.payload.subarray(2).toString())}` :
    f.payload.length <= 40 ? ` payload=${f.payload.toString('hex')}` : '');

/** Parses server frames out of a byte stream (any chunking); throws on malformed server frames. */
export class FrameParser {
  #chunks: Buffer[] = [];
  #size = 0;

  get pending(): number {
    return this.#size;
  }

  /** Bytes the current frame needs in total (0 = unknown yet): avoids re-joining big payloads per chunk. */
  #need = 0;

  push(chunk: Buffer): ServerFrame[] {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    const out: ServerFrame[] = [];
    for (;;) {
      if (this.#size < 2 || this.#size < this.#need) break;
      const buf = this.#chunks.length === 1 ? this.#chunks[0] : Buffer.concat(this.#chunks);
      this.#chunks = [buf];
      const b0 = buf[0];
      const b1 = buf[1];
      let len = b1 & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) break;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) break;
        const hi = buf.readUInt32BE(2);
        if (hi !== 0) throw new Error(`server frame with 64-bit length high word ${hi}`);
        len = buf.readUInt32BE(6);
        off = 10;
      }
      const masked = (b1 & 0x80) !== 0;
      if (masked) off += 4;
      if (buf.length < off + len) {
        this.#need = off + len;
        break;
      }
      this.#need = 0;
      let payload = buf.subarray(off, off + len);
      if (masked) {
        const key = buf.subarray(off - 4, off);
        payload = Buffer.from(payload);
        for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3];
      }
      out.push({ fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0xf, masked, payload: Buffer.from(payload) });
      const rest = buf.subarray(off + len);
      this.#chunks = rest.length > 0 ? [rest] : [];
      this.#size = rest.length;
    }
    return out;
  }
}

/** An HTTP response read off a raw socket. */
export interface RawResponse {
  status: number;
  statusLine: string;
  /** Lower-cased header names; repeated headers joined with ', '. */
  headers: Record<string, string>;
  /** Bytes after the header block. */
  rest: Buffer;
}

function parseHead(head: string): Omit<RawResponse, 'rest'> {
  const [statusLine = '', ...lines] = head.split('\r\n');
  const m = /^HTTP\/1\.1 (\d{3})/.exec(statusLine);
  assert.ok(m, `bad status line ${JSON.stringify(statusLine)}`);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { status: Number(m[1]), statusLine, headers };
}

/** A valid client handshake request. */
export function upgradeRequest(path: string, key: string, extra: Record<string, string> = {}): string {
  const headers: Record<string, string> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': key,
    'Sec-WebSocket-Version': '13',
    ...extra,
  };
  const lines = Object.entries(headers).filter(([, v]) => v !== '').map(([k, v]) => `${k}: ${v}`);
  return `GET ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
}

/** The expected Sec-WebSocket-Accept for a key (RFC 6455 4.2.2, computed here independently). */
export function expectedAccept(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/**
 * A raw connection. Everything the server sends is recorded: frames, the TCP end, and any
 * byte left over after the last complete frame.
 */
export class RawClient {
  readonly socket: net.Socket;
  /** Response of the opening handshake (once `handshake()` resolved). */
  response: RawResponse | undefined;
  /** Set when we have sent a close frame. */
  sentClose = false;
  #parser = new FrameParser();
  #frames: ServerFrame[] = [];
  #head = Buffer.alloc(0);
  #upgraded = false;
  #ended = false;
  #parseError: Error | undefined;
  #waiters: (() => void)[] = [];
  /** Frames received after a close frame (must stay empty). */
  readonly afterClose: ServerFrame[] = [];
  #sawClose = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    // A reset after the server's close is fine (we may write our close reply late): record, go on.
    socket.on('error', () => {});
    socket.on('close', () => {
      this.#ended = true;
      this.#wake();
    });
    socket.on('end', () => {
      this.#ended = true;
      this.#wake();
    });
  }

  /** Opens TCP only (no handshake). */
  static async tcp(port: number, host = '127.0.0.1'): Promise<RawClient> {
    const socket = net.connect({ port, host });
    await withTimeout(new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    }), WAIT_MS, 'tcp connect');
    return new RawClient(socket);
  }

  /**
   * Connects and completes a valid opening handshake (asserting 101 and the accept key).
   * `deflate` offers permessage-deflate with that `Sec-WebSocket-Extensions` value; the answer
   * must then be exactly `expectExtensions` (undefined: declined) and, when accepted, `codec`
   * compresses and inflates by it. Without `deflate`, no extension may be answered.
   */
  static async open(port: number, opts: { path?: string; headers?: Record<string, string>; deflate?: string;
    expectExtensions?: string } = {}): Promise<RawClient> {
    const c = await RawClient.tcp(port);
    const key = randomBytes(16).toString('base64');
    const headers = opts.deflate === undefined ? opts.headers : { ...opts.headers, 'Sec-WebSocket-Extensions': opts.deflate };
    c.socket.write(upgradeRequest(opts.path ?? '/', key, headers));
    const res = await c.readResponse();
    assert.equal(res.status, 101, `handshake refused: ${res.statusLine}`);
    assert.equal(res.headers['upgrade']?.toLowerCase(), 'websocket');
    assert.match(res.headers['connection'] ?? '', /\bupgrade\b/i);
    assert.equal(res.headers['sec-websocket-accept'], expectedAccept(key));
    const answer = res.headers['sec-websocket-extensions'];
    if (opts.deflate === undefined) assert.equal(answer, undefined, 'no extension was negotiated');
    else assert.equal(answer, opts.expectExtensions, `answer to the offer ${JSON.stringify(opts.deflate)}`);
    if (answer !== undefined) c.codec = new PmdCodec(parsePmdAnswer(answer));
    c.startFrames();
    return c;
  }

  /** permessage-deflate, when negotiated: RSV1 is then allowed on the first frame of a message. */
  codec: PmdCodec | undefined;

  /** Waits for an HTTP response head (status line + headers). */
  async readResponse(timeoutMs = WAIT_MS): Promise<RawResponse> {
    await this.#until(() => this.#head.includes('\r\n\r\n') || this.#ended, timeoutMs, 'HTTP response');
    const end = this.#head.indexOf('\r\n\r\n');
    assert.ok(end >= 0, `connection ended before a complete response: ${JSON.stringify(this.#head.toString('latin1'))}`);
    const res = { ...parseHead(this.#head.subarray(0, end).toString('latin1')), rest: this.#head.subarray(end + 4) };
    this.response = res;
    return res;
  }

  /** Switches to frame mode: bytes after the response head are frames. */
  startFrames(): void {
    this.#upgraded = true;
    const rest = this.response?.rest ?? Buffer.alloc(0);
    this.#head = Buffer.alloc(0);
    if (rest.length > 0) this.#onFrames(rest);
  }

  #onData(chunk: Buffer): void {
    if (!this.#upgraded) this.#head = Buffer.concat([this.#head, chunk]);
    else this.#onFrames(chunk);
    this.#wake();
  }

  #onFrames(chunk: Buffer): void {
    if (this.#parseError) return;
    try {
      for (const f of this.#parser.push(chunk)) {
        if (this.#sawClose) this.afterClose.push(f);
        else this.#frames.push(f);
        if (f.opcode === Op.close) this.#sawClose = true;
      }
    } catch (err) {
      this.#parseError = err as Error;
    }
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  async #until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout after ${timeoutMs} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Raw bytes to the server. */
  write(bytes: Buffer | string): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** Sends one frame (masked by default). */
  send(opcode: number, payload: Buffer | string = Buffer.alloc(0), opts: FrameOptions = {}): void {
    if (opcode === Op.close) this.sentClose = true;
    this.write(encodeFrame(opcode, payload, opts));
  }

  /** Sends a close frame. */
  sendClose(code?: number, reason: string | Buffer = ''): void {
    this.send(Op.close, closePayload(code, reason));
  }

  /** Writes `bytes` in separate writes of `size` bytes, each flushed before the next. */
  async writeChopped(bytes: Buffer, size: number): Promise<void> {
    for (let i = 0; i < bytes.length && !this.socket.destroyed; i += size) {
      await new Promise<void>((resolve) => this.socket.write(bytes.subarray(i, i + size), () => resolve()));
    }
  }

  /** The next frame from the server; rejects on timeout or if TCP ended first. */
  async next(timeoutMs = WAIT_MS): Promise<ServerFrame> {
    await this.#until(() => this.#frames.length > 0 || this.#ended || this.#parseError !== undefined, timeoutMs, 'a frame');
    if (this.#parseError) throw this.#parseError;
    const f = this.#frames.shift();
    if (f === undefined) throw new Error('connection ended while waiting for a frame');
    assert.equal(f.masked, false, 'server frames must not be masked (RFC 6455 5.1)');
    if (this.codec === undefined) assert.equal(f.rsv, 0, 'no extension negotiated: RSV must be 0');
    else {
      // RFC 7692 6: RSV1 only on the first frame of a data message; RSV2/3 never.
      assert.ok(f.rsv === 0 || (f.rsv === 4 && (f.opcode === Op.text || f.opcode === Op.binary)),
        `permessage-deflate: RSV ${f.rsv} on ${describe(f)}`);
    }
    return f;
  }

  /**
   * Sends one message compressed with the negotiated codec: RSV1 on the first frame only,
   * split into frames of `fragment` payload bytes if given.
   */
  async sendCompressed(opcode: number, data: Buffer | string, opts: { fragment?: number; final?: boolean } = {}): Promise<void> {
    assert.ok(this.codec, 'permessage-deflate was not negotiated');
    const payload = await this.codec.compress(typeof data === 'string' ? Buffer.from(data) : data, { final: opts.final });
    const size = opts.fragment ?? Math.max(payload.length, 1);
    const frames: Buffer[] = [];
    let off = 0;
    do {
      const end = Math.min(off + size, payload.length);
      frames.push(encodeFrame(off === 0 ? opcode : Op.continuation, payload.subarray(off, end), { fin: end === payload.length, rsv: off === 0 ? 4 : 0 }));
      off = end;
    } while (off < payload.length);
    this.write(Buffer.concat(frames));
  }

  /**
   * Asserts the next frame is a data frame (fin) with this opcode and payload (inflated when it
   * came compressed); `compressed`, when given, says whether it must have come compressed.
   */
  async expectMessage(opcode: number, payload: Buffer | string, timeoutMs = WAIT_MS, compressed?: boolean): Promise<void> {
    const want = typeof payload === 'string' ? Buffer.from(payload) : payload;
    const got = await this.#reassemble(timeoutMs);
    assert.equal(got.opcode, opcode, `expected opcode ${opcode}, got ${got.opcode}`);
    if (compressed !== undefined) assert.equal(got.compressed, compressed, `message ${compressed ? 'not ' : ''}compressed (RSV1)`);
    assert.ok(got.payload.equals(want), `echo differs: expected ${want.length} bytes, got ${got.payload.length}`);
  }

  /** Reads one message (reassembling fragments the server may send, inflating a compressed one). */
  async #reassemble(timeoutMs: number): Promise<{ opcode: number; payload: Buffer; compressed: boolean }> {
    const first = await this.next(timeoutMs);
    assert.ok(first.opcode === Op.text || first.opcode === Op.binary, `expected a data frame, got ${describe(first)}`);
    const parts = [first.payload];
    let last = first;
    while (!last.fin) {
      last = await this.next(timeoutMs);
      assert.equal(last.opcode, Op.continuation, `expected a continuation, got ${describe(last)}`);
      assert.equal(last.rsv, 0, 'RSV1 on a continuation frame (RFC 7692 6)');
      parts.push(last.payload);
    }
    const compressed = first.rsv === 4;
    const raw = Buffer.concat(parts);
    return { opcode: first.opcode, payload: compressed ? await this.codec!.decompress(raw) : raw, compressed };
  }

  /** Asserts the next frame is a pong with this payload. */
  async expectPong(payload: Buffer | string = Buffer.alloc(0), timeoutMs = WAIT_MS): Promise<void> {
    const want = typeof payload === 'string' ? Buffer.from(payload) : payload;
    const f = await this.next(timeoutMs);
    assert.equal(f.opcode, Op.pong, `expected a pong, got ${describe(f)}`);
    assert.ok(f.fin, 'pong must not be fragmented');
    assert.ok(f.payload.equals(want), `pong payload ${f.payload.toString('hex')} != ${want.toString('hex')}`);
  }

  /**
   * Proves the server sent nothing unexpected so far: sends a ping with a unique payload and
   * asserts the very next frame is its pong.
   */
  async expectNothingPending(): Promise<void> {
    const token = randomBytes(8);
    this.send(Op.ping, token);
    await this.expectPong(token);
  }

  /**
   * Asserts the next frame is a close whose code is one of `codes` (`undefined` = an empty
   * close payload), answers it with a close if we have not sent one, then asserts the server
   * closes TCP and sends nothing after its close frame.
   */
  async expectClose(codes: readonly (number | undefined)[], timeoutMs = WAIT_MS): Promise<ServerFrame> {
    const f = await this.next(timeoutMs);
    assert.equal(f.opcode, Op.close, `expected a close frame, got ${describe(f)}`);
    const code = closeCodeOf(f);
    assert.ok(codes.includes(code), `close code ${code} not in [${codes.join(', ')}]`);
    assert.notEqual(f.payload.length, 1, 'close payload of 1 byte');
    assert.ok(f.payload.length <= 125, 'close payload over 125 bytes');
    if (!this.sentClose && !this.socket.destroyed) {
      this.sentClose = true;
      this.write(encodeFrame(Op.close, code === undefined ? Buffer.alloc(0) : closePayload(code)));
    }
    await this.expectEnd(timeoutMs);
    return f;
  }

  /**
   * The server must _Fail the WebSocket Connection_ (RFC 6455 7.1.7): a close frame with `code`,
   * then it closes TCP by itself, without waiting for our close (we never send one here: the
   * failing bytes may leave it mid-frame, where it could not even parse ours).
   */
  async expectFail(code: number, timeoutMs = WAIT_MS): Promise<void> {
    const f = await this.next(timeoutMs);
    assert.equal(f.opcode, Op.close, `expected a close frame with ${code}, got ${describe(f)}`);
    assert.equal(closeCodeOf(f), code, `expected close code ${code}, got ${describe(f)}`);
    assert.doesNotThrow(() => new TextDecoder('utf-8', { fatal: true }).decode(f.payload.subarray(2)), 'close reason is not UTF-8');
    await this.expectEnd(timeoutMs);
  }

  /** Asserts the server closes TCP within the time, with no bytes after its close frame. */
  async expectEnd(timeoutMs = WAIT_MS): Promise<void> {
    await this.#until(() => this.#ended, timeoutMs, 'the server to close TCP');
    assert.equal(this.#parseError, undefined);
    assert.deepEqual(this.afterClose.map(describe), [], 'the server sent frames after its close frame');
    assert.deepEqual(this.#frames.map(describe), [], 'unread frames left');
    assert.equal(this.#parser.pending, 0, 'partial frame bytes left at the end');
  }

  /** Client-initiated clean close: sends `code`, expects the close echoed (or 1000), then the TCP end. */
  async closeCleanly(code = 1000, reason = ''): Promise<void> {
    this.sendClose(code, reason);
    await this.expectClose([code, 1000]);
  }

  /** Destroys the socket (cleanup; safe to call twice). */
  destroy(): void {
    this.socket.destroy();
    this.codec?.close();
  }
}

/** Rejects after `ms` with a message naming `what`. */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${what}`)), ms);
    })]);
  } finally {
    clearTimeout(timer);
  }
}
