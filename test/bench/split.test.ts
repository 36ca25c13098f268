import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isLoopback, loopbackAddress, planWorkers } from '../../src/bench/split.js';

describe('worker and address split', () => {
  test('a small run is one worker on one extra loopback address', () => {
    const plans = planWorkers({ connections: 100, host: '127.0.0.1' });
    assert.equal(plans.length, 1);
    assert.equal(plans[0].connections, 100);
    assert.deepEqual(plans[0].localAddresses, ['127.0.0.2']);
  });

  test('past 15000 connections per process the run is spread over workers with their own addresses', () => {
    const plans = planWorkers({ connections: 38000, host: 'localhost' });
    assert.equal(plans.length, 3);
    assert.equal(plans.reduce((a, p) => a + p.connections, 0), 38000);
    for (const p of plans) assert.ok(p.connections <= 15000 && p.connections % 2 === 0);
    const addrs = plans.flatMap((p) => p.localAddresses);
    assert.equal(new Set(addrs).size, addrs.length, 'no address shared between workers');
    assert.deepEqual(addrs, ['127.0.0.2', '127.0.0.3', '127.0.0.4']);
  });

  test('a worker with more connections than one address has ports gets several addresses', () => {
    const plans = planWorkers({ connections: 60000, host: '127.0.0.1', maxPerWorker: 60000, maxPerAddress: 25000 });
    assert.equal(plans.length, 1);
    assert.deepEqual(plans[0].localAddresses, ['127.0.0.2', '127.0.0.3', '127.0.0.4']);
  });

  test('shares are even (pairs stay whole) and the odd connection goes to the last worker', () => {
    const plans = planWorkers({ connections: 11, host: '10.0.0.1', workers: 3 });
    assert.deepEqual(plans.map((p) => p.connections), [4, 4, 3]);
    for (const p of plans) assert.deepEqual(p.localAddresses, [], 'no source address off loopback');
  });

  test('the ramp is shared in proportion to the connections', () => {
    const plans = planWorkers({ connections: 30000, host: '127.0.0.1', ramp: 3000 });
    assert.deepEqual(plans.map((p) => p.ramp), [1500, 1500]);
    assert.deepEqual(planWorkers({ connections: 10, host: '127.0.0.1' }).map((p) => p.ramp), [0]);
  });

  test('--workers is a minimum, never below what the file limit needs', () => {
    assert.equal(planWorkers({ connections: 40000, host: '127.0.0.1', workers: 1 }).length, 3);
    assert.equal(planWorkers({ connections: 40, host: '127.0.0.1', workers: 4 }).length, 4);
  });

  test('loopback detection and address sequence', () => {
    assert.ok(isLoopback('127.0.0.1') && isLoopback('127.1.2.3') && isLoopback('localhost') && isLoopback('[::1]'));
    assert.ok(!isLoopback('10.0.0.1') && !isLoopback('example.com') && !isLoopback('128.0.0.1'));
    assert.equal(loopbackAddress(0), '127.0.0.2');
    assert.equal(loopbackAddress(253), '127.0.0.255');
    assert.equal(loopbackAddress(254), '127.0.1.0');
  });
});
