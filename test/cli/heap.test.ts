// src/cli/heap.ts: after limitYoungGeneration() the young generation keeps its initial size
// through a burst that would grow it (many objects surviving scavenges), in a fresh process; an
// operator's own --semi-space-growth-factor (on node's command line) turns it off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const heap = fileURLToPath(new URL('../../src/cli/heap.js', import.meta.url));
// Allocates 3 M objects keeping 1 in 10 alive (survivors: V8 grows new space), then reports.
const probe = `
const { limitYoungGeneration } = await import(${JSON.stringify(heap)});
const applied = limitYoungGeneration();
const keep = [];
for (let i = 0; i < 3e6; i++) { const o = { i, s: 'x' + i }; if (i % 10 === 0) keep.push(o); }
const v8 = await import('node:v8');
const ns = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
console.log(JSON.stringify({ applied, newSpace: ns.space_size, kept: keep.length }));
`;

function run(...nodeFlags: string[]): { applied: boolean; newSpace: number } {
  const r = spawnSync(process.execPath, [...nodeFlags, '--input-type=module', '-e', probe], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { applied: boolean; newSpace: number };
}

test('the young generation stays at its initial size through a burst of survivors', () => {
  const r = run();
  assert.equal(r.applied, true);
  assert.ok(r.newSpace <= 4 * 1024 * 1024, `new space grew to ${r.newSpace} bytes`);
});

test("an operator's --semi-space-growth-factor is left alone (and V8 then grows it)", () => {
  const r = run('--semi-space-growth-factor=2');
  assert.equal(r.applied, false);
  assert.ok(r.newSpace > 4 * 1024 * 1024, `new space stayed at ${r.newSpace} bytes`);
});
