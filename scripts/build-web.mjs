// Bundles the browser client (web/) into dist/web with esbuild; the server serves that folder
// (src/http/static.ts), rewriting index.html's asset URLs to versioned ones at load time.
// Type checking is separate: `tsc -p web/tsconfig.json` (part of `npm run build`).
import { build, transform } from 'esbuild';
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
