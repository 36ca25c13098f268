/**
 * The moderation store of the Redis engine: reports, bans, spam waves and skips shared by every
 * node, each operation one Lua script (atomic), every key with an expiry.
 *
 * Keys (P = the engine's prefix with its hash tag, so all of them share one slot):
 * - `P:m:case:<person>`  hash  id, at, reason, auto, addr, ev (evidence JSON), n (reporters); expires `reportTtlMs` after the last report
 * - `P:m:cases`          zset  person scored by the case's latest report (the review queue)
 * - `P:m:cid`            hash  case id -> person
 * - `P:m:rp:<person>`    zset  reporter persons in the window;  `P:m:ra:<person>` reporter addresses
 * - `P:m:ban:<person>`   hash  until, addr; expires when the ban ends
 * - `P:m:aban:<address>` str   end of the address ban; expires with it
 * - `P:m:bans`           zset  person scored by ban end (bans in force, for metrics)
 * - `P:m:off:<person>`   str   bans so far (doubling); expires `offenceMemoryMs` after the last
 * - `P:m:skip:<person>`  zset  persons not to meet again, scored by when that ends (the latest `maxSkips`)
 * - `P:m:spam:<person>:<textKey>` zset partners who got this text, by time; `P:m:wave:<person>` flag
 *
 * Times are the chat's clock (ms), as everywhere in the engine; expiries are relative (PX), so
 * Redis's own clock need not agree with the nodes'.
 */
import { randomUUID } from 'node:crypto';
import type { EvidenceLine, ModerationPolicy, ModerationStore, Report, ReportCase, ReportReason, SearchCheck } from './engine.js';
import { ReportReason as Reasons } from './engine.js';
import { EVIDENCE_MAX } from './moderation-memory.js';
import { script, type LuaScript } from './redis-scripts.js';

/** Runs a script (EVALSHA with the engine's fallback); throws EngineUnavailableError when Redis is not there. */
export type RunScript = (script: LuaScript, keys: string[], args: string[]) => Promise<unknown>;

/** Lua: merges a case's evidence with a new report's, without repeats, keeping the latest EVIDENCE_MAX lines. */
export const MERGE_EVIDENCE_LUA = `
local function mergeEvidence(old, new)
  local out, seen = {}, {}
  for _, list in ipairs({ old and cjson.decode(old) or {}, cjson.decode(new) }) do
    for _, l in ipairs(list) do
      local k = tostring(l.from) .. '\\0' .. tostring(l.at) .. '\\0' .. tostring(l.text)
      if not seen[k] then
        seen[k] = true
        out[#out + 1] = l
      end
    end
  end
  while #out > ${EVIDENCE_MAX} do table.remove(out, 1) end
  if #out == 0 then return '[]' end
  return cjson.encode(out)
end
`;

/** Lua helpers shared by the scripts that open cases or set bans. */
const COMMON = `${MERGE_EVIDENCE_LUA}local function setBan(P, person, addr, untl, dur)
  local bk = P .. ':m:ban:' .. person
  redis.call('HSET', bk, 'until', untl, 'addr', addr)
  redis.call('PEXPIRE', bk, dur)
  if addr ~= '' then
    local ak = P .. ':m:aban:' .. addr
    local cur = tonumber(redis.call('GET', ak) or '0')
    if untl > cur then redis.call('SET', ak, untl, 'PX', dur) end
  end
  redis.call('ZADD', P .. ':m:bans', untl, person)
end
local function openCase(P, person, newId, auto)
  local ck = P .. ':m:case:' .. person
  local id = redis.call('HGET', ck, 'id')
  if not id then
    id = newId
    redis.call('HSET', ck, 'id', id, 'n', 0, 'auto', auto)
    redis.call('HSET', P .. ':m:cid', id, person)
  end
  return ck
end
`;

/** ARGV: P, now, target, taddr, reporter, raddr, reason, evidence, threshold, window, banMs, maxBanMs, offenceMs, ttl, newId. */
const reportScript = script('moderation.report', `${COMMON}
local P, now = ARGV[1], tonumber(ARGV[2])
local target, taddr, rep, raddr = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local threshold, window, banMs, maxBan, offMs, ttl = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13]), tonumber(ARGV[14])
if target == rep then return 0 end
local ck = openCase(P, target, ARGV[15], 0)
redis.call('HSET', ck, 'at', now, 'reason', ARGV[7], 'auto', 0, 'addr', taddr, 'ev', mergeEvidence(redis.call('HGET', ck, 'ev'), ARGV[8]))
redis.call('PEXPIRE', ck, ttl)
redis.call('ZADD', P .. ':m:cases', now, target)
local rp, ra = P .. ':m:rp:' .. target, P .. ':m:ra:' .. target
redis.call('ZREMRANGEBYSCORE', rp, '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', ra, '-inf', now - window)
if redis.call('ZSCORE', rp, rep) or redis.call('ZSCORE', ra, raddr) then return 0 end
redis.call('ZADD', rp, now, rep)
redis.call('ZADD', ra, now, raddr)
redis.call('PEXPIRE', rp, window)
redis.call('PEXPIRE', ra, window)
redis.call('HINCRBY', ck, 'n', 1)
local cur = tonumber(redis.call('HGET', P .. ':m:ban:' .. target, 'until') or '0')
if cur > now or redis.call('ZCARD', rp) < threshold then return 0 end
redis.call('DEL', rp, ra)
local ok = P .. ':m:off:' .. target
local prev = tonumber(redis.call('GET', ok) or '0')
local dur = math.min(maxBan, banMs * (2 ^ prev))
redis.call('SET', ok, prev + 1, 'PX', offMs)
setBan(P, target, taddr, now + dur, dur)
return now + dur
`);

/** ARGV: P, now, person, addr. Returns {bannedUntil, avoid...}. */
const checkScript = script('moderation.check', `
local P, now, person, addr = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local b = tonumber(redis.call('HGET', P .. ':m:ban:' .. person, 'until') or '0')
if b <= now then b = 0 end
if addr ~= '' then
  local a = tonumber(redis.call('GET', P .. ':m:aban:' .. addr) or '0')
  if a > now and a > b then b = a end
end
local out = { tostring(b) }
for _, other in ipairs(redis.call('ZRANGEBYSCORE', P .. ':m:skip:' .. person, now, '+inf')) do out[#out + 1] = other end
return out
`);

/** ARGV: P, now, a, b, skipMs, maxSkips. */
const skipScript = script('moderation.skip', `
local P, now, a, b, ms = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], tonumber(ARGV[5])
for _, pair in ipairs({ { a, b }, { b, a } }) do
  local k = P .. ':m:skip:' .. pair[1]
  redis.call('ZADD', k, now + ms, pair[2])
  redis.call('ZREMRANGEBYSCORE', k, '-inf', now)
  redis.call('ZREMRANGEBYRANK', k, 0, -(tonumber(ARGV[6]) + 1))
  redis.call('PEXPIRE', k, ms)
end
return 1
`);

/** ARGV: P, now, person, ms. */
const banScript = script('moderation.ban', `${COMMON}
local P, now, person, ms = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local addr = redis.call('HGET', P .. ':m:case:' .. person, 'addr') or redis.call('HGET', P .. ':m:ban:' .. person, 'addr') or ''
setBan(P, person, addr, now + ms, ms)
return now + ms
`);

/** ARGV: P, now, person. */
const unbanScript = script('moderation.unban', `
local P, now, person = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local bk = P .. ':m:ban:' .. person
local untl = tonumber(redis.call('HGET', bk, 'until') or '0')
redis.call('ZREM', P .. ':m:bans', person)
if untl <= now then return 0 end
local addr = redis.call('HGET', bk, 'addr') or ''
redis.call('DEL', bk)
if addr ~= '' then
  local ak = P .. ':m:aban:' .. addr
  if tonumber(redis.call('GET', ak) or '0') == untl then redis.call('DEL', ak) end
end
return 1
`);

/** ARGV: P, now, limit, ttl. Returns JSON [[person, id, at, reason, n, auto, ev, bannedUntil], ...], newest first. */
const casesScript = script('moderation.cases', `
local P, now, limit, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local Z = P .. ':m:cases'
for _, person in ipairs(redis.call('ZRANGEBYSCORE', Z, '-inf', now - ttl)) do
  local id = redis.call('HGET', P .. ':m:case:' .. person, 'id')
  if id then redis.call('HDEL', P .. ':m:cid', id) end
  redis.call('DEL', P .. ':m:case:' .. person)
end
redis.call('ZREMRANGEBYSCORE', Z, '-inf', now - ttl)
local out = {}
for _, person in ipairs(redis.call('ZREVRANGE', Z, 0, limit - 1)) do
  local c = redis.call('HMGET', P .. ':m:case:' .. person, 'id', 'at', 'reason', 'n', 'auto', 'ev')
  if not c[1] then
    redis.call('ZREM', Z, person)
  else
    local b = redis.call('HGET', P .. ':m:ban:' .. person, 'until') or '0'
    out[#out + 1] = { person, c[1], c[2], c[3], c[4], c[5], c[6] or '[]', b }
  end
end
if #out == 0 then return '[]' end
return cjson.encode(out)
`);

/** ARGV: P, id. */
const dismissScript = script('moderation.dismiss', `
local P, id = ARGV[1], ARGV[2]
local person = redis.call('HGET', P .. ':m:cid', id)
if not person then return 0 end
redis.call('HDEL', P .. ':m:cid', id)
redis.call('DEL', P .. ':m:case:' .. person)
redis.call('ZREM', P .. ':m:cases', person)
return 1
`);

/** ARGV: P, now, person, addr, textKey, partner, evidence, limit, window, ttl, newId, earlier. Returns the partners reached, or 0 (drop). */
const spamScript = script('moderation.spam', `${COMMON}
local P, now, person, addr, partner = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[6]
local limit, window, ttl = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local k = P .. ':m:spam:' .. person .. ':' .. ARGV[5]
redis.call('ZREMRANGEBYSCORE', k, '-inf', now - window)
if ARGV[12] ~= '' then redis.call('ZADD', k, 'NX', now, ARGV[12]) end
if redis.call('ZSCORE', k, partner) or redis.call('ZCARD', k) < limit then
  redis.call('ZADD', k, now, partner)
  redis.call('PEXPIRE', k, window)
  return redis.call('ZCARD', k)
end
if redis.call('SET', P .. ':m:wave:' .. person, '1', 'NX', 'PX', window) then
  local ck = openCase(P, person, ARGV[11], 1)
  redis.call('HSET', ck, 'at', now, 'reason', 'spam', 'addr', addr, 'ev', mergeEvidence(redis.call('HGET', ck, 'ev'), ARGV[7]))
  redis.call('PEXPIRE', ck, ttl)
  redis.call('ZADD', P .. ':m:cases', now, person)
end
return 0
`);

/** ARGV: P, now. */
const bansScript = script('moderation.bans', `
local Z = ARGV[1] .. ':m:bans'
redis.call('ZREMRANGEBYSCORE', Z, '-inf', tonumber(ARGV[2]))
return redis.call('ZCARD', Z)
`);

const reasons: ReadonlySet<string> = new Set(Object.values(Reasons));

export class RedisModerationStore implements ModerationStore {
  readonly #run: RunScript;
  readonly #p: string;
  readonly #key: string[];
  /** The latest policy seen, for `cases` (which is not given one). */
  #ttl = 7 * 86_400_000;

  constructor(run: RunScript, prefix: string) {
    this.#run = run;
    this.#p = prefix;
    this.#key = [`${prefix}:m`]; // routes the scripts to the prefix's slot on Redis Cluster
  }

  async report(r: Report, policy: ModerationPolicy, now: number): Promise<number> {
    this.#ttl = policy.reportTtlMs;
    const res = await this.#run(reportScript, this.#key, [
      this.#p, String(now), r.target, r.targetAddress, r.reporter, r.reporterAddress, r.reason, JSON.stringify(r.evidence),
      String(policy.threshold), String(policy.windowMs), String(policy.banMs), String(policy.maxBanMs), String(policy.offenceMemoryMs),
      String(policy.reportTtlMs), randomUUID(),
    ]);
    return Number(res) || 0;
  }

  async checkSearch(person: string, address: string, now: number): Promise<SearchCheck> {
    const res = (await this.#run(checkScript, this.#key, [this.#p, String(now), person, address])) as string[];
    return { bannedUntil: Number(res[0]) || 0, avoid: res.slice(1) };
  }

  async skip(a: string, b: string, policy: ModerationPolicy, now: number): Promise<void> {
    if (a === b) return;
    await this.#run(skipScript, this.#key, [this.#p, String(now), a, b, String(policy.skipMs), String(policy.maxSkips)]);
  }

  async ban(person: string, ms: number, now: number): Promise<number> {
    return Number(await this.#run(banScript, this.#key, [this.#p, String(now), person, String(Math.max(1, Math.round(ms)))]));
  }

  async unban(person: string, now: number): Promise<boolean> {
    return (await this.#run(unbanScript, this.#key, [this.#p, String(now), person])) === 1;
  }

  async cases(limit: number, now: number): Promise<ReportCase[]> {
    const json = (await this.#run(casesScript, this.#key, [this.#p, String(now), String(limit), String(this.#ttl)])) as string;
    const rows = JSON.parse(json) as string[][];
    const out: ReportCase[] = [];
    for (const [person, ...row] of rows) out.push(reportCase(person!, row, now));
    return out;
  }

  async dismiss(id: string, _now: number): Promise<boolean> {
    return (await this.#run(dismissScript, this.#key, [this.#p, id])) === 1;
  }

  async spamCopy(person: string, address: string, textKey: string, partner: string, evidence: readonly EvidenceLine[], policy: ModerationPolicy, now: number, earlier?: string): Promise<number> {
    this.#ttl = policy.reportTtlMs;
    const res = await this.#run(spamScript, this.#key, [
      this.#p, String(now), person, address, textKey, partner, JSON.stringify(evidence),
      String(policy.spamPartners), String(policy.spamWindowMs), String(policy.reportTtlMs), randomUUID(), earlier ?? '',
    ]);
    return Number(res) || 0;
  }

  async bansInForce(now: number): Promise<number> {
    return Number(await this.#run(bansScript, this.#key, [this.#p, String(now)]));
  }
}

/**
 * A case as the scripts return it: `[id, at, reason, reporters, automatic, evidence JSON, ban
 * end]` (strings), for `person`.
 */
export function reportCase(person: string, [id, at, reason, n, auto, ev, banned]: readonly string[], now: number): ReportCase {
  return {
    id: id!,
    at: Number(at),
    reason: (reasons.has(reason!) ? reason : 'other') as ReportReason,
    reporters: Number(n) || 0,
    automatic: auto === '1',
    target: { person, banned: Number(banned) > now },
    evidence: parseEvidence(ev!),
  };
}

/** Evidence as stored; anything else (a foreign writer) reads as none. */
export function parseEvidence(json: string): EvidenceLine[] {
  try {
    const v = JSON.parse(json) as unknown;
    if (!Array.isArray(v)) return [];
    return v.filter(
      (x): x is EvidenceLine => typeof x === 'object' && x !== null && (x.from === 'target' || x.from === 'reporter') && typeof x.text === 'string' && typeof x.at === 'number',
    );
  } catch {
    return [];
  }
}
