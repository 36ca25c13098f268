#!/usr/bin/env node
// The capacity model of docs/capacity.md: the bill of materials for N concurrent users, computed
// from measured unit costs (the node's from docs/benchmarks.md, Redis's from
// bench/results/redis-cost.json, written by `npm run bench:redis-cost`) and a stated user profile.
// No load runs here: it is arithmetic on measured figures, reproducible from the JSON.
//
//   node bench/capacity-model.mjs [--costs bench/results/redis-cost.json] [--users 100000,1000000,10000000]
//                                 [--chatting 0.7] [--line-every 10] [--conversation 180] [--ping 30]
//                                 [--headroom 0.5] [--node-cores 4] [--node-gib 8] [--json]
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const opt = (name, def) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : def);
const costs = JSON.parse(readFileSync(opt('costs', 'bench/results/redis-cost.json'), 'utf8'));

// ---- the node: measured in docs/benchmarks.md (cited there by run and table) ----
const NODE = {
  /** RSS per idle user, 10,000 users, no node flags ("Re-measured ... second session": 5.05 KiB). */
  rssPerUserKiB: 5.05,
  /** Lines delivered per server CPU-second, pairs on one node (issue 6: 45,808 at 1,000 pairs x 10 msg/s). */
  linesPerCoreLocal: 45_808,
  /** Lines per server CPU-second when every pair spans two nodes (issue 6: 23,554; both nodes' CPU). */
  linesPerCoreCross: 23_554,
  /** Matches per server CPU-second, churn (second session: 8,118, the skip rule's worst case). */
  matchesPerCore: 8_118,
  /** Connections one process may hold here (20,000 files per process: 39,956 with 2 workers). */
  measuredUsersPerProcess: 19_978,
};

// ---- the user profile (assumptions, stated in docs/capacity.md) ----
const P = {
  chatting: Number(opt('chatting', '0.7')), // share of users in a conversation
  lineEverySec: Number(opt('line-every', '10')), // a chatting user sends a line this often
  conversationSec: Number(opt('conversation', '180')), // a conversation lasts this long on average
  pingSec: Number(opt('ping', '30')), // --heartbeat: one ping and one pong per user per interval
  headroom: Number(opt('headroom', '0.5')), // keep every CPU (node core, Redis shard) at most this busy
  nodeCores: Number(opt('node-cores', '4')),
  nodeGiB: Number(opt('node-gib', '8')),
  lineBytes: 160, // a line's JSON as sent to the partner ({"type":"msg","text":"...","seq":n}, ~60 characters of text)
};

// ---- Redis: measured by bench/redis-cost.mjs ----
const per = costs.per;
const queue = costs.queue?.find((q) => q.name.includes('3 interests')) ?? costs.queue?.[0];
const R = {
  /** Redis CPU per match, the whole flow (2 ban checks, 2 pairing scripts, a skip, remove, relay of matched/lines/ended). */
  usPerMatch: per.match.redisCpuUs,
  /** Of which the queue's pairing scripts alone: from the queue run (interests), Redis CPU per match. */
  queueUsPerMatch: queue.redisCpuUsPerMatch,
  /** Redis CPU per PUBLISH of a 200-byte line at saturation (redis-benchmark). */
  usPerPublish: costs.relay?.redisCpuUsPerPublish ?? per.crossNodeMessage.redisCpuUs,
  /** Heartbeat: Redis CPU per run with 10 and with 1,000 nodes (it reads every node's entries). */
  heartbeat: costs.heartbeat,
};

const users = opt('users', '100000,1000000,10000000').split(',').map(Number);
const rows = users.map((U) => {
  const matchesPerSec = (U * P.chatting) / 2 / P.conversationSec;
  const linesPerSec = (U * P.chatting) / P.lineEverySec;
  const pingsPerSec = U / P.pingSec;
  // Node CPU (core-seconds per second): lines across nodes (nearly all of them with many nodes),
  // matches, and pings counted like a line on one node (a frame out, a frame in).
  const nodeCpu = linesPerSec / NODE.linesPerCoreCross + matchesPerSec / NODE.matchesPerCore + pingsPerSec / NODE.linesPerCoreLocal;
  const byCpu = nodeCpu / (P.nodeCores * P.headroom);
  const byMemory = (U * NODE.rssPerUserKiB) / (P.nodeGiB * 0.7 * 1024 * 1024); // 70 % of the node's memory for the process group
  const nodes = Math.max(2, Math.ceil(Math.max(byCpu, byMemory) * 1.25)); // +25 %: one node down, deploys
  // Redis CPU (Redis core-seconds per second), by family.
  const queueCpu = (matchesPerSec * R.queueUsPerMatch) / 1e6;
  const matchFlowCpu = (matchesPerSec * R.usPerMatch) / 1e6; // includes the queue, moderation, relay of the match's events
  const moderationAndMatchRelayCpu = Math.max(0, matchFlowCpu - queueCpu);
  const relayCpu = (linesPerSec * R.usPerPublish) / 1e6;
  // Every worker heartbeats once a second and reads every worker's entries: O(workers^2). Each
  // heartbeat also costs a round trip (taken at the PUBLISH's cost) and a relay probe on a cluster.
  const workers = nodes * P.nodeCores;
  // Measured with 10 and 1,000 nodes: linear in between and beyond (without them: the two nodes' cost, flat).
  const [h10, h1000] = R.heartbeat ?? [];
  const perHeartbeat = h10 && h1000 ? h10.redisCpuUsPerHeartbeat + ((h1000.redisCpuUsPerHeartbeat - h10.redisCpuUsPerHeartbeat) * (workers - h10.nodes)) / (h1000.nodes - h10.nodes) : per.node.redisCpuUsPerSecond;
  const heartbeatCpu = (workers * (perHeartbeat + R.usPerPublish)) / 1e6; // + the relay probe (a SPUBLISH) on a cluster
  const queueShards = Math.max(1, Math.ceil(queueCpu / P.headroom));
  const relayShards = Math.max(1, Math.ceil(relayCpu / P.headroom));
  const redisMasters = Math.max(3, queueShards + relayShards + Math.ceil((moderationAndMatchRelayCpu + heartbeatCpu) / P.headroom));
  // Network: a line crosses client->node, node->Redis, Redis->node, node->client; a ping and a pong.
  const lineWire = P.lineBytes + 60; // + WebSocket, TCP/IP headers (no TLS overhead counted)
  const bytesPerSec = linesPerSec * 4 * lineWire + pingsPerSec * 2 * 66;
  return { users: U, matchesPerSec, linesPerSec, pingsPerSec, nodeCpu, nodes, byCpu, byMemory, queueCpu, moderationAndMatchRelayCpu, relayCpu, heartbeatCpu, queueShards, relayShards, redisMasters, gbitPerSec: (bytesPerSec * 8) / 1e9 };
});

if (args.includes('--json')) {
  console.log(JSON.stringify({ node: NODE, profile: P, redis: R, rows }, null, 2));
} else {
  const f = (n, d = 1) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(d));
  const out = [
    `Profile: ${P.chatting * 100} % chatting (a line every ${P.lineEverySec} s), conversations of ${P.conversationSec} s, a ping every ${P.pingSec} s; nodes of ${P.nodeCores} cores / ${P.nodeGiB} GiB; every CPU at most ${P.headroom * 100} % busy.`,
    `Redis unit costs (${costs.startedAt}): ${f(R.usPerMatch)} µs per match (whole flow), ${f(R.queueUsPerMatch)} µs of it in the queue, ${f(R.usPerPublish)} µs per relayed line, ${R.heartbeat ? `${f(R.heartbeat[0].redisCpuUsPerHeartbeat)} / ${f(R.heartbeat[1].redisCpuUsPerHeartbeat)} µs per heartbeat with ${R.heartbeat[0].nodes} / ${R.heartbeat[1].nodes} nodes` : 'heartbeat not measured'}.`,
    '',
    '| concurrent users | matches/s | lines/s | node cores busy | nodes | queue (Redis cores) | moderation + match events | relay | heartbeats | Redis masters (queue + relay + rest) | network |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${f(r.users)} | ${f(r.matchesPerSec)} | ${f(r.linesPerSec)} | ${f(r.nodeCpu)} | ${r.nodes} | ${f(r.queueCpu, 2)} (${r.queueShards} queue${r.queueShards > 1 ? 's' : ''}) | ${f(r.moderationAndMatchRelayCpu, 2)} | ${f(r.relayCpu, 2)} (${r.relayShards}) | ${f(r.heartbeatCpu, 3)} | ${r.redisMasters} | ${f(r.gbitPerSec, 2)} Gbit/s |`),
  ];
  console.log(out.join('\n'));
}
