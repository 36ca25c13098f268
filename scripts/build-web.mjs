// Bundles the browser client (web/) into dist/web with esbuild; the server serves that folder.
import { build } from 'esbuild';
import { cpSync, existsSync, mkdirSync } from 'node:fs';

const out = 'dist/web';
mkdirSync(out, { recursive: true });
if (existsSync('web/app.ts')) {
  await build({
    entryPoints: ['web/app.ts'],
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2020'],
    outfile: `${out}/app.js`,
    logLevel: 'warning',
  });
}
for (const file of ['index.html', 'style.css', 'favicon.svg']) {
  if (existsSync(`web/${file}`)) cpSync(`web/${file}`, `${out}/${file}`);
}
