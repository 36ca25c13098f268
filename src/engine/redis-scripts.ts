/**
 * The Redis engine's keys and Lua scripts. On one Redis every key starts with the same hash tag
 * (by default `{strangers}`); on a Redis Cluster the queue's keys share the tag `{N:q}` (see
 * {@link redisKeys}), so every script's keys live in one slot.
 *
 * Keys (P = the queue's prefix, `{strangers}` on one Redis, `{strangers:q}` on a cluster):
 * - `P:w`          hash   userId -> waiter JSON (`{u,p,x,n,i,s,a,v,l,q,k}`, as `encodeWaiter` writes it;
 *                        `v` lists persons `p`; `l` language, `q` willing, `k` question: only when set)
 * Per language class, under Q = `P` (no language) or `P:l:<lang>`:
 * - `Q:open`       zset   userId scored by `since`: waiters who accept anyone now
 * - `Q:pend`       zset   userId scored by `anyoneAfter`: waiters with interests, not yet open
 * - `Q:i:<tag>`    zset   userId scored by `since`: waiters with this interest
 * - `Q:will`       zset   userId scored by `since`: willing waiters (`find.questions`), also in the above
 * - `Q:ask`        zset   userId scored by `since`: askers (only here: never paired with one user)
 * Cluster-wide:
 * - `P:n:<nodeId>` set    userIds waiting from this node (to drop them when the node dies)
 * - `P:nodes`      hash   nodeId -> liveness deadline (Redis clock, ms)
 * - `P:presence`   hash   nodeId -> "online,searching,chatting"
 * Channels (not keys): `P:relay:<nodeId>`, one per node.
 *
 * A waiter is in `open` or in `pend`, never both; `pend` entries move to `open` when their
 * `anyoneAfter` comes (lazily, at the start of every pairing). Liveness uses Redis's own clock
 * (TIME), so node clocks need not agree; `now`/`since`/`anyoneAfter` use the chat's clock.
 */
import { createHash } from 'node:crypto';
import type { Waiter } from './engine.js';

/**
 * Key names for one prefix.
 *
 * On one Redis (`cluster` false) every key and channel starts with the prefix, which must contain
 * a `{hash tag}`: `{strangers}:w`, `{strangers}:m:...`, `{strangers}:g:...`, `{strangers}:relay:<node>`
 * (unchanged since the first release, so nodes of different versions share one Redis).
 *
 * On a Redis Cluster the prefix's text without its braces is a namespace `N` (`strangers`), and
 * each family of keys gets the hash tag it needs, so that the cluster spreads what can be spread:
 * - the matching queue, liveness and presence (read together by the pairing script): `{N:q}`
 * - moderation: by whom it is about, `{N:m:<person>}` and `{N:a:<address>}`, with its indexes
 *   (the review queue, bans in force) in `{N:m}` (moderation-redis-cluster.ts)
 * - the session gate's marks and counters (one key per script): tagged by their own key,
 *   `N:g:c:{<key>}`, so they spread over every shard
 * - relay channels (sharded pub/sub, `SPUBLISH`/`SSUBSCRIBE`): `N:relay:{<nodeId>}`, one per
 *   node, each on the shard that owns its node id's slot
 */
export interface RedisKeys {
  /** The matching queue's prefix (`P` of its scripts): `{strangers}`, or `{N:q}` on a cluster. */
  readonly prefix: string;
  /** The moderation scripts' prefix on one Redis (the same as `prefix`); `{N:m}` (its indexes) on a cluster. */
  readonly moderation: string;
  /** True on a Redis Cluster (the layout above; relay by sharded pub/sub). */
  readonly cluster: boolean;
  /** The prefix without its braces (`strangers`): the cluster layout's `N`. */
  readonly namespace: string;
  readonly waiters: string;
  readonly open: string;
  readonly pend: string;
  readonly nodes: string;
  readonly presence: string;
  interest(tag: string): string;
  /** The queue prefix of a language class (`''`: none). */
  lang(lang: string): string;
  nodeWaiters(nodeId: string): string;
  relayChannel(nodeId: string): string;
  /** A session-gate key: `kind` is `c` (a one-time claim) or `h` (a counter). */
  gate(kind: 'c' | 'h', key: string): string;
}

export function redisKeys(prefix: string, cluster = false): RedisKeys {
  if (!/\{[^}]+\}/.test(prefix)) throw new TypeError(`Redis key prefix must contain a {hash tag}: ${prefix}`);
  const ns = prefix.replace(/[{}]/g, '');
  const q = cluster ? `{${ns}:q}` : prefix;
  return {
    prefix: q,
    moderation: cluster ? `{${ns}:m}` : prefix,
    cluster,
    namespace: ns,
    waiters: `${q}:w`,
    open: `${q}:open`,
    pend: `${q}:pend`,
    nodes: `${q}:nodes`,
    presence: `${q}:presence`,
    interest: (tag) => `${q}:i:${tag}`,
    lang: (lang) => (lang === '' ? q : `${q}:l:${lang}`),
    nodeWaiters: (nodeId) => `${q}:n:${nodeId}`,
    relayChannel: cluster ? (nodeId) => `${ns}:relay:{${nodeId}}` : (nodeId) => `${prefix}:relay:${nodeId}`,
    gate: cluster ? (kind, key) => `${ns}:g:${kind}:{${key}}` : (kind, key) => `${prefix}:g:${kind}:${key}`,
  };
}

/** The JSON a waiter is stored as (short field names: it is read by Lua on every scan). */
export function encodeWaiter(w: Waiter): string {
  const o: Record<string, unknown> = { u: w.userId, p: w.person, x: w.address, n: w.nodeId, i: w.interests, s: w.since, a: w.anyoneAfter, v: w.avoid };
  if (w.lang !== undefined && w.lang !== '') o.l = w.lang;
  if (w.questions === true) o.q = 1;
  if (w.question !== undefined) o.k = w.question;
  return JSON.stringify(o);
}

/** Reads back what `encodeWaiter` wrote; null if it is not a waiter. */
export function decodeWaiter(json: string): Waiter | null {
  try {
    const o = JSON.parse(json) as { u?: unknown; p?: unknown; x?: unknown; n?: unknown; i?: unknown; s?: unknown; a?: unknown; v?: unknown; l?: unknown; q?: unknown; k?: unknown };
    const strings = (x: unknown): x is string[] => Array.isArray(x) && x.every((t) => typeof t === 'string');
    if (typeof o.u !== 'string' || typeof o.n !== 'string' || typeof o.s !== 'number' || typeof o.a !== 'number') return null;
    // cjson is not involved here (Lua returns the stored string untouched), so [] stays [].
    if (!strings(o.i) || !strings(o.v)) return null;
    const w: { -readonly [K in keyof Waiter]: Waiter[K] } = { userId: o.u, person: typeof o.p === 'string' ? o.p : o.u, address: typeof o.x === 'string' ? o.x : '', nodeId: o.n, interests: o.i, since: o.s, anyoneAfter: o.a, avoid: o.v };
    if (typeof o.l === 'string' && o.l !== '') w.lang = o.l;
    if (o.q === 1) w.questions = true;
    if (typeof o.k === 'string') w.question = o.k;
    return w;
  } catch {
    return null;
  }
}

/** A Lua script with its SHA1, for EVALSHA with an EVAL fallback after a Redis restart. */
export interface LuaScript {
  readonly name: string;
  readonly lua: string;
  readonly sha: string;
}

export function script(name: string, lua: string): LuaScript {
  return { name, lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/** Shared Lua: Redis time in ms, a waiter's language queue prefix, and dropping one waiter from every structure. */
const prelude = `
local P = ARGV[1]
local W = P .. ':w'
local function redis_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function qp(w)
  if type(w.l) == 'string' and w.l ~= '' then return P .. ':l:' .. w.l end
  return P
end
local function drop(u, w)
  local Q = qp(w)
  redis.call('HDEL', W, u)
  if w.k then
    redis.call('ZREM', Q .. ':ask', u)
  else
    redis.call('ZREM', Q .. ':open', u)
    redis.call('ZREM', Q .. ':pend', u)
    if w.q then redis.call('ZREM', Q .. ':will', u) end
    for _, tag in ipairs(w.i) do redis.call('ZREM', Q .. ':i:' .. tag, u) end
  end
  redis.call('SREM', P .. ':n:' .. w.n, u)
end
`;

/**
 * Pair or enqueue, atomically.
 * KEYS: 1 waiters, 2 open, 3 pend (of the caller's language class), 4 nodes, 5 caller's node set,
 * 6.. caller's interest zsets (of its class, in the caller's order). ARGV: 1 prefix, 2 now,
 * 3 caller JSON, 4 scan limit per queue.
 * Returns false (enqueued), { partnerJSON, common tag... }, or for a question
 * { '?', askerJSON, discusser1JSON, discusser2JSON } (the caller's own JSON among them).
 *
 * Keys of the partner's interests are derived from the prefix inside the script: they share the
 * hash tag, hence the slot, with the declared keys.
 */
export const pairScript = script(
  'pair',
  `${prelude}
local OPEN, PEND, NODES, MYSET = KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now = tonumber(ARGV[2])
local meJson = ARGV[3]
local limit = tonumber(ARGV[4])
local me = cjson.decode(meJson)
local Q = qp(me)
local WILL, ASK = Q .. ':will', Q .. ':ask'
local rnow = redis_ms()

local liveness = {}
local function alive(node)
  local v = liveness[node]
  if v == nil then
    local d = redis.call('HGET', NODES, node)
    v = (d ~= false) and (tonumber(d) >= rnow)
    liveness[node] = v
  end
  return v
end

-- 1. waiters whose anyoneAfter has come now accept anyone
local due = redis.call('ZRANGEBYSCORE', PEND, '-inf', now, 'LIMIT', 0, 1000)
for _, u in ipairs(due) do
  redis.call('ZREM', PEND, u)
  local j = redis.call('HGET', W, u)
  if j then redis.call('ZADD', OPEN, cjson.decode(j).s, u) end
end

-- 2. a caller already waiting (a retry) is taken out first, then treated as new
local old = redis.call('HGET', W, me.u)
if old then drop(me.u, cjson.decode(old)) end

local avoid = {}
for _, u in ipairs(me.v) do avoid[u] = true end
local mine = me.p or me.u
local function compatible(w)
  if avoid[w.p or w.u] then return false end
  for _, u in ipairs(w.v) do if u == mine then return false end end
  return true
end
-- two waiters may meet: not the same user, neither avoids the other's person
local function allowed(a, b)
  if a.u == b.u then return false end
  local pa, pb = a.p or a.u, b.p or b.u
  for _, x in ipairs(a.v) do if x == pb then return false end end
  for _, x in ipairs(b.v) do if x == pa then return false end end
  return true
end
-- waiter u met in zset key: its JSON and table, or nil after dropping a stale or dead entry
local function waiter(key, u)
  local j = redis.call('HGET', W, u)
  if not j then
    redis.call('ZREM', key, u)
    return nil
  end
  local w = cjson.decode(j)
  if not alive(w.n) then
    drop(u, w)
    return nil
  end
  return j, w
end
-- the live waiters of a zset in order (at most the scan limit), dropping stale and dead entries
local function live(key)
  local out = {}
  local items = redis.call('ZRANGE', key, 0, limit - 1)
  for _, u in ipairs(items) do
    if u ~= me.u then
      local j, w = waiter(key, u)
      if j then out[#out + 1] = { j, w } end
    end
  end
  return out
end

-- Questions. An asker takes the two longest-waiting willing users that may meet it and each other.
if me.k then
  local first = nil
  for _, c in ipairs(live(WILL)) do
    if allowed(me, c[2]) then
      if not first then
        first = c
      elseif allowed(first[2], c[2]) then
        drop(first[2].u, first[2])
        drop(c[2].u, c[2])
        return { '?', meJson, first[1], c[1] }
      end
    end
  end
  redis.call('HSET', W, me.u, meJson)
  redis.call('SADD', MYSET, me.u)
  redis.call('ZADD', ASK, me.s, me.u)
  return false
end
-- A willing caller serves the longest-waiting question it can, with another willing waiter.
if me.q and redis.call('EXISTS', ASK) == 1 then
  local willing = nil
  for _, a in ipairs(live(ASK)) do
    if allowed(a[2], me) then
      willing = willing or live(WILL)
      for _, c in ipairs(willing) do
        if allowed(a[2], c[2]) and allowed(me, c[2]) then
          drop(a[2].u, a[2])
          drop(c[2].u, c[2])
          return { '?', a[1], c[1], meJson }
        end
      end
    end
  end
end

-- oldest compatible waiter of one zset with since < bound; drops stale and dead entries met
local function scan(key, bound)
  local items = redis.call('ZRANGE', key, 0, limit - 1, 'WITHSCORES')
  for k = 1, #items, 2 do
    local u, s = items[k], tonumber(items[k + 1])
    if s >= bound then return nil end
    if u ~= me.u then
      local j, w = waiter(key, u)
      if j and compatible(w) then return j, w, s end
    end
  end
  return nil
end

-- 3. a shared interest first (oldest across the caller's tags), else anyone if both accept it
local bestJ, best, bestS = nil, nil, math.huge
for idx = 1, #me.i do
  local j, w, s = scan(KEYS[5 + idx], bestS)
  if j then bestJ, best, bestS = j, w, s end
end
if not best and me.a <= now then
  bestJ, best, bestS = scan(OPEN, math.huge)
end

if best then
  drop(best.u, best)
  local theirs = {}
  for _, tag in ipairs(best.i) do theirs[tag] = true end
  local out = { bestJ }
  for _, tag in ipairs(me.i) do if theirs[tag] then out[#out + 1] = tag end end
  return out
end

-- 4. nobody: enqueue the caller
redis.call('HSET', W, me.u, meJson)
redis.call('SADD', MYSET, me.u)
if me.q then redis.call('ZADD', WILL, me.s, me.u) end
for idx = 1, #me.i do redis.call('ZADD', KEYS[5 + idx], me.s, me.u) end
if me.a <= now then redis.call('ZADD', OPEN, me.s, me.u) else redis.call('ZADD', PEND, me.a, me.u) end
return false
`,
);

/** Remove one waiter. KEYS: 1 waiters, 2 open, 3 pend. ARGV: 1 prefix, 2 userId. Returns 1 or 0. */
export const removeScript = script(
  'remove',
  `${prelude}
local j = redis.call('HGET', W, ARGV[2])
if not j then return 0 end
drop(ARGV[2], cjson.decode(j))
return 1
`,
);

/**
 * Drop every waiter of a node and its presence entry; its liveness entry stays as a tombstone
 * (so that every node sees it expired) until the heartbeat's garbage collection removes it.
 * KEYS: 1 waiters, 2 open, 3 pend, 4 presence, 5 node's set. ARGV: 1 prefix, 2 nodeId,
 * 3 "1" when the node leaves cleanly: its deadline is set in the past, so that the others report
 * it down at their next heartbeat even if they never saw it alive. Returns the number dropped.
 */
export const dropNodeScript = script(
  'dropNode',
  `${prelude}
local members = redis.call('SMEMBERS', KEYS[5])
local n = 0
for _, u in ipairs(members) do
  local j = redis.call('HGET', W, u)
  if j then
    drop(u, cjson.decode(j))
    n = n + 1
  end
end
redis.call('DEL', KEYS[5])
redis.call('HDEL', KEYS[4], ARGV[2])
if ARGV[3] == '1' then redis.call('HSET', P .. ':nodes', ARGV[2], 0) end
return n
`,
);

/**
 * Heartbeat: sets this node's deadline and counts, garbage-collects liveness entries dead for
 * longer than the GC age, and returns the cluster's view.
 * KEYS: 1 nodes, 2 presence. ARGV: 1 prefix, 2 nodeId, 3 deadline ms, 4 counts, 5 GC age ms.
 * Returns { redisNow, previous deadline or '', nodes (flat HGETALL), presence (flat HGETALL) }.
 */
export const heartbeatScript = script(
  'heartbeat',
  `${prelude}
local rnow = redis_ms()
local prev = redis.call('HGET', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[1], ARGV[2], rnow + tonumber(ARGV[3]))
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
local nodes = redis.call('HGETALL', KEYS[1])
local gcBefore = rnow - tonumber(ARGV[5])
for k = 1, #nodes, 2 do
  if tonumber(nodes[k + 1]) < gcBefore then
    redis.call('HDEL', KEYS[1], nodes[k])
    redis.call('HDEL', KEYS[2], nodes[k])
  end
end
return { tostring(rnow), prev or '', nodes, redis.call('HGETALL', KEYS[2]) }
`,
);

/** Which of the given users are no longer waiting. KEYS: 1 waiters. ARGV: userIds. */
export const missingScript = script(
  'missing',
  `
local out = {}
for _, u in ipairs(ARGV) do
  if redis.call('HEXISTS', KEYS[1], u) == 0 then out[#out + 1] = u end
end
return out
`,
);
