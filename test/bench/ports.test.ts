// The load generator's source ports (src/bench/ports.ts): a walk per address from a random start,
// wrapping at the end of the range, jumping elsewhere when a port was taken.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SourcePortRange, SourcePorts, portTaken } from '../../src/bench/ports.js';

test('ports walk up per address from a random start and wrap at the end of the range', () => {
  const rolls = [0.5, 1 - 1e-12, 0.25];
  const ports = new SourcePorts(() => rolls.shift() ?? 0);
  const span = SourcePortRange.last - SourcePortRange.first + 1;
  const a0 = ports.next('127.0.0.2');
  assert.equal(a0, SourcePortRange.first + Math.floor(0.5 * span));
  assert.equal(ports.next('127.0.0.2'), a0 + 1);
  // Another address: its own walk.
  assert.equal(ports.next('127.0.0.3'), SourcePortRange.last);
  assert.equal(ports.next('127.0.0.3'), SourcePortRange.first);
  // Taken: jump.
  ports.taken('127.0.0.2');
  assert.equal(ports.next('127.0.0.2'), SourcePortRange.first + Math.floor(0.25 * span));
});

test('a walk hands out every port of the range once before any twice', () => {
  const ports = new SourcePorts(() => 0.9);
  const seen = new Set<number>();
  const span = SourcePortRange.last - SourcePortRange.first + 1;
  for (let i = 0; i < span; i++) seen.add(ports.next('127.0.0.2'));
  assert.equal(seen.size, span);
  for (const p of seen) assert.ok(p >= SourcePortRange.first && p <= SourcePortRange.last);
});

test('portTaken: EADDRINUSE and EADDRNOTAVAIL, nothing else', () => {
  assert.equal(portTaken(new Error('connection failed: connect EADDRNOTAVAIL 127.0.0.1:9 - Local (127.0.0.2:40000)')), true);
  assert.equal(portTaken(new Error('connection failed: bind EADDRINUSE 127.0.0.2:6379')), true);
  assert.equal(portTaken(new Error('connection failed: connect ECONNREFUSED 127.0.0.1:9')), false);
  assert.equal(portTaken('EADDRINUSE'), false);
});
