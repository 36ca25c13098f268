/**
 * The opening handshake, server side (RFC 6455 section 4.2): checks the upgrade request and
 * builds the 101 answer, or the HTTP error that refuses it. No sockets here either.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';

/** RFC 6455 1.3: the GUID appended to the key before hashing. */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** `Sec-WebSocket-Accept` for a client's key: base64(SHA-1(key + GUID)). */
export function acceptKey(key: string): string {
  return createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
}

// RFC 6455 4.1: the key is "a randomly selected 16-byte value that has been base64-encoded":
// 22 base64 digits then "==". The last digit carries only 2 bits of data, so it is one of AQgw.
const KEY_PATTERN = /^[A-Za-z0-9+/]{21}[AQgw]==$/;

/** What {@link checkUpgrade} requires of an upgrade request beyond RFC 6455 itself. */
export interface HandshakeRules {
  /** Only this path is upgraded (query ignored); undefined: any path. */
  readonly path: string | undefined;
  /** Allowed Origin values; undefined: any. */
  readonly origins: ReadonlySet<string> | undefined;
  /** Subprotocols we speak, most preferred first. */
  readonly protocols: readonly string[];
}

/** The verdict of {@link checkUpgrade}: the key and chosen subprotocol, or the HTTP error to answer. */
export type HandshakeResult =
  | { readonly ok: true; readonly key: string; readonly protocol: string }
  | { readonly ok: false; readonly status: number; readonly message: string; readonly headers?: Readonly<Record<string, string>> };

/** True if a comma-separated header contains `token` (case-insensitive). */
export function headerHasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  for (const part of value.split(',')) {
    if (part.trim().toLowerCase() === token) return true;
  }
  return false;
}

/** Checks an upgrade request against RFC 6455 4.2.1 and our rules. */
export function checkUpgrade(req: IncomingMessage, rules: HandshakeRules): HandshakeResult {
  if (req.method !== 'GET') return { ok: false, status: 405, message: 'WebSocket upgrade requires GET', headers: { Allow: 'GET' } };
  if (req.httpVersionMajor < 1 || (req.httpVersionMajor === 1 && req.httpVersionMinor < 1)) {
    return { ok: false, status: 400, message: 'WebSocket upgrade requires HTTP/1.1' };
  }
  if (rules.path !== undefined) {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    if (path !== rules.path) return { ok: false, status: 404, message: 'no WebSocket endpoint here' };
  }
  if (req.headers.host === undefined) return { ok: false, status: 400, message: 'missing Host header' };
  if (!headerHasToken(req.headers.upgrade, 'websocket')) return { ok: false, status: 400, message: 'Upgrade header must be websocket' };
  if (!headerHasToken(req.headers.connection, 'upgrade')) return { ok: false, status: 400, message: 'Connection header must contain upgrade' };
  // RFC 6455 4.4: on a version we do not speak, answer with the versions we do.
  if (req.headers['sec-websocket-version'] !== '13') {
    return { ok: false, status: 426, message: 'unsupported WebSocket version', headers: { 'Sec-WebSocket-Version': '13' } };
  }
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string' || !KEY_PATTERN.test(key.trim())) {
    return { ok: false, status: 400, message: 'Sec-WebSocket-Key must be base64 of 16 bytes' };
  }
  if (rules.origins !== undefined) {
    const origin = req.headers.origin;
    if (origin === undefined || !rules.origins.has(origin)) return { ok: false, status: 403, message: 'origin not allowed' };
  }
  return { ok: true, key: key.trim(), protocol: selectProtocol(req.headers['sec-websocket-protocol'], rules.protocols) };
}

/** Picks our most preferred subprotocol among those the client offers; '' if none. */
export function selectProtocol(offered: string | undefined, supported: readonly string[]): string {
  if (offered === undefined || supported.length === 0) return '';
  const offers = new Set(offered.split(',').map((p) => p.trim()));
  for (const protocol of supported) if (offers.has(protocol)) return protocol;
  return '';
}

/**
 * The 101 answer. `extensions` is the accepted `Sec-WebSocket-Extensions` value (permessage-deflate
 * when enabled and offered); '' declines every offered extension by leaving the header out
 * (RFC 6455 9.1).
 */
export function acceptResponse(key: string, protocol: string, extensions = ''): string {
  return (
    'HTTP/1.1 101 Switching Protocols\r\n' +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n` +
    (protocol === '' ? '' : `Sec-WebSocket-Protocol: ${protocol}\r\n`) +
    (extensions === '' ? '' : `Sec-WebSocket-Extensions: ${extensions}\r\n`) +
    '\r\n'
  );
}

/** A complete HTTP error response that refuses the upgrade and closes the connection. */
export function errorResponse(status: number, message: string, headers: Readonly<Record<string, string>> = {}): string {
  const body = `${message}\n`;
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  return (
    head +
    'Connection: close\r\n' +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    '\r\n' +
    body
  );
}
