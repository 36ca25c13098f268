/**
 * The moderator API under `/admin` (docs/protocol.md, "Moderation"): thin routes over the
 * engine's moderation store. Without an admin token every `/admin` path is 404; with one, every
 * request needs `Authorization: Bearer <token>` (401 otherwise; compared in constant time).
 * `GET /admin/` is the console page (admin-page.ts): without the token it is answered 401 with
 * the page itself, which asks for the token and sends it with every call.
 *
 * Each action writes one audit line: what was done and to which person id, never chat text.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ModerationStore, ReportCase } from '../engine/engine.js';
import type { Logger } from './log.js';
import { sendJson } from './respond.js';

/** Largest JSON body accepted (a ban is a few dozen bytes). */
const MAX_BODY = 1024;
/** Cases listed at most per request. */
const MAX_CASES = 500;
/** Longest ban a moderator may set (minutes): 30 days. */
const MAX_BAN_MINUTES = 30 * 24 * 60;

export interface AdminDeps {
  readonly token: string;
  readonly store: ModerationStore;
  readonly log: Logger;
  /** The console page, answered to `GET /admin/` (status 200 with the token, 401 without). */
  readonly page?: ((req: IncomingMessage, res: ServerResponse, status: number) => void) | undefined;
}

/** Answers `/admin...` requests; returns false for other paths. */
export function createAdminRoutes(deps: AdminDeps): (req: IncomingMessage, res: ServerResponse, path: string) => boolean {
  const expected = digest(deps.token);
  const authorized = (req: IncomingMessage): boolean => {
    const header = req.headers.authorization;
    if (typeof header !== 'string' || !header.startsWith('Bearer ')) return false;
    return timingSafeEqual(digest(header.slice(7).trim()), expected);
  };
  const audit = (action: string, fields: Record<string, unknown>): void => deps.log.info({ event: 'audit', action, ...fields }, `moderator: ${action}`);

  return (req, res, path) => {
    if (path !== '/admin' && !path.startsWith('/admin/')) return false;
    const ok = authorized(req);
    const method = req.method ?? 'GET';
    if ((path === '/admin' || path === '/admin/') && (method === 'GET' || method === 'HEAD') && deps.page !== undefined) {
      deps.page(req, res, ok ? 200 : 401);
      return true;
    }
    if (!ok) {
      sendJson(req, res, 401, { error: 'unauthorized' }, { 'www-authenticate': 'Bearer' });
      return true;
    }
    void route(req, res, path, method).catch((err: unknown) => {
      deps.log.error({ err }, 'admin request failed');
      if (!res.headersSent) sendJson(req, res, 503, { error: 'engine_unavailable' });
      else res.end();
    });
    return true;
  };

  async function route(req: IncomingMessage, res: ServerResponse, path: string, method: string): Promise<void> {
    const now = Date.now();
    if (path === '/admin/reports') {
      if (method !== 'GET') return notAllowed(req, res, 'GET');
      const cases = await deps.store.cases(MAX_CASES, now);
      return sendJson(req, res, 200, { reports: cases.map(toWire) });
    }
    const dismiss = /^\/admin\/reports\/([^/]{1,100})\/dismiss$/.exec(path);
    if (dismiss !== null) {
      if (method !== 'POST') return notAllowed(req, res, 'POST');
      const id = decodeURIComponent(dismiss[1]!);
      const done = await deps.store.dismiss(id, now);
      if (!done) return sendJson(req, res, 404, { error: 'not_found' });
      audit('dismiss', { report: id });
      return sendJson(req, res, 200, { dismissed: id });
    }
    if (path === '/admin/bans') {
      if (method !== 'POST') return notAllowed(req, res, 'POST');
      const body = await readJson(req, res);
      if (body === undefined) return;
      const { person, minutes } = body as { person?: unknown; minutes?: unknown };
      if (typeof person !== 'string' || person === '' || person.length > 200) return sendJson(req, res, 400, { error: 'bad_request', detail: 'person must be a person id' });
      if (typeof minutes !== 'number' || !Number.isInteger(minutes) || minutes < 1 || minutes > MAX_BAN_MINUTES) {
        return sendJson(req, res, 400, { error: 'bad_request', detail: `minutes must be an integer from 1 to ${MAX_BAN_MINUTES}` });
      }
      const until = await deps.store.ban(person, minutes * 60_000, now);
      audit('ban', { person, minutes });
      return sendJson(req, res, 200, { person, until });
    }
    const unban = /^\/admin\/bans\/([^/]{1,300})$/.exec(path);
    if (unban !== null) {
      if (method !== 'DELETE') return notAllowed(req, res, 'DELETE');
      const person = decodeURIComponent(unban[1]!);
      const lifted = await deps.store.unban(person, now);
      if (!lifted) return sendJson(req, res, 404, { error: 'not_found' });
      audit('unban', { person });
      return sendJson(req, res, 200, { lifted: person });
    }
    sendJson(req, res, 404, { error: 'not_found' });
  }
}

/** The wire shape of a case (docs/protocol.md). */
function toWire(c: ReportCase): object {
  return { id: c.id, at: c.at, reason: c.reason, reporters: c.reporters, automatic: c.automatic, target: c.target, evidence: c.evidence };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Reads a small JSON body; answers 413/400 itself and resolves undefined when it did. */
function readJson(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
  return new Promise((resolve) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY) {
      sendJson(req, res, 413, { error: 'too_large' }, { connection: 'close' });
      req.destroy();
      return resolve(undefined);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > MAX_BODY) {
        done = true;
        sendJson(req, res, 413, { error: 'too_large' }, { connection: 'close' });
        req.destroy();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown);
      } catch {
        sendJson(req, res, 400, { error: 'bad_request', detail: 'the body must be JSON' });
        resolve(undefined);
      }
    });
    req.on('error', () => {
      if (!done) resolve(undefined);
      done = true;
    });
  });
}


function notAllowed(req: IncomingMessage, res: ServerResponse, allow: string): void {
  sendJson(req, res, 405, { error: 'method_not_allowed' }, { allow });
}
