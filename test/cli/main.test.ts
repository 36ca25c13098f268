import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);
const main = 'dist/src/cli/main.js';

test('--version prints the version in package.json', async () => {
  const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
  const { stdout } = await run(process.execPath, [main, '--version']);
  assert.equal(stdout.trim(), version);
});

test('an unknown command exits 2 with one line naming it', async () => {
  await assert.rejects(run(process.execPath, [main, 'frobnicate']), (error: { code: number; stderr: string }) => {
    assert.equal(error.code, 2);
    assert.match(error.stderr, /unknown command 'frobnicate'/);
    assert.equal(error.stderr.trim().split('\n').length, 1);
    return true;
  });
});

test('--help lists the commands', async () => {
  const { stdout } = await run(process.execPath, [main, '--help']);
  for (const command of ['serve', 'bench']) assert.match(stdout, new RegExp(`\\b${command}\\b`));
});
