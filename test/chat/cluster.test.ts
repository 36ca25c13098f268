/**
 * Two nodes in one process sharing a MemoryHub: users on different nodes are paired and talk
 * through engine.relay (not local-first), and a node leaving ends its users' conversations.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { MemoryEngine, MemoryHub } from '../../src/engine/memory.js';
import { Client, startServer } from '../integration/helpers.js';

test('cross-node pairing, relay in order, skip, report, node down', { timeout: 20_000 }, async () => {
  const hub = new MemoryHub();
  const n1 = await startServer({ engine: new MemoryEngine({ hub, nodeId: 'n1' }), chat: { rateLimit: 0 } });
  const n2 = await startServer({ engine: new MemoryEngine({ hub, nodeId: 'n2' }), chat: { rateLimit: 0 } });
  try {
    const a = (await Client.welcomed(n1.url)).c;
    const b = (await Client.welcomed(n2.url)).c;
    a.send({ type: 'find', interests: ['x'] });
    await a.expect('searching');
    b.send({ type: 'find', interests: ['X '] });
    await b.expect('searching');
    assert.deepEqual(await b.next(), { type: 'matched', common: ['x'] });
    assert.deepEqual(await a.next(), { type: 'matched', common: ['x'] });
    for (let i = 0; i < 50; i++) a.send({ type: 'msg', text: `m${i}` });
    b.send({ type: 'typing', on: true });
    for (let i = 0; i < 50; i++) assert.equal((await b.next()).text, `m${i}`);
    assert.deepEqual(await a.next(), { type: 'typing', on: true });
    b.send({ type: 'report' });
    assert.deepEqual(await b.next(), { type: 'reported' });
    b.send({ type: 'next' });
    assert.deepEqual(await b.next(), { type: 'searching' });
    assert.deepEqual(await a.next(), { type: 'ended', reason: 'skipped' });
    // no repeat across nodes either
    a.send({ type: 'find', interests: ['x'] });
    await a.expect('searching');
    assert.ok(await a.quiet(100));
    const c = (await Client.welcomed(n2.url)).c;
    c.send({ type: 'find', interests: ['x'] });
    await c.expect('searching');
    await c.expect('matched'); // b waited longest (b avoids only a)
    await b.expect('matched');
    const d = (await Client.welcomed(n2.url)).c;
    d.send({ type: 'find', interests: ['x'] });
    await d.expect('searching');
    await d.expect('matched');
    await a.expect('matched');
    // Node 2 goes away: a (on node 1, paired with d on node 2) is told.
    await n2.stop();
    assert.deepEqual(await a.next(), { type: 'ended', reason: 'disconnected' });
    a.close();
  } finally {
    await Promise.all([n1.stop(), n2.stop()]);
  }
});
