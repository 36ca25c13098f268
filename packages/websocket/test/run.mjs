// `npm test` in this package: every compiled test file under build/test with Node's own runner
// (Node 20's --test takes no globs, so the files are listed here). An argument keeps the files
// whose path contains it.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';

const filter = process.argv[2];
function collect(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return collect(path);
    return name.endsWith('.test.js') ? [path] : [];
  });
}
const files = collect('build/test').filter((f) => !filter || f.includes(filter)).sort();
const child = spawn(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=240000', ...files], { stdio: 'inherit' });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
