/**
 * The API reference is generated from the TSDoc comments (TypeDoc, typedoc.json): it builds with
 * every warning an error (an exported symbol without documentation, a broken {@link}) and shows
 * every server option.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { serverDefaults } from '@strangers/websocket';

const PACKAGE = fileURLToPath(new URL('../../..', import.meta.url));

test('TypeDoc builds the API reference without a warning, with every server option', { timeout: 120_000 }, () => {
  const out = mkdtempSync(join(tmpdir(), 'websocket-docs-'));
  try {
    const typedoc = join(PACKAGE, '..', '..', 'node_modules', 'typedoc', 'bin', 'typedoc');
    const r = spawnSync(process.execPath, [typedoc, '--out', out, '--logLevel', 'Warn'], { cwd: PACKAGE, encoding: 'utf8', timeout: 110_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const page = readFileSync(join(out, 'interfaces', 'WebSocketServerOptions.html'), 'utf8');
    for (const option of [...Object.keys(serverDefaults), 'handler', 'origins', 'protocols', 'path', 'admit']) {
      assert.match(page, new RegExp(`\\b${option}\\b`), `${option} is documented`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
