/**
 * Interop: Python's `websockets` (Debian's python3-websockets, at /usr/bin/python3) against
 * our echo server (with permessage-deflate declined, then accepted), through test/interop/python_client.py. Skipped when Python or the package
 * is missing, unless CI=true, where that is a failure.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { startEchoServer, type EchoServer } from '../echo-server.js';

const PYTHON = '/usr/bin/python3';
// Compiled to dist/test/interop/: the script stays in the source tree.
const SCRIPT = fileURLToPath(new URL('../../../test/interop/python_client.py', import.meta.url));
const CI = process.env.CI === 'true';

let server: EchoServer;
let deflating: EchoServer;
/** Sec-WebSocket-Extensions of each upgrade request (to prove an offer was made). */
const offered: (string | undefined)[] = [];
before(async () => {
  server = await startEchoServer({ port: 0, heartbeatIntervalMs: 0 });
  deflating = await startEchoServer({ port: 0, heartbeatIntervalMs: 0, perMessageDeflate: true });
  for (const s of [server, deflating]) s.http.prependListener('upgrade', (req: IncomingMessage) => offered.push(req.headers['sec-websocket-extensions']));
});
after(async () => {
  await server.close();
  await deflating.close();
});

function run(url: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(PYTHON, [SCRIPT, url], { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

for (const deflate of [false, true]) {
  test(`interop: Python websockets sends text and binary, gets echoes, pings, closes 1000; permessage-deflate ${deflate ? 'on' : 'declined'}`, { timeout: 40_000 }, async (t) => {
    if (!existsSync(PYTHON)) {
      assert.ok(!CI, `${PYTHON} is missing (CI=true: required)`);
      t.skip(`${PYTHON} is missing`);
      return;
    }
    assert.ok(existsSync(SCRIPT), `missing ${SCRIPT}`);
    offered.length = 0;
    const { code, stdout, stderr } = await run(`${(deflate ? deflating : server).url}/python`);
    if (code === 3) {
      assert.ok(!CI, 'python3-websockets is missing (CI=true: required)');
      t.skip('python3-websockets is missing (apt-get install python3-websockets)');
      return;
    }
    const line = stdout.trim().split('\n').pop() ?? '';
    assert.equal(code, 0, `python client failed: ${line} ${stderr.trim()}`);
    const seen = JSON.parse(line) as { ok: boolean; extensions: string[]; close_code: number | null; version: string };
    assert.equal(seen.ok, true);
    assert.match(offered[0] ?? '', /permessage-deflate/, 'websockets offered permessage-deflate');
    if (deflate) assert.deepEqual(seen.extensions, ['permessage-deflate'], 'permessage-deflate accepted');
    else assert.deepEqual(seen.extensions, [], 'permessage-deflate must be declined');
    assert.equal(seen.close_code, 1000);
    t.diagnostic(`websockets ${seen.version}`);
  });
}
