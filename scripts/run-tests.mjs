// Runs every compiled test file under dist/test with Node's own runner.
// Node 20's --test takes no globs, so the files are listed here.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';

const root = 'dist/test';
const filter = process.argv[2];
function collect(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return collect(path);
    return name.endsWith('.test.js') ? [path] : [];
  });
}
const files = collect(root).filter((f) => !filter || f.includes(filter)).sort();
if (files.length === 0) {
  console.error(`no test files under ${root}${filter ? ` matching ${filter}` : ''}`);
  process.exit(1);
}
// A per-test timeout turns a hung test into a failure instead of a hung CI run.
const child = spawn(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=240000', ...files], { stdio: 'inherit' });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
