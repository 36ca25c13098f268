/**
 * The package as shipped: `npm pack` makes the tarball the registry would get; installed into an
 * empty folder, its example serves an echo, the conformance suite passes against that installed
 * copy (the compiled suite copied next to it, so that `@strangers/websocket` resolves to the
 * installed files, not to the workspace), and the README's quick starts type-check against the
 * shipped declarations.
 */
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';

const PACKAGE = fileURLToPath(new URL('../../..', import.meta.url));
const BUILD_TEST = join(PACKAGE, 'build', 'test');
/** The workspace root: its node_modules has the TypeScript compiler and @types/node. */
const ROOT = join(PACKAGE, '..', '..');

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd: opts.cwd ?? PACKAGE, env: opts.env ?? process.env, encoding: 'utf8', timeout: opts.timeoutMs ?? 120_000 });
}

function testFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.test.js')).map((f) => join(dir, f)).sort();
}

describe('npm pack → npm install → example and conformance suite on the installed copy', () => {
  const dir = mkdtempSync(join(tmpdir(), 'websocket-pack-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const app = join(dir, 'app');
  const installed = join(app, 'node_modules', '@strangers', 'websocket');
  let tarball = '';

  it('packs the built library, its types, the example and the docs, and nothing else', () => {
    // --ignore-scripts: the build is done (npm test builds first); prepack would rewrite dist
    // while other test files use it.
    const r = run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir]);
    assert.equal(r.status, 0, r.stderr);
    const [info] = JSON.parse(r.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    tarball = join(dir, info!.filename);
    const files = info!.files.map((f) => f.path);
    for (const needed of ['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE', 'examples/echo.mjs', 'dist/index.js', 'dist/index.d.ts', 'dist/receiver.js']) {
      assert.ok(files.includes(needed), `${needed} is in the package`);
    }
    assert.deepEqual(files.filter((f) => /^(src|test|build|docs)\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts'))), []);
  });

  it('installs into an empty folder with no dependencies at all', () => {
    assert.ok(tarball, 'packed by the previous test');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    const r = run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball], { cwd: app, timeoutMs: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    const pkg = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(pkg.dependencies, undefined, 'no runtime dependencies');
    assert.equal((pkg.engines as { node: string }).node, '>=20');
    assert.deepEqual(readdirSync(join(app, 'node_modules')).sort(), ['.package-lock.json', '@strangers']);
  });

  it('runs the example (examples/echo.mjs) and the conformance suite against the installed copy', { timeout: 180_000 }, () => {
    // The compiled suite, with the files it imports, next to the installed package.
    for (const part of ['conformance', 'unit', 'echo-server.js']) cpSync(join(BUILD_TEST, part), join(app, 'build', 'test', part), { recursive: true });
    const resolved = run(process.execPath, ['--input-type=module', '-e', "console.log(import.meta.resolve('@strangers/websocket'))"], { cwd: join(app, 'build', 'test', 'conformance') });
    assert.equal(resolved.status, 0, resolved.stderr);
    assert.equal(fileURLToPath(resolved.stdout.trim()), join(installed, 'dist', 'index.js'));
    // WS_PACKAGE_DIR: echo-cli.test.js starts the installed examples/echo.mjs.
    // Without NODE_TEST_CONTEXT: the runner in the child must not take itself for a subtest.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const suite = run(process.execPath, ['--test', '--test-concurrency=1', ...testFiles(join(app, 'build', 'test', 'conformance'))], {
      cwd: app, env: { ...env, WS_PACKAGE_DIR: installed }, timeoutMs: 170_000,
    });
    const summary = /# tests (\d+)[\s\S]*# pass (\d+)[\s\S]*# fail (\d+)/.exec(suite.stdout);
    assert.ok(summary, `no test summary:\n${suite.stdout.slice(-2000)}\n${suite.stderr.slice(-2000)}`);
    assert.equal(suite.status, 0, suite.stdout.split('\n').filter((l) => l.startsWith('not ok')).join('\n'));
    assert.equal(summary[3], '0');
    assert.ok(Number(summary[2]) > 100, `${summary[2]} conformance cases passed`);
  });

  it('the README quick starts type-check against the shipped declarations', () => {
    const readme = readFileSync(join(installed, 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/## Quick start[^\n]*\n[\s\S]*?```js\n([\s\S]*?)```/g)].map((m) => m[1]!);
    assert.equal(blocks.length, 2, 'a server and a client quick start');
    blocks.forEach((code, i) => writeFileSync(join(app, `quick-start-${i}.ts`), `export {};\n${code}`));
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true,
        types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')],
      },
      include: ['quick-start-*.ts'],
    }));
    const tsc = run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: app });
    assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
  });
});
