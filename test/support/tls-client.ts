/**
 * TLS clients for certificate tests: the fingerprint a server presents to a new handshake, and
 * a small WebSocket chat client over wss:// that accepts any certificate (test certificates).
 */
import { request } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { connect, type WebSocketConnection } from '@strangers/websocket';

/** SHA-256 fingerprint (colon-separated hex) of the certificate a new TLS handshake on `port` gets. */
export function peerFingerprint(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host, port, servername: 'localhost', rejectUnauthorized: false }, () => {
      const fp = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      resolve(fp);
    });
    socket.setTimeout(5000, () => socket.destroy(new Error('TLS handshake timed out')));
    socket.once('error', reject);
  });
}

type Msg = { type: string; [k: string]: unknown };

/** A chat client on wss:// that keeps every message; waits are bounded. */
export class WssChat {
  readonly messages: Msg[] = [];
  #read = 0;
  #wake: (() => void) | undefined;
  closed = false;

  private constructor(readonly conn: WebSocketConnection<unknown>) {}

  /** `query` is appended to `/ws` as it is (e.g. `?session=TOKEN`). */
  static async open(base: string, query = ''): Promise<WssChat> {
    let chat: WssChat | undefined;
    const early: Msg[] = [];
    const conn = await connect(`${base.replace(/^https/, 'wss')}/ws${query}`, {
      rejectUnauthorized: false,
      timeoutMs: 5000,
      handler: {
        message: (_c, data) => {
          const m = JSON.parse(data.toString('utf8')) as Msg;
          if (chat === undefined) early.push(m);
          else chat.#push(m);
        },
        close: () => {
          if (chat !== undefined) {
            chat.closed = true;
            chat.#wake?.();
          }
        },
      },
    });
    chat = new WssChat(conn);
    for (const m of early) chat.#push(m);
    return chat;
  }

  #push(m: Msg): void {
    this.messages.push(m);
    this.#wake?.();
  }

  send(obj: unknown): void {
    this.conn.send(JSON.stringify(obj));
  }

  /** The next unread message, which must be of `type`. */
  async expect(type: string, ms = 5000): Promise<Msg> {
    const end = Date.now() + ms;
    while (this.#read >= this.messages.length) {
      if (this.closed) throw new Error(`closed while waiting for ${type}`);
      const left = end - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${type}`);
      let t: NodeJS.Timeout | undefined;
      await new Promise<void>((r) => {
        this.#wake = r;
        t = setTimeout(r, left);
      });
      clearTimeout(t);
    }
    const m = this.messages[this.#read++]!;
    if (m.type !== type) throw new Error(`expected ${type}, got ${JSON.stringify(m)}`);
    return m;
  }

  close(): void {
    this.conn.terminate();
  }
}

/** A request over HTTPS accepting any certificate (fetch cannot be told to): status and body. */
export function httpsRequest(port: number, path: string, method = 'GET', body?: string, host = '127.0.0.1'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method, rejectUnauthorized: false, timeout: 10_000, headers: body === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** GET `path` over HTTPS accepting any certificate: the body. */
export async function getOverTls(port: number, path: string, host = '127.0.0.1'): Promise<string> {
  return (await httpsRequest(port, path, 'GET', undefined, host)).body;
}
