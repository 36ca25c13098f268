/**
 * The web client's files (dist/web), served from memory.
 *
 * The folder is small (a page, a stylesheet, a script, an icon), so it is read once, hashed and
 * compressed (gzip and brotli, when that makes it smaller) on first use, and every request is
 * answered from those buffers. `index.html` is rewritten to reference each asset as
 * `/name?v=<hash>`: the page itself is revalidated on every visit (`no-cache` + ETag) while the
 * versioned assets it points to are cached for a year, and a new build changes their URLs.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants as zlib, gzipSync } from 'node:zlib';

/** dist/src/http/static.js -> dist/web */
const DEFAULT_ROOT = fileURLToPath(new URL('../../web/', import.meta.url));

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webmanifest': 'application/manifest+json',
  '.txt': 'text/plain; charset=utf-8',
};

/** Types worth compressing (images like PNG are compressed already). */
const COMPRESSIBLE = new Set(['.html', '.css', '.js', '.mjs', '.map', '.json', '.svg', '.webmanifest', '.txt']);

/** Cache policies. */
const CacheControl = {
  /** The page and unversioned URLs: always revalidate (cheap: a 304 on a matching ETag). */
  revalidate: 'no-cache',
  /** `/asset?v=<its current hash>`: the content behind that URL never changes. */
  immutable: 'public, max-age=31536000, immutable',
} as const;

/** One representation of a file: its bytes and the ETag that names exactly those bytes. */
interface Variant {
  readonly body: Buffer;
  readonly etag: string;
}

interface Asset {
  readonly type: string;
  /** Short content hash, used in `?v=` and in ETags. */
  readonly hash: string;
  readonly identity: Variant;
  readonly gzip: Variant | undefined;
  readonly br: Variant | undefined;
}

/**
 * The Content-Security-Policy of every response. `connect-src` names the page's own WebSocket
 * origin explicitly (older browsers do not count `ws:` as `'self'`) when the Host header is a
 * plain host[:port]; otherwise only `'self'`.
 */
function contentSecurityPolicy(host: string | undefined): string {
  const hostOk = host !== undefined && /^[a-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-f:.]+\](:\d{1,5})?$/i.test(host);
  const connect = hostOk ? `'self' ws://${host} wss://${host}` : `'self'`;
  return [
    `default-src 'self'`,
    `script-src 'self'`,
    `style-src 'self'`,
    `img-src 'self' data:`,
    `connect-src ${connect}`,
    `font-src 'self'`,
    `object-src 'none'`,
    `base-uri 'none'`,
    `form-action 'none'`,
    `frame-ancestors 'none'`,
  ].join('; ');
}

/**
 * Security headers for any response of this server (the static files use them; the other routes
 * may too). `Strict-Transport-Security` is only sent over TLS.
 */
export function securityHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {
    'Content-Security-Policy': contentSecurityPolicy(req.headers.host),
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'X-Frame-Options': 'DENY',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Permissions-Policy': 'camera=(), microphone=(), geolocation=()',
  };
  if ((req.socket as { encrypted?: boolean }).encrypted === true) {
    headers['Strict-Transport-Security'] = 'max-age=15552000';
  }
  return headers;
}

function variant(body: Buffer, hash: string, suffix: string): Variant {
  return { body, etag: `"${hash}${suffix}"` };
}

function makeAsset(name: string, body: Buffer): Asset {
  const ext = extname(name).toLowerCase();
  const hash = createHash('sha256').update(body).digest('base64url').slice(0, 16);
  let gzip: Variant | undefined;
  let br: Variant | undefined;
  if (COMPRESSIBLE.has(ext) && body.length > 256) {
    const gz = gzipSync(body, { level: 9 });
    if (gz.length < body.length) gzip = variant(gz, hash, '-gz');
    const b = brotliCompressSync(body, {
      params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_SIZE_HINT]: body.length },
    });
    if (b.length < body.length) br = variant(b, hash, '-br');
  }
  return {
    type: CONTENT_TYPES[ext] ?? 'application/octet-stream',
    hash,
    identity: variant(body, hash, ''),
    gzip,
    br,
  };
}

/** The served files by URL path (`/app.js`), `/` being index.html. */
export class StaticSite {
  readonly #assets = new Map<string, Asset>();

  /**
   * Serves the files of `source`: a folder (one level, small files; a missing folder serves
   * nothing) or the files themselves by name (the single binary embeds them).
   */
  constructor(source: string | ReadonlyMap<string, Buffer> = embeddedFiles ?? DEFAULT_ROOT) {
    const raw = typeof source === 'string' ? readFolder(source) : source;
    for (const [name, body] of raw) {
      if (name !== 'index.html') this.#assets.set(`/${name}`, makeAsset(name, body));
    }
    const index = raw.get('index.html');
    if (index !== undefined) {
      const html = index.toString('utf8').replace(
        /(\s(?:src|href)=")\/?([\w.-]+)"/g,
        (whole, attr: string, name: string) => {
          const asset = this.#assets.get(`/${name}`);
          return asset === undefined ? whole : `${attr}/${name}?v=${asset.hash}"`;
        },
      );
      const page = makeAsset('index.html', Buffer.from(html, 'utf8'));
      this.#assets.set('/', page);
      this.#assets.set('/index.html', page);
    }
  }

  /** Number of distinct URL paths served. */
  get size(): number {
    return this.#assets.size;
  }

  /** Answers GET/HEAD for a known path; returns false (having written nothing) otherwise. */
  serve(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const asset = this.#assets.get(path);
    if (asset === undefined) return false;

    const version = q < 0 ? null : new URLSearchParams(url.slice(q + 1)).get('v');
    const immutable = path !== '/' && path !== '/index.html' && version === asset.hash;
    const chosen = pickEncoding(req.headers['accept-encoding'], asset);
    const v = chosen.variant;

    const headers: Record<string, string | number> = {
      ...securityHeaders(req),
      'Content-Type': asset.type,
      'Cache-Control': immutable ? CacheControl.immutable : CacheControl.revalidate,
      ETag: v.etag,
    };
    if (asset.gzip !== undefined || asset.br !== undefined) headers.Vary = 'Accept-Encoding';
    if (chosen.encoding !== undefined) headers['Content-Encoding'] = chosen.encoding;

    if (etagMatches(req.headers['if-none-match'], v.etag)) {
      res.writeHead(304, headers);
      res.end();
      return true;
    }
    headers['Content-Length'] = v.body.length;
    res.writeHead(200, headers);
    if (req.method === 'HEAD') res.end();
    else res.end(v.body);
    return true;
  }
}

/** The best representation the client accepts: brotli, then gzip, then the plain bytes. */
function pickEncoding(header: string | string[] | undefined, asset: Asset): { variant: Variant; encoding: 'br' | 'gzip' | undefined } {
  if (typeof header === 'string' && header !== '') {
    const accepted = acceptedEncodings(header);
    if (asset.br !== undefined && accepted.has('br')) return { variant: asset.br, encoding: 'br' };
    if (asset.gzip !== undefined && accepted.has('gzip')) return { variant: asset.gzip, encoding: 'gzip' };
  }
  return { variant: asset.identity, encoding: undefined };
}

/** Codings listed in Accept-Encoding without `q=0` (a `*` accepts both). */
function acceptedEncodings(header: string): Set<string> {
  const out = new Set<string>();
  for (const part of header.split(',')) {
    const [name = '', ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    if (q !== undefined && Number(q.slice(2)) === 0) continue;
    if (name === '*') {
      out.add('br');
      out.add('gzip');
    } else if (name !== '') {
      out.add(name);
    }
  }
  return out;
}

/** If-None-Match uses weak comparison (RFC 9110 §13.1.2): `W/"x"` matches `"x"`. */
function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

/** Files built into the single binary (scripts/build-binary.mjs), used instead of dist/web. */
let embeddedFiles: ReadonlyMap<string, Buffer> | undefined;

/** Serves these files instead of dist/web: called by the single binary's entry point. */
export function useEmbeddedAssets(files: Readonly<Record<string, Buffer>>): void {
  embeddedFiles = new Map(Object.entries(files));
}

function readFolder(root: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  if (!existsSync(root)) return files;
  for (const name of readdirSync(root)) {
    const path = join(root, name);
    if (statSync(path).isFile()) files.set(name, readFileSync(path));
  }
  return files;
}

let defaultSite: StaticSite | undefined;

/**
 * Serves the built web client (dist/web) for GET and HEAD. Returns false, having written
 * nothing, when the request is for no file of the client (the caller answers 404 or routes on).
 * The files are loaded once, on the first call.
 */
export function serveStatic(req: IncomingMessage, res: ServerResponse): boolean {
  defaultSite ??= new StaticSite();
  return defaultSite.serve(req, res);
}

/**
 * Loads the client's files now (e.g. at server start, so the first visitor does not pay for the
 * compression) from `root` (default dist/web). Returns the number of URL paths served.
 */
export function preloadStatic(root?: string): number {
  defaultSite = root === undefined ? new StaticSite() : new StaticSite(root);
  return defaultSite.size;
}
