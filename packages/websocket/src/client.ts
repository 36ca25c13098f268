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

export interface ConnectOptions<T = unknown> {
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
      const problem = checkResponse(head.subarray(0, end).toString('latin1'), key, options.protocols ?? []);
      if ('message' in problem) return fail(problem.message, problem.status);
      settled = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
      const limits = {
        maxBufferedBytes: options.maxBufferedBytes ?? serverDefaults.maxBufferedBytes,
        closeTimeoutMs: options.closeTimeoutMs ?? serverDefaults.closeTimeoutMs,
        receiver: { isServer: false, maxMessageSize: options.maxMessageSize ?? 64 * 1024 * 1024 },
      };
      const context = { handler: options.handler, limits, isServer: false, registry: null };
      const conn = new WebSocketConnection<T>(socket, context, problem.protocol);
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
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status, headers };
}

/** RFC 6455 4.1: the checks a client makes on the server's answer; the chosen subprotocol when it is fine. */
function checkResponse(
  text: string,
  key: string,
  offered: readonly string[],
): { message: string; status?: number | undefined } | { protocol: string } {
  const { status, headers } = parseHead(text);
  if (status !== 101) return { message: `server answered ${status || 'garbage'} instead of 101`, status: status || undefined };
  if (!headerHasToken(headers.get('upgrade'), 'websocket')) return { message: 'missing Upgrade: websocket' };
  if (!headerHasToken(headers.get('connection'), 'upgrade')) return { message: 'missing Connection: upgrade' };
  if (headers.get('sec-websocket-accept') !== acceptKey(key)) return { message: 'wrong Sec-WebSocket-Accept' };
  if (headers.has('sec-websocket-extensions')) return { message: 'server chose an extension we did not offer' };
  const protocol = headers.get('sec-websocket-protocol');
  if (protocol !== undefined && !offered.includes(protocol)) return { message: `server chose subprotocol ${protocol} we did not offer` };
  return { protocol: protocol ?? '' };
}
