// Bundles the browser client (web/) into dist/web with esbuild; the server serves that folder
// (src/http/static.ts), rewriting index.html's asset URLs to versioned ones at load time.
// The moderator console (web/admin) becomes one self-contained page in dist/admin (below).
// Type checking is separate: `tsc -p web/tsconfig.json` (part of `npm run build`).
import { build, transform } from 'esbuild';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

const out = 'dist/web';
rmSync(out, { recursive: true, force: true }); // no stale files left behind to be served
mkdirSync(out, { recursive: true });
// safari14.1: 14.0 has a destructuring bug esbuild cannot work around, and altcha-lib (the session's
// proof of work, web/session.ts) destructures.
const target = ['es2020', 'chrome90', 'firefox90', 'safari14.1'];
if (existsSync('web/app.ts')) {
  await build({
    entryPoints: ['web/app.ts'],
    bundle: true,
    minify: true,
    format: 'esm',
    target,
    outfile: `${out}/app.js`,
    legalComments: 'none',
    logLevel: 'warning',
  });
}
if (existsSync('web/pow-worker.ts')) {
  // The proof-of-work solver runs in Web Workers (web/session.ts): a classic worker script of its own.
  await build({
    entryPoints: ['web/pow-worker.ts'],
    bundle: true,
    minify: true,
    format: 'iife',
    target,
    outfile: `${out}/pow-worker.js`,
    legalComments: 'none',
    logLevel: 'warning',
  });
}
if (existsSync('web/style.css')) {
  const css = await transform(readFileSync('web/style.css', 'utf8'), { loader: 'css', minify: true, target });
  writeFileSync(`${out}/style.css`, css.code);
}
for (const file of ['index.html', 'favicon.svg']) {
  if (existsSync(`web/${file}`)) cpSync(`web/${file}`, `${out}/${file}`);
}

// The moderator console (web/admin) becomes ONE self-contained page, dist/admin/console.json =
// {html, csp}: every /admin path needs the token and a browser navigating to /admin/ sends none,
// so the page cannot load its script or style from separate URLs. They are inlined and allowed by
// their CSP hashes (no 'unsafe-inline'). It is written outside dist/web so that the public static
// server (src/http/static.ts) never serves it; src/http/admin-page.ts does, behind the token.
const adminOut = 'dist/admin';
rmSync(adminOut, { recursive: true, force: true });
if (existsSync('web/admin/index.html')) {
  const script = await build({
    entryPoints: ['web/admin/admin.ts'],
    bundle: true,
    minify: true,
    format: 'esm',
    target,
    write: false,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const js = script.outputFiles[0].text.trim();
  const css = (await transform(readFileSync('web/admin/admin.css', 'utf8'), { loader: 'css', minify: true, target })).code.trim();
  // esbuild escapes these inside strings; anything left would end the inline element early.
  if (/<\/script/i.test(js) || /<!--/.test(js)) throw new Error('admin.js cannot be inlined: it contains </script or <!--');
  if (/<\/style/i.test(css)) throw new Error('admin.css cannot be inlined: it contains </style');
  const icon = `data:image/svg+xml;base64,${readFileSync('web/favicon.svg').toString('base64')}`;
  // The source's notes are not for the browser (removed before anything is inlined).
  let html = readFileSync('web/admin/index.html', 'utf8').replace(/\n\s*<!--[\s\S]*?-->/g, '');
  /** Replaces exactly one occurrence (a function replacement: `$` in the code stays literal). */
  const inline = (pattern, replacement) => {
    const found = html.match(new RegExp(pattern.source, 'g'))?.length ?? 0;
    if (found !== 1) throw new Error(`web/admin/index.html: expected one ${pattern}, found ${found}`);
    html = html.replace(pattern, () => replacement);
  };
  inline(/<link rel="icon" href="[^"]*" type="image\/svg\+xml">/, `<link rel="icon" href="${icon}" type="image/svg+xml">`);
  inline(/<link rel="stylesheet" href="admin\.css">/, `<style>${css}</style>`);
  inline(/<script type="module" src="admin\.js"><\/script>/, `<script type="module">${js}</script>`);
  const hash = (text) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
  const csp = [
    `default-src 'none'`,
    `script-src ${hash(js)}`,
    `style-src ${hash(css)}`,
    `connect-src 'self'`,
    `img-src 'self' data:`,
    `base-uri 'none'`,
    `form-action 'none'`,
    `frame-ancestors 'none'`,
  ].join('; ');
  mkdirSync(adminOut, { recursive: true });
  writeFileSync(`${adminOut}/console.json`, JSON.stringify({ html, csp }));
}
