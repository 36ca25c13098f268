// Builds `dist/bin/strangers`: one executable file with Node.js, the server and the web client
// inside (Node's single executable applications). Steps: bundle everything into one CommonJS
// file with esbuild (web assets and the moderator console embedded), make the SEA blob, inject
// it into a copy of `node`.
//   npm run build && npm run build:binary
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const out = 'dist/bin';
const webRoot = 'dist/web';
mkdirSync(out, { recursive: true });

const assets = {};
for (const name of readdirSync(webRoot)) {
  const path = join(webRoot, name);
  if (statSync(path).isFile()) assets[name] = readFileSync(path).toString('base64');
}
if (!assets['index.html']) throw new Error(`no ${webRoot}/index.html: run npm run build first`);
// The moderator console (one self-contained page with its CSP, built by build-web.mjs).
const consoleFile = 'dist/admin/console.json';
if (!existsSync(consoleFile)) throw new Error(`no ${consoleFile}: run npm run build first`);
const adminConsole = readFileSync(consoleFile, 'utf8');

// First of all, before the embedded files and the modules fill the heap: the young generation
// keeps its initial size (src/cli/heap.ts; the binary gets no --max-semi-space-size=2).
const entry = `
if (process.argv.includes('serve')) require('./src/cli/heap.ts').limitYoungGeneration();
const files = ${JSON.stringify(assets)};
require('./src/http/static.ts').useEmbeddedAssets(
  Object.fromEntries(Object.entries(files).map(([name, data]) => [name, Buffer.from(data, 'base64')])),
);
require('./src/http/admin-page.ts').useEmbeddedConsole(${adminConsole});
require('./src/cli/main.ts');
`;

await build({
  stdin: { contents: entry, resolveDir: process.cwd(), sourcefile: 'binary-entry.cjs', loader: 'js' },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outfile: `${out}/strangers.cjs`,
  // import.meta.url has no meaning in the bundle; the embedded assets replace the files it located.
  define: { 'import.meta.url': 'importMetaUrl' },
  banner: { js: "const importMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
  plugins: [
    {
      // `debug` (under ioredis) tries require('supports-color'), which is not installed; in a
      // single executable even a failed require of a file prints a warning, so it gets nothing.
      name: 'no-supports-color',
      setup(b) {
        b.onResolve({ filter: /^supports-color$/ }, () => ({ path: 'supports-color', namespace: 'empty' }));
        b.onLoad({ filter: /.*/, namespace: 'empty' }, () => ({ contents: 'module.exports = {};', loader: 'js' }));
      },
    },
  ],
});

writeFileSync(`${out}/sea-config.json`, JSON.stringify({ main: `${out}/strangers.cjs`, output: `${out}/strangers.blob`, disableExperimentalSEAWarning: true }));
execFileSync(process.execPath, ['--experimental-sea-config', `${out}/sea-config.json`], { stdio: 'inherit' });
const binary = `${out}/strangers`;
copyFileSync(process.execPath, binary);
chmodSync(binary, 0o755);
execFileSync('node_modules/.bin/postject', [binary, 'NODE_SEA_BLOB', `${out}/strangers.blob`, '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'], {
  stdio: ['ignore', 'ignore', 'inherit'],
});
console.log(`built ${binary} (${(statSync(binary).size / 1e6).toFixed(0)} MB)`);
