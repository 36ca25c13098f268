/**
 * Frame encoding (RFC 6455 5.2). Pure functions: the connection decides when to write.
 *
 * A frame is built in one buffer with the payload copied in once (a string is encoded straight
 * into it), which costs one copy and saves a second write. Large unmasked binary payloads are
 * sent without copying: header and payload as two writes.
 */
import { randomFillSync } from 'node:crypto';

/** Payloads at least this large are sent as header + payload instead of being copied. */
export const ZERO_COPY_THRESHOLD = 16 * 1024;

/** Bytes of header for a payload of `length` bytes. */
export function headerSize(length: number, masked: boolean): number {
  const base = length < 126 ? 2 : length < 0x10000 ? 4 : 10;
  return masked ? base + 4 : base;
}

/** Writes a frame header at `target[0..]` and returns its size. Masked frames get the key from `maskKey`. */
function writeHeader(target: Buffer, opcode: number, length: number, fin: boolean, maskKey: Buffer | null): number {
  target[0] = (fin ? 0x80 : 0) | opcode;
  const maskBit = maskKey === null ? 0 : 0x80;
  let offset: number;
  if (length < 126) {
    target[1] = maskBit | length;
    offset = 2;
  } else if (length < 0x10000) {
    target[1] = maskBit | 126;
    target.writeUInt16BE(length, 2);
    offset = 4;
  } else {
    target[1] = maskBit | 127;
    target.writeUInt32BE(Math.floor(length / 0x100000000), 2);
    target.writeUInt32BE(length >>> 0, 6);
    offset = 10;
  }
  if (maskKey !== null) {
    maskKey.copy(target, offset, 0, 4);
    offset += 4;
  }
  return offset;
}

// Mask keys come from a pool of random bytes, refilled when used up (one syscall per 2048 frames).
const maskPool = Buffer.alloc(8192);
let maskPoolOffset = maskPool.length;
function nextMaskKey(): Buffer {
  if (maskPoolOffset === maskPool.length) {
    randomFillSync(maskPool);
    maskPoolOffset = 0;
  }
  const key = maskPool.subarray(maskPoolOffset, maskPoolOffset + 4);
  maskPoolOffset += 4;
  return key;
}

function applyMask(target: Buffer, start: number, length: number, key: Buffer): void {
  const k0 = key[0]!;
  const k1 = key[1]!;
  const k2 = key[2]!;
  const k3 = key[3]!;
  const end = start + length;
  let i = start;
  for (; i + 3 < end; i += 4) {
    target[i] ^= k0;
    target[i + 1] ^= k1;
    target[i + 2] ^= k2;
    target[i + 3] ^= k3;
  }
  for (let j = 0; i < end; i++, j++) target[i] ^= key[j]!;
}

/**
 * Encodes a whole frame into one new buffer.
 * @param masked true on the client side: RFC 6455 5.3 requires a fresh random key per frame.
 */
export function encodeFrame(opcode: number, data: Buffer | string, fin = true, masked = false): Buffer {
  const length = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  const key = masked ? nextMaskKey() : null;
  const size = headerSize(length, masked);
  const frame = Buffer.allocUnsafe(size + length);
  writeHeader(frame, opcode, length, fin, key);
  if (typeof data === 'string') frame.write(data, size);
  else data.copy(frame, size);
  if (key !== null) applyMask(frame, size, length, key);
  return frame;
}

/** Encodes only the header of an unmasked frame, for sending a large payload without copying it. */
export function encodeHeader(opcode: number, length: number, fin = true): Buffer {
  const header = Buffer.allocUnsafe(headerSize(length, false));
  writeHeader(header, opcode, length, fin, null);
  return header;
}

/** The payload of a close frame: the code, then the UTF-8 reason (cut to fit 125 bytes). */
export function closePayload(code: number, reason: string): Buffer {
  if (code === 1005) return Buffer.alloc(0);
  let reasonBytes: Buffer = Buffer.from(reason, 'utf8');
  if (reasonBytes.length > 123) reasonBytes = truncateUtf8(reasonBytes, 123);
  const payload = Buffer.allocUnsafe(2 + reasonBytes.length);
  payload.writeUInt16BE(code, 0);
  reasonBytes.copy(payload, 2);
  return payload;
}

/** Cuts UTF-8 bytes to at most `max` bytes without splitting a character. */
function truncateUtf8(bytes: Buffer, max: number): Buffer {
  let end = max;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}
