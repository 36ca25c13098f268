/** The matching metrics on a real server: match wait by shared interests, conversations, skips, abandoned searches. */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { Client, startServer, stopServersAfterEachTest } from '../integration/helpers.js';
import { parseExposition, total, type Sample } from '../support/prometheus.js';

stopServersAfterEachTest();

async function scrape(base: string): Promise<Sample[]> {
  const res = await fetch(`${base}/metrics`);
  assert.equal(res.status, 200);
  return parseExposition(await res.text());
}

/** Two welcomed clients searching with `interests`, matched; returns them after `matched`. */
async function matched(base: string, interests: string[]): Promise<[Client, Client, string[]]> {
  const a = (await Client.welcomed(base)).c;
  const b = (await Client.welcomed(base)).c;
  a.send({ type: 'find', interests });
  await a.expect('searching');
  b.send({ type: 'find', interests });
  await b.expect('searching');
  const m = await a.expect('matched');
  await b.expect('matched');
  return [a, b, m.common as string[]];
}

/** Every bucket series is cumulative and its +Inf bucket equals its count. */
function checkHistogram(samples: readonly Sample[], name: string, labels: Record<string, string>): void {
  const buckets = samples.filter((s) => s.name === `${name}_bucket` && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(buckets.length > 2, `${name} has buckets`);
  for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i]!.value >= buckets[i - 1]!.value, `${name} buckets are cumulative`);
  assert.equal(buckets.at(-1)!.labels.le, '+Inf');
  assert.equal(buckets.at(-1)!.value, total(samples, `${name}_count`, labels));
}

test('match wait with and without shared interests, conversation length, skips, abandoned searches, queue length', async () => {
  const s = await startServer();
  const base = s.url;
  const [a, b, common] = await matched(base, ['cats']);
  assert.deepEqual(common, ['cats']);
  const [c, d, none] = await matched(base, []);
  assert.deepEqual(none, []);
  let m = await scrape(base);
  assert.equal(total(m, 'strangers_match_wait_seconds_count', { shared_interests: 'yes' }), 2);
  assert.equal(total(m, 'strangers_match_wait_seconds_count', { shared_interests: 'no' }), 2);
  assert.equal(total(m, 'strangers_conversation_seconds_count'), 0);
  checkHistogram(m, 'strangers_match_wait_seconds', { shared_interests: 'yes' });
  // Matched at once: every wait is in the first seconds, far below the 300 s bucket.
  assert.equal(total(m, 'strangers_match_wait_seconds_bucket', { shared_interests: 'no', le: '5' }), 2);

  // A skips B: one skip, one conversation over (both sides count), A searches again: the queue.
  a.send({ type: 'next' });
  await a.expect('searching');
  assert.equal((await b.expect('ended')).reason, 'skipped');
  m = await scrape(base);
  assert.equal(total(m, 'strangers_skips_total'), 1);
  assert.equal(total(m, 'strangers_conversation_seconds_count'), 2);
  assert.equal(total(m, 'strangers_cluster_users', { state: 'searching' }), 1);
  assert.equal(total(m, 'strangers_users', { state: 'searching' }), 1);
  checkHistogram(m, 'strangers_conversation_seconds', {});

  // A gives up (leave while searching); E searches and disconnects: two abandoned searches.
  a.send({ type: 'leave' });
  const e = (await Client.welcomed(base)).c;
  e.send({ type: 'find' });
  await e.expect('searching');
  e.close();
  await e.closed();
  // B leaves while idle (nothing), C leaves its conversation (not a search).
  c.send({ type: 'leave' });
  await d.expect('ended');
  const deadline = Date.now() + 5000;
  for (;;) {
    m = await scrape(base);
    if (total(m, 'strangers_searches_abandoned_total') === 2 || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(total(m, 'strangers_searches_abandoned_total'), 2);
  assert.equal(total(m, 'strangers_skips_total'), 1);
  assert.equal(total(m, 'strangers_conversation_seconds_count'), 4);
  assert.equal(total(m, 'strangers_cluster_users', { state: 'searching' }), 0);
  assert.equal(total(m, 'strangers_match_wait_seconds_count'), 4);
  // Process group figures of a single process, readiness, and the limits memory is measured against.
  assert.equal(total(m, 'strangers_workers'), 1);
  assert.equal(total(m, 'strangers_workers_scraped'), 1);
  assert.equal(total(m, 'strangers_ready'), 1);
  assert.ok(total(m, 'strangers_heap_limit_bytes') > 0);
  assert.ok(total(m, 'strangers_memory_limit_bytes') >= total(m, 'strangers_process_resident_memory_bytes'));
  assert.ok(!m.some((x) => 'worker' in x.labels), 'no worker label without --workers');
  // Searching users per language: a bounded label (languages are 2-3 letter subtags).
  assert.equal(m.filter((x) => x.name === 'strangers_searching_language').length, 0, 'nobody searching');
  b.send({ type: 'find', lang: 'fr' });
  await b.expect('searching');
  m = await scrape(base);
  assert.equal(total(m, 'strangers_searching_language', { lang: 'fr' }), 1);
  b.send({ type: 'leave' });
  for (const x of [a, b, c, d]) x.close();
});
