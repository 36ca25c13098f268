// The load generator's source ports (src/bench/ports.ts): a walk per address from a random start
// that skips the kernel's ephemeral range, wraps, and jumps elsewhere when a port was taken.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SourcePorts, ephemeralRange, portTaken, type PortRange } from '../../src/bench/ports.js';

const RANGE: PortRange = { first: 1024, last: 65535, skip: [32768, 60999] };
const SPAN = 32768 - 1024 + (65535 - 60999);

test('ports walk up per address from a random start, skip the ephemeral range, wrap', () => {
  const rolls = [0, (32767 - 1024) / SPAN + 1e-9, 1 - 1e-12, 0.5];
  const ports = new SourcePorts(() => rolls.shift() ?? 0, RANGE);
  assert.equal(ports.size, SPAN);
  assert.equal(ports.next('127.0.0.2'), 1024);
  assert.equal(ports.next('127.0.0.2'), 1025);
  // Another address: its own walk, across the skipped range.
  assert.equal(ports.next('127.0.0.3'), 32767);
  assert.equal(ports.next('127.0.0.3'), 61000);
  // Taken: jump (to the last port), then wrap to the first.
  ports.taken('127.0.0.2');
  assert.equal(ports.next('127.0.0.2'), 65535);
  assert.equal(ports.next('127.0.0.2'), 1024);
});

test('a walk hands out every port outside the ephemeral range once before any twice', () => {
  const ports = new SourcePorts(() => 0.9, RANGE);
  const seen = new Set<number>();
  for (let i = 0; i < SPAN; i++) seen.add(ports.next('127.0.0.2'));
  assert.equal(seen.size, SPAN);
  for (const p of seen) assert.ok(p >= 1024 && p <= 65535 && (p < 32768 || p > 60999), `port ${p}`);
});

test('the ephemeral range is read from the kernel (Linux default when unreadable)', () => {
  assert.deepEqual(ephemeralRange('32768\t60999\n'), [32768, 60999]);
  assert.deepEqual(ephemeralRange('1024 65535'), [1024, 65535]);
  assert.deepEqual(ephemeralRange(undefined), [32768, 60999]);
  assert.throws(() => new SourcePorts(Math.random, { first: 1024, last: 65535, skip: [1024, 65535] }), /no source port/);
});

test('portTaken: EADDRINUSE and EADDRNOTAVAIL, nothing else', () => {
  assert.equal(portTaken(new Error('connection failed: connect EADDRNOTAVAIL 127.0.0.1:9 - Local (127.0.0.2:40000)')), true);
  assert.equal(portTaken(new Error('connection failed: bind EADDRINUSE 127.0.0.2:6379')), true);
  assert.equal(portTaken(new Error('connection failed: connect ECONNREFUSED 127.0.0.1:9')), false);
  assert.equal(portTaken('EADDRINUSE'), false);
});
