/**
 * The HTTP face of the session gate (src/session): thin routes that read the request, call the
 * gate and write JSON. The protocol is in docs/protocol.md ("Sessions").
 *
 * - `GET /session/challenge` → 200, an ALTCHA challenge (`Cache-Control: no-store`)
 * - `POST /session` `{"altcha":"<payload>"}` → 200 `{"token","expiresAt"}` + the session cookie
 * - `GET /session` → 200 `{"expiresAt"}` while the request's session is valid, else 401
 *
 * Errors are `{"error":code}` with the status of {@link GateError}. With the gate off, these
 * paths answer 404 `{"error":"gate_off"}`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GateError, type SessionGate } from '../session/index.js';
import { sendJson } from './respond.js';

/** The cookie that carries the session token. */
export const SESSION_COOKIE = 'strangers_session';

/** Limits of the routes, with their reasons. */
export const sessionRouteDefaults = {
  /** Largest body of `POST /session` (a real one is under 1 KB); larger: 413 without reading it. */
  maxBodyBytes: 4096,
  /** The body must arrive within this time (408 after): a slow sender cannot hold a socket. */
  bodyTimeoutMs: 10_000,
} as const;

/** What the routes need from the server. */
export interface SessionRouteContext {
  /** The gate; undefined when it is off. */
  readonly gate: SessionGate | undefined;
  /** The key of the client's address (identity.ts). */
  addressKey(req: IncomingMessage): string;
  /** Whether the client reached us over TLS (directly, or at a trusted proxy). */
  isSecure(req: IncomingMessage): boolean;
  /** Called when something unexpected failed (never with request data). */
  onError(err: unknown): void;
}

/** Handles `/session` and `/session/challenge`; returns false (having written nothing) for other paths. */
export function routeSession(req: IncomingMessage, res: ServerResponse, path: string, ctx: SessionRouteContext): boolean {
  if (path !== '/session' && path !== '/session/challenge') return false;
  const gate = ctx.gate;
  if (gate === undefined) {
    sendJson(req, res, 404, { error: 'gate_off' });
    return true;
  }
  const run = path === '/session/challenge' ? challenge : session;
  run(req, res, gate, ctx).catch((err: unknown) => {
    ctx.onError(err);
    if (!res.headersSent) sendJson(req, res, 500, { error: 'internal' });
    else res.destroy();
  });
  return true;
}

async function challenge(req: IncomingMessage, res: ServerResponse, gate: SessionGate, ctx: SessionRouteContext): Promise<void> {
  if (req.method !== 'GET') return methodNotAllowed(req, res, 'GET');
  const result = await gate.challenge(ctx.addressKey(req));
  if (!result.ok) return fail(req, res, result.error);
  sendJson(req, res, 200, result.challenge);
}

async function session(req: IncomingMessage, res: ServerResponse, gate: SessionGate, ctx: SessionRouteContext): Promise<void> {
  if (req.method === 'GET') {
    const claims = gate.verify(sessionToken(req));
    if (typeof claims === 'string') return sendJson(req, res, 401, { error: 'unauthorized' });
    return sendJson(req, res, 200, { expiresAt: claims.expiresAt });
  }
  if (req.method !== 'POST') return methodNotAllowed(req, res, 'GET, POST');
  const body = await readBody(req, sessionRouteDefaults.maxBodyBytes, sessionRouteDefaults.bodyTimeoutMs);
  if (typeof body === 'string') {
    if (body === 'aborted') return void res.destroy();
    gate.countFailure(body);
    // The rest of the body is not read: the connection closes after the answer.
    return fail(req, res, body, { connection: 'close' });
  }
  let altcha: unknown;
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    altcha = typeof parsed === 'object' && parsed !== null ? (parsed as { altcha?: unknown }).altcha : undefined;
  } catch {
    altcha = undefined;
  }
  // redeem() counts and refuses a missing or malformed payload as bad_request.
  const result = await gate.redeem(ctx.addressKey(req), altcha);
  if (!result.ok) return fail(req, res, result.error);
  const { token, claims } = result;
  const maxAge = Math.max(0, Math.floor((claims.expiresAt - Date.now()) / 1000));
  const cookie = `${SESSION_COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAge}${ctx.isSecure(req) ? '; Secure' : ''}`;
  sendJson(req, res, 200, { token, expiresAt: claims.expiresAt }, { 'set-cookie': cookie });
}

/**
 * The session token of an upgrade or request: the `session` query parameter (clients that are
 * not browsers), else the `strangers_session` cookie. No allocation beyond the parsing.
 */
export function sessionToken(req: IncomingMessage): string | undefined {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  if (q !== -1 && url.includes('session=', q)) {
    const value = new URLSearchParams(url.slice(q + 1)).get('session');
    if (value !== null) return value;
  }
  return cookieValue(req.headers.cookie, SESSION_COOKIE);
}

/** The value of cookie `name` in a `Cookie` header (the first one), or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  const key = `${name}=`;
  let from = 0;
  for (;;) {
    const at = header.indexOf(key, from);
    if (at === -1) return undefined;
    const before = at === 0 ? ';' : header[at - 1];
    if (before === ';' || before === ' ') {
      const end = header.indexOf(';', at);
      return header.slice(at + key.length, end === -1 ? header.length : end).trim();
    }
    from = at + 1;
  }
}

/**
 * The body, up to `limit` bytes: a declared larger length is refused before reading anything;
 * a body that grows past the limit, or that takes longer than `timeoutMs`, is given up.
 */
function readBody(req: IncomingMessage, limit: number, timeoutMs: number): Promise<Buffer | 'too_large' | 'timeout' | 'aborted'> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && !(Number(declared) <= limit)) return Promise.resolve('too_large');
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (result: Buffer | 'too_large' | 'timeout' | 'aborted'): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('close', onAbort);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) finish('too_large');
      else chunks.push(chunk);
    };
    const onEnd = (): void => finish(Buffer.concat(chunks, size));
    const onAbort = (): void => finish('aborted');
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAbort);
    req.on('close', onAbort);
  });
}

function fail(req: IncomingMessage, res: ServerResponse, error: GateError, headers: Record<string, string> = {}): void {
  if (error === 'rate_limited') headers['retry-after'] = '60';
  sendJson(req, res, GateError[error], { error }, headers);
}

function methodNotAllowed(req: IncomingMessage, res: ServerResponse, allow: string): void {
  sendJson(req, res, 405, { error: 'method_not_allowed' }, { allow });
}

