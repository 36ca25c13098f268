// Runs every compiled test file with Node's own runner: the app's (dist/test) and the workspace
// packages' (packages/*/build/test), or those of one root: `--root DIR`. A further argument keeps
// the files whose path contains it. Node 20's --test takes no globs, so the files are listed here.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';

const args = process.argv.slice(2);
const at = args.indexOf('--root');
const roots = at >= 0 ? [args.splice(at, 2)[1]] : [
  'dist/test',
  ...readdirSync('packages').map((name) => join('packages', name, 'build', 'test')).filter((dir) => existsSync(dir)),
];
const filter = args[0];
function collect(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return collect(path);
    return name.endsWith('.test.js') ? [path] : [];
  });
}
const files = roots.flatMap((root) => collect(root)).filter((f) => !filter || f.includes(filter)).sort();
if (files.length === 0) {
  console.error(`no test files under ${roots.join(', ')}${filter ? ` matching ${filter}` : ''}`);
  process.exit(1);
}
// A per-test timeout turns a hung test into a failure instead of a hung CI run.
const child = spawn(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=240000', ...files], { stdio: 'inherit' });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
