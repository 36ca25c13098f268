/**
 * The client side of the opening handshake (RFC 6455 4.1), for the load generator and tests.
 * Frames are masked; everything after the handshake is the same WebSocketConnection.
 */
import { randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { ErrorCodes, WebSocketError } from './errors.js';
import { WebSocketConnection, type ConnectionHandler } from './connection.js';
import { acceptKey, headerHasToken } from './handshake.js';
import { serverDefaults } from './server.js';
import { acceptClient, clientOffer, resolveDeflateOptions, type DeflateParams, type PerMessageDeflateOptions, type ResolvedDeflateOptions } from './extensions.js';

/** Options of {@link connect}. */
export interface ConnectOptions<T = unknown> {
  /** Receives the connection's events, as a server's handler does. */
  handler: ConnectionHandler<T>;
  /** Extra request headers (e.g. Origin). */
  headers?: Readonly<Record<string, string>>;
  /** Subprotocols to offer. */
  protocols?: readonly string[];
  /** Source address to bind, to spread many connections over 127.0.0.x. */
  localAddress?: string;
  /**
   * Source port to bind (with `localAddress`). Left out, the kernel picks one; but a bind() to
   * port 0 scans the port range under a lock, which grows slow as the range fills (tens of
   * thousands of sockets on one source address): a load generator hands out ports itself.
   */
  localPort?: number;
  /** @default 64 MiB: the client trusts the server more than the server trusts clients. */
  maxMessageSize?: number;
  /** @default 1 MiB */
  maxBufferedBytes?: number;
  /** @default 2000 */
  closeTimeoutMs?: number;
  /** Time allowed for connecting and the handshake. @default 10000 */
  timeoutMs?: number;
  /** For wss://: verify the server's certificate. @default true */
  rejectUnauthorized?: boolean;
  /**
   * Offer permessage-deflate (RFC 7692): `true` offers `permessage-deflate;
   * client_max_window_bits` (as browsers do); options shape the offer. The server's answer is
   * checked as the RFC says: an unknown or repeated parameter, a bad value, or a configuration
   * we did not offer or cannot do fails the handshake (`handshake_failed`). Inflated messages
   * obey `maxMessageSize`. See {@link PerMessageDeflateOptions} (client-side defaults).
   * @default false
   */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
}

const MAX_RESPONSE_HEAD = 16 * 1024;

/** Opens a WebSocket connection to `url` (ws:// or wss://). Rejects with a WebSocketError `handshake_failed`. */
export function connect<T = unknown>(url: string, options: ConnectOptions<T>): Promise<WebSocketConnection<T>> {
  const target = new URL(url);
  if (target.protocol !== 'ws:' && target.protocol !== 'wss:') {
    return Promise.reject(new TypeError(`unsupported URL scheme ${target.protocol} (expected ws: or wss:)`));
  }
  const secure = target.protocol === 'wss:';
  const host = target.hostname.replace(/^\[|\]$/g, '');
  const port = Number(target.port || (secure ? 443 : 80));
  const key = randomBytes(16).toString('base64');
  let deflate: ResolvedDeflateOptions | null;
  try {
    deflate = resolveDeflateOptions(options.perMessageDeflate, 'client');
  } catch (error) {
    return Promise.reject(error);
  }

  return new Promise((resolve, reject) => {
    const local = options.localAddress === undefined ? {} : options.localPort === undefined ? { localAddress: options.localAddress } : { localAddress: options.localAddress, localPort: options.localPort };
    const socket: Socket = secure
      ? tlsConnect({ host, port, servername: host, rejectUnauthorized: options.rejectUnauthorized ?? true, ...local })
      : netConnect({ host, port, ...local });
    let head: Buffer = Buffer.alloc(0);
    let settled = false;

    const fail = (message: string, status?: number): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(new WebSocketError(ErrorCodes.handshakeFailed, message, status));
    };
    const timer = setTimeout(() => fail('handshake timed out'), options.timeoutMs ?? 10_000);

    const onData = (chunk: Buffer): void => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) {
        if (head.length > MAX_RESPONSE_HEAD) fail('response head too large');
        return;
      }
      const problem = checkResponse(head.subarray(0, end).toString('latin1'), key, options.protocols ?? [], deflate);
      if ('message' in problem) return fail(problem.message, problem.status);
      settled = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
      const maxMessageSize = options.maxMessageSize ?? 64 * 1024 * 1024;
      const limits = {
        maxBufferedBytes: options.maxBufferedBytes ?? serverDefaults.maxBufferedBytes,
        closeTimeoutMs: options.closeTimeoutMs ?? serverDefaults.closeTimeoutMs,
        receiver: { isServer: false, maxMessageSize },
      };
      const context = {
        handler: options.handler, limits, isServer: false, registry: null,
        deflate: problem.deflate === null || deflate === null ? null : {
          settings: { options: deflate, maxMessageSize },
          receiver: { isServer: false, maxMessageSize, perMessageDeflate: true },
        },
      };
      const conn = new WebSocketConnection<T>(socket, context, problem.protocol, problem.deflate);
      conn.start(head.subarray(end + 4));
      resolve(conn);
    };
    const onError = (error: Error): void => fail(`connection failed: ${error.message}`);
    const onClose = (): void => fail('connection closed during the handshake');
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      const path = `${target.pathname || '/'}${target.search}`;
      let request =
        `GET ${path} HTTP/1.1\r\n` +
        `Host: ${target.host}\r\n` +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        `Sec-WebSocket-Key: ${key}\r\n` +
        'Sec-WebSocket-Version: 13\r\n';
      if (options.protocols !== undefined && options.protocols.length > 0) request += `Sec-WebSocket-Protocol: ${options.protocols.join(', ')}\r\n`;
      if (deflate !== null) request += `Sec-WebSocket-Extensions: ${clientOffer(deflate)}\r\n`;
      for (const [name, value] of Object.entries(options.headers ?? {})) request += `${name}: ${value}\r\n`;
      socket.write(request + '\r\n');
    });
  });
}

interface ParsedHead {
  status: number;
  headers: Map<string, string>;
}

function parseHead(text: string): ParsedHead {
  const lines = text.split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    // Repeated lines of a list header are one list (RFC 7230 3.2.2).
    const previous = headers.get(name);
    headers.set(name, previous === undefined ? value : `${previous}, ${value}`);
  }
  return { status, headers };
}

/** RFC 6455 4.1: the checks a client makes on the server's answer; the chosen subprotocol when it is fine. */
function checkResponse(
  text: string,
  key: string,
  offered: readonly string[],
  deflate: ResolvedDeflateOptions | null,
): { message: string; status?: number | undefined } | { protocol: string; deflate: DeflateParams | null } {
  const { status, headers } = parseHead(text);
  if (status !== 101) return { message: `server answered ${status || 'garbage'} instead of 101`, status: status || undefined };
  if (!headerHasToken(headers.get('upgrade'), 'websocket')) return { message: 'missing Upgrade: websocket' };
  if (!headerHasToken(headers.get('connection'), 'upgrade')) return { message: 'missing Connection: upgrade' };
  if (headers.get('sec-websocket-accept') !== acceptKey(key)) return { message: 'wrong Sec-WebSocket-Accept' };
  const extensions = headers.get('sec-websocket-extensions');
  let params: DeflateParams | null = null;
  if (extensions !== undefined) {
    if (deflate === null) return { message: 'server chose an extension we did not offer' };
    const accepted = acceptClient(extensions, deflate);
    if (typeof accepted === 'string') return { message: accepted };
    params = accepted;
  }
  const protocol = headers.get('sec-websocket-protocol');
  if (protocol !== undefined && !offered.includes(protocol)) return { message: `server chose subprotocol ${protocol} we did not offer` };
  return { protocol: protocol ?? '', deflate: params };
}
