/**
 * The example echo server as a process (`node examples/echo.mjs`, what conformance tools are
 * pointed at): one line when it listens, echoes on any path, exits 0 on SIGTERM, exits 2 with one
 * line on a bad flag. `WS_PACKAGE_DIR` points it at an installed copy of the package.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { Op, RawClient, withTimeout } from './raw-client.js';

import { join } from 'node:path';

const ECHO = join(process.env.WS_PACKAGE_DIR ?? fileURLToPath(new URL('../../..', import.meta.url)), 'examples', 'echo.mjs');

function start(args: string[]): { child: ChildProcess; out: () => string; err: () => string } {
  const child = spawn(process.execPath, [ECHO, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return { child, out: () => out, err: () => err };
}

test('examples/echo.mjs: prints one line when listening, echoes on any path, exits 0 on SIGTERM', { timeout: 20_000 }, async () => {
  const { child, out } = start(['--port', '0']);
  try {
    await withTimeout(new Promise<void>((resolve) => child.stdout?.on('data', () => out().includes('\n') && resolve())), 10_000, 'listening line');
    const m = /^echo server listening on ws:\/\/127\.0\.0\.1:(\d+)\n$/.exec(out());
    assert.ok(m, `unexpected output ${JSON.stringify(out())}`);
    const c = await RawClient.open(Number(m[1]), { path: '/some/path?q=1' });
    try {
      c.send(Op.binary, Buffer.from([1, 2, 3]));
      await c.expectMessage(Op.binary, Buffer.from([1, 2, 3]));
      c.send(Op.text, 'ok');
      await c.expectMessage(Op.text, 'ok');
      await c.closeCleanly();
    } finally {
      c.destroy();
    }
    child.kill('SIGTERM');
    const [code] = await withTimeout(once(child, 'exit'), 10_000, 'exit after SIGTERM');
    assert.equal(code, 0);
  } finally {
    child.kill('SIGKILL');
  }
});

for (const args of [['--bogus'], ['--port', 'x'], ['--port', '70000'], ['positional'], ['--max-message-size', '0']]) {
  test(`examples/echo.mjs: ${args.join(' ')} exits 2 with one line on stderr`, { timeout: 10_000 }, async () => {
    const { child, out, err } = start(args);
    const [code] = await withTimeout(once(child, 'exit'), 8000, 'exit');
    assert.equal(code, 2);
    assert.equal(out(), '');
    assert.match(err(), /^echo: [^\n]+\n$/);
  });
}

for (const deflate of [true, false]) {
  test(`examples/echo.mjs${deflate ? ' --deflate accepts' : ' declines'} permessage-deflate offered by a client`, { timeout: 20_000 }, async () => {
    const { child, out } = start(['--port', '0', ...(deflate ? ['--deflate'] : [])]);
    try {
      await withTimeout(new Promise<void>((resolve) => child.stdout?.on('data', () => out().includes('\n') && resolve())), 10_000, 'listening line');
      const port = Number(/:(\d+)\n$/.exec(out())?.[1]);
      const c = await RawClient.open(port, {
        deflate: 'permessage-deflate; client_max_window_bits',
        expectExtensions: deflate ? 'permessage-deflate; server_no_context_takeover; client_no_context_takeover' : undefined,
      });
      try {
        const text = 'compress me '.repeat(1000);
        if (deflate) await c.sendCompressed(Op.text, text);
        else c.send(Op.text, text);
        await c.expectMessage(Op.text, text, undefined, deflate);
        await c.closeCleanly();
      } finally {
        c.destroy();
      }
      child.kill('SIGTERM');
      await withTimeout(once(child, 'exit'), 10_000, 'exit after SIGTERM');
    } finally {
      child.kill('SIGKILL');
    }
  });
}
