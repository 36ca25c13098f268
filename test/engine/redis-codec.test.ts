import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DecodeError, decodeRelayEvent, decodeRelayMessage, encodeRelayBatch, encodeRelayEvent } from '../../src/engine/redis-codec.js';
import type { RelayEvent } from '../../src/engine/engine.js';

test('every relay event kind survives encode/decode', () => {
  const events: RelayEvent[] = [
    { kind: 'matched', to: 'a', partner: 'b', partnerNode: 'n', common: [], partnerPerson: 'pb', partnerAddress: 'xb' },
    { kind: 'matched', to: 'a', partner: 'b', partnerNode: 'n', common: ['x', 'ü'], partnerPerson: 'pb', partnerAddress: '' },
    { kind: 'msg', to: 'a', from: 'b', text: '', n: 0 },
    { kind: 'msg', to: 'a', from: 'b', text: 'line\n"q" \\ 😀 \u2028', n: 0 },
    { kind: 'typing', to: 'a', from: 'b', on: true },
    { kind: 'typing', to: 'a', from: 'b', on: false },
    { kind: 'ended', to: 'a', from: 'b', reason: 'disconnected' },
    { kind: 'asker_left', to: 'a', from: 'q' },
    { kind: 'matched', to: 'a', partner: 'b', partnerNode: 'n', common: [], partnerPerson: 'pb', partnerAddress: 'xb', lang: 'de' },
    { kind: 'matched', to: 'a', partner: 'b', partnerNode: 'n', common: ['x'], partnerPerson: 'pb', partnerAddress: 'xb', lang: '' },
    ...([0, 1, 2] as const).map((role): RelayEvent => ({
      kind: 'question',
      to: 'a',
      role,
      text: 'Is a "hot dog" a sandwich? 🌭',
      members: [
        { id: 'q', node: 'n1', person: 'pq', address: 'xq' },
        { id: 'a', node: 'n2', person: 'pa', address: '' },
        { id: 'b', node: 'n3', person: 'pb', address: 'xb' },
      ],
      lang: role === 2 ? '' : 'en',
    })),
  ];
  for (const e of events) assert.deepEqual(decodeRelayEvent(encodeRelayEvent(e)), e);
  // A question event of the wrong shape is refused, never half-read.
  assert.equal(decodeRelayEvent('[1,"question","a","q?",3,[]]'), DecodeError.badShape);
  assert.equal(decodeRelayEvent('[1,"question","a","q?",1,[["q","n","p","x"],["a","n","p","x"]]]'), DecodeError.badShape);
  assert.equal(decodeRelayEvent('[1,"question","a","q?",1,[["q","n","p","x"],["a","n","p",1],["b","n","p","x"]]]'), DecodeError.badShape);
  assert.equal(decodeRelayEvent('[1,"asker_left","a"]'), DecodeError.badShape);
  assert.equal(decodeRelayEvent('[1,"question","a","q?",1,[["q","n","p","x"],["a","n","p","x"],["b","n","p","x"]],7]'), DecodeError.badShape);
  assert.equal(decodeRelayEvent('[1,"matched","a","b","n",[],"p","x",null]'), DecodeError.badShape);
});

test('undecodable messages give a stable code, never an exception', () => {
  assert.equal(decodeRelayEvent('not json'), DecodeError.notJson);
  assert.equal(decodeRelayEvent('{}'), DecodeError.badShape);
  assert.equal(decodeRelayEvent('[2,"msg","a","b","t"]'), DecodeError.badVersion);
  assert.equal(decodeRelayEvent('[1,"shout","a","b","t"]'), DecodeError.badKind);
  assert.equal(decodeRelayEvent('[1,"msg","a","b"]'), DecodeError.badShape);
  assert.equal(decodeRelayEvent('[1,"typing","a","b","yes"]'), DecodeError.badShape);
  assert.equal(decodeRelayEvent('[1,"ended","a","b","bored"]'), DecodeError.badShape);
  assert.equal(decodeRelayEvent('[1,"matched","a","b","n",[1]]'), DecodeError.badShape);
  assert.equal(decodeRelayEvent('[1,"matched","a","b","n",[],"p"]'), DecodeError.badShape);
  assert.equal(decodeRelayEvent('[1,"matched","a","b","n",[],"p",7]'), DecodeError.badShape);
  assert.equal(decodeRelayEvent('[1,"report","a","b","r"]'), DecodeError.badKind, 'reports no longer travel between nodes');
  // A `matched` from a node before persons existed: the partner's id stands for its person.
  assert.deepEqual(decodeRelayEvent('[1,"matched","a","b","n",[]]'), { kind: 'matched', to: 'a', partner: 'b', partnerNode: 'n', common: [], partnerPerson: 'b', partnerAddress: '' });
  // Random garbage, including truncations of valid messages.
  const valid = encodeRelayEvent({ kind: 'matched', to: 'a', partner: 'b', partnerNode: 'n', common: ['x'], partnerPerson: 'p', partnerAddress: 'x' });
  for (let i = 0; i < valid.length; i++) assert.equal(typeof decodeRelayEvent(valid.slice(0, i)), 'string');
  for (let i = 0; i < 2000; i++) {
    const s = Array.from({ length: i % 40 }, () => String.fromCharCode(32 + Math.floor(Math.random() * 95))).join('');
    const r = decodeRelayEvent(s);
    assert.ok(typeof r === 'string' || typeof r === 'object');
  }
});

test('a batch carries several events for one node, in order, and a bad one does not sink the rest', () => {
  const events = [
    { kind: 'msg', to: 'u1', from: 'u2', text: 'one', n: 0 },
    { kind: 'typing', to: 'u1', from: 'u2', on: true },
    { kind: 'ended', to: 'u3', from: 'u4', reason: 'skipped' },
  ] as const;
  const batch = encodeRelayBatch(events.map((e) => encodeRelayEvent(e)));
  assert.deepEqual(decodeRelayMessage(batch), { events, errors: [] });
  // A single event still decodes as itself.
  assert.deepEqual(decodeRelayMessage(encodeRelayEvent(events[0])), { events: [events[0]], errors: [] });
  const mixed = encodeRelayBatch([encodeRelayEvent(events[0]), '[1,"msg","u1"]', encodeRelayEvent(events[2])]);
  assert.deepEqual(decodeRelayMessage(mixed), { events: [events[0], events[2]], errors: ['bad_shape'] });
  assert.deepEqual(decodeRelayMessage('[1,"batch",{}]'), { events: [], errors: ['bad_shape'] });
  assert.deepEqual(decodeRelayMessage('nope'), { events: [], errors: ['not_json'] });
});
