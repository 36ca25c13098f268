/**
 * The moderator console page (`GET /admin/`), built by scripts/build-web.mjs from web/admin into
 * one self-contained HTML response (`dist/admin/console.json` = `{html, csp}`: its script and
 * style are inline, allowed by their hashes in `csp`). It lives outside dist/web, so the public
 * static server never serves it; admin-routes.ts answers it, 200 with the admin token and 401
 * without (the page holds no data: it asks for the token and sends it with every API call).
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { securityHeaders } from './static.js';

/** The built console: the page and the Content-Security-Policy its inline code needs. */
export interface ConsolePage {
  readonly html: string;
  readonly csp: string;
}

/** dist/src/http/admin-page.js -> dist/admin/console.json */
const DEFAULT_FILE = fileURLToPath(new URL('../../admin/console.json', import.meta.url));

/** The console built into the single binary (scripts/build-binary.mjs), used instead of the file. */
let embedded: ConsolePage | undefined;
let loaded: { page: ConsolePage; body: Buffer } | undefined;

/** Serves this console instead of dist/admin: called by the single binary's entry point. */
export function useEmbeddedConsole(page: ConsolePage): void {
  embedded = page;
  loaded = undefined;
}

/** Reads and checks a built console (`{html, csp}`); throws when it is missing or malformed. */
export function readConsole(file: string = DEFAULT_FILE): ConsolePage {
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<ConsolePage>;
  if (typeof parsed.html !== 'string' || typeof parsed.csp !== 'string') throw new Error(`${file}: not a built console ({html, csp})`);
  return { html: parsed.html, csp: parsed.csp };
}

/** The console, loaded once (undefined when it was not built: `npm run build` makes it). */
function consolePage(): { page: ConsolePage; body: Buffer } | undefined {
  if (loaded === undefined) {
    let page = embedded;
    if (page === undefined) {
      try {
        page = readConsole();
      } catch {
        return undefined; // not built (yet): tried again on the next request
      }
    }
    loaded = { page, body: Buffer.from(page.html, 'utf8') };
  }
  return loaded;
}

/**
 * Sends the console with `status` (200 or 401). Its own CSP replaces the static files' one;
 * nothing about it may be cached or passed on. Without a built console: a short text saying so.
 */
export function serveAdminPage(req: IncomingMessage, res: ServerResponse, status: number): void {
  const built = consolePage();
  const headers: Record<string, string | number> = {
    ...securityHeaders(req),
    'Cache-Control': 'no-store',
    'Referrer-Policy': 'no-referrer',
  };
  if (status === 401) headers['WWW-Authenticate'] = 'Bearer';
  let body: Buffer;
  if (built === undefined) {
    body = Buffer.from('the moderator console is not built: run npm run build\n', 'utf8');
    headers['Content-Type'] = 'text/plain; charset=utf-8';
    headers['Content-Security-Policy'] = `default-src 'none'; frame-ancestors 'none'`;
    status = status === 200 ? 503 : status;
  } else {
    body = built.body;
    headers['Content-Type'] = 'text/html; charset=utf-8';
    headers['Content-Security-Policy'] = built.page.csp;
  }
  headers['Content-Length'] = body.length;
  res.writeHead(status, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}
