// A load on the matching queue alone, without WebSocket nodes: engines of the Redis engine
// (dist/src/engine/redis.js) calling `pairOrEnqueue` as fast as their loops can, as the chat
// does for every `find`. Used by bench/redis-cost.mjs to find where the queue's Redis saturates.
//
//   node bench/lib/queue-driver.mjs '<json config>'
// config: { target: "redis://..." | { cluster: [...] }, prefixes: ["{strangers}"...], engines,
//           loops, startAt (epoch ms), seconds, interests: 0|k, tags }
// The loops run from startAt for `seconds` (the parent reads Redis's counters at both ends).
// Prints one JSON line: { calls, matches, errors, seconds }.
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const cfg = JSON.parse(process.argv[2]);
const { createRedisEngine } = await import(fileURLToPath(new URL('../../dist/src/engine/redis.js', import.meta.url)));
const listener = { onRelay() {}, onNodeDown() {} };
const engines = [];
for (let i = 0; i < cfg.engines; i++) {
  const keyPrefix = cfg.prefixes[i % cfg.prefixes.length];
  const e = createRedisEngine(cfg.target, { keyPrefix, startTimeoutMs: 15_000 });
  await e.start(listener);
  engines.push(e);
}
let rnd = 1;
const random = () => ((rnd = (rnd * 1103515245 + 12345) % 2147483648) / 2147483648);
const pick = (k) => {
  const out = new Set();
  while (out.size < k) out.add(`t${Math.floor(random() * cfg.tags)}`);
  return [...out];
};
let calls = 0;
let matches = 0;
let errors = 0;
let running = true;
const loop = async (e) => {
  while (running) {
    const now = Date.now();
    const interests = cfg.interests > 0 ? pick(cfg.interests) : [];
    const id = randomUUID();
    const w = { userId: id, person: id, address: '', nodeId: e.nodeId, interests, since: now, anyoneAfter: now, avoid: [] };
    try {
      const m = await e.queue.pairOrEnqueue(w, now);
      calls++;
      if (m !== null) matches++;
    } catch {
      errors++;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
};
await new Promise((r) => setTimeout(r, Math.max(0, cfg.startAt - Date.now())));
const started = process.hrtime.bigint();
const loops = engines.flatMap((e) => Array.from({ length: cfg.loops }, () => loop(e)));
await new Promise((r) => setTimeout(r, cfg.seconds * 1000));
running = false;
await Promise.all(loops);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
await Promise.all(engines.map((e) => e.close()));
process.stdout.write(`${JSON.stringify({ calls, matches, errors, seconds })}\n`);
