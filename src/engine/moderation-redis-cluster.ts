/**
 * The moderation store of the Redis engine on a Redis Cluster: the same records and rules as
 * moderation-redis.ts, with the keys spread by whom they are about, so that the checks every
 * search makes (one person's ban and skips, one address's ban) land on many shards instead of one.
 *
 * Keys (N = the namespace, e.g. `strangers`); each `{...}` is a hash tag, so each line is one slot:
 * - `{N:m:<person>}:case`  hash  id, at, reason, auto, addr, ev, n (as on one Redis)
 *   `{N:m:<person>}:rp` / `:ra` (reporters), `:ban` (until, addr), `:off` (bans so far),
 *   `:skip` (persons not to meet again), `:spam:<textKey>`, `:wave`
 * - `{N:a:<address>}:aban`  str   end of the address ban
 * - `{N:m}:cases` zset (the review queue), `{N:m}:cid` hash (case id -> person), `{N:m}:bans`
 *   zset (bans in force): the indexes, one slot
 *
 * Every script touches one slot. An operation that spans a person, an address and the indexes
 * (a report that bans, a moderator's ban) runs one script per slot: the person's first (where the
 * rules are decided, atomically), then the address's and the indexes' (which only record the
 * outcome). A node that dies between them leaves an index entry missing or late, never a ban
 * lost: the ban itself is written by the person's script. Searches read the person and the
 * address in parallel: one round trip's time.
 */
import { randomUUID } from 'node:crypto';
import type { EvidenceLine, ModerationPolicy, ModerationStore, Report, ReportCase, SearchCheck } from './engine.js';
import { MERGE_EVIDENCE_LUA, reportCase, type RunScript } from './moderation-redis.js';
import { script } from './redis-scripts.js';

const MERGE = `${MERGE_EVIDENCE_LUA}local function openCase(ck, newId, auto)
  local id = redis.call('HGET', ck, 'id')
  if not id then
    id = newId
    redis.call('HSET', ck, 'id', id, 'n', 0, 'auto', auto)
  end
  return id
end
`;

/**
 * A report, on the target's slot. KEYS: case, rp, ra, ban, off. ARGV: now, taddr, reporter,
 * raddr, reason, evidence, threshold, window, banMs, maxBanMs, offenceMs, ttl, newId.
 * Returns { ban end or 0, case id }.
 */
const reportScript = script('moderation.c.report', `${MERGE}
local ck, rp, ra, bk, ok = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now, taddr, rep, raddr = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
local threshold, window, banMs, maxBan, offMs, ttl = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
local id = openCase(ck, ARGV[13], 0)
redis.call('HSET', ck, 'at', now, 'reason', ARGV[5], 'auto', 0, 'addr', taddr, 'ev', mergeEvidence(redis.call('HGET', ck, 'ev'), ARGV[6]))
redis.call('PEXPIRE', ck, ttl)
redis.call('ZREMRANGEBYSCORE', rp, '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', ra, '-inf', now - window)
if redis.call('ZSCORE', rp, rep) or redis.call('ZSCORE', ra, raddr) then return { 0, id } end
redis.call('ZADD', rp, now, rep)
redis.call('ZADD', ra, now, raddr)
redis.call('PEXPIRE', rp, window)
redis.call('PEXPIRE', ra, window)
redis.call('HINCRBY', ck, 'n', 1)
local cur = tonumber(redis.call('HGET', bk, 'until') or '0')
if cur > now or redis.call('ZCARD', rp) < threshold then return { 0, id } end
redis.call('DEL', rp, ra)
local prev = tonumber(redis.call('GET', ok) or '0')
local dur = math.min(maxBan, banMs * (2 ^ prev))
redis.call('SET', ok, prev + 1, 'PX', offMs)
redis.call('HSET', bk, 'until', now + dur, 'addr', taddr)
redis.call('PEXPIRE', bk, dur)
return { now + dur, id }
`);

/** An address ban, on the address's slot. KEYS: aban. ARGV: until, duration. Never shortens one. */
const addressBanScript = script('moderation.c.aban', `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > cur then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
return 1
`);

/** Lifts an address ban if it is the one a person's ban set. KEYS: aban. ARGV: until. */
const addressUnbanScript = script('moderation.c.aunban', `
if tonumber(redis.call('GET', KEYS[1]) or '0') == tonumber(ARGV[1]) then redis.call('DEL', KEYS[1]) end
return 1
`);

/** The index of cases. KEYS: cases, cid. ARGV: at, person, id. */
const indexCaseScript = script('moderation.c.icase', `
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[2])
return 1
`);

/** The index of bans. KEYS: bans. ARGV: until (0: remove), person. */
const indexBanScript = script('moderation.c.iban', `
if ARGV[1] == '0' then redis.call('ZREM', KEYS[1], ARGV[2]) else redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2]) end
return 1
`);

/** A person's ban and skips. KEYS: ban, skip. ARGV: now. Returns { ban end or 0, avoid... }. */
const checkPersonScript = script('moderation.c.check', `
local now = tonumber(ARGV[1])
local b = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if b <= now then b = 0 end
local out = { tostring(b) }
for _, other in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], now, '+inf')) do out[#out + 1] = other end
return out
`);

/** An address's ban. KEYS: aban. ARGV: now. Returns its end or 0. */
const checkAddressScript = script('moderation.c.acheck', `
local a = tonumber(redis.call('GET', KEYS[1]) or '0')
if a > tonumber(ARGV[1]) then return tostring(a) end
return '0'
`);

/** One side of a skip. KEYS: the skip zset of one person. ARGV: now, the other person, skipMs, maxSkips. */
const skipScript = script('moderation.c.skip', `
local now, ms = tonumber(ARGV[1]), tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now + ms, ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[4]) + 1))
redis.call('PEXPIRE', KEYS[1], ms)
return 1
`);

/** A moderator's ban, on the person's slot. KEYS: case, ban. ARGV: now, ms. Returns { until, addr }. */
const banScript = script('moderation.c.ban', `
local now, ms = tonumber(ARGV[1]), tonumber(ARGV[2])
local addr = redis.call('HGET', KEYS[1], 'addr') or redis.call('HGET', KEYS[2], 'addr') or ''
redis.call('HSET', KEYS[2], 'until', now + ms, 'addr', addr)
redis.call('PEXPIRE', KEYS[2], ms)
return { now + ms, addr }
`);

/** Lifts a person's ban. KEYS: ban. ARGV: now. Returns { until or 0, addr }. */
const unbanScript = script('moderation.c.unban', `
local untl = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if untl <= tonumber(ARGV[1]) then return { 0, '' } end
local addr = redis.call('HGET', KEYS[1], 'addr') or ''
redis.call('DEL', KEYS[1])
return { untl, addr }
`);

/** The review queue, on the indexes' slot. KEYS: cases. ARGV: now, limit, ttl. Returns { expired..., '', listed... }. */
const listScript = script('moderation.c.list', `
local now, limit, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local out = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
out[#out + 1] = ''
for _, person in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, limit - 1)) do out[#out + 1] = person end
return out
`);

/** One case as the review queue shows it. KEYS: case, ban. Returns { id, at, reason, n, auto, ev, bannedUntil } or an empty list. */
const readCaseScript = script('moderation.c.read', `
local c = redis.call('HMGET', KEYS[1], 'id', 'at', 'reason', 'n', 'auto', 'ev')
if not c[1] then return {} end
return { c[1], c[2], c[3], c[4], c[5], c[6] or '[]', redis.call('HGET', KEYS[2], 'until') or '0' }
`);

/** Deletes a case. KEYS: case. Returns its id, or ''. */
const dropCaseScript = script('moderation.c.drop', `
local id = redis.call('HGET', KEYS[1], 'id') or ''
redis.call('DEL', KEYS[1])
return id
`);

/** Takes ids and persons out of the indexes. KEYS: cases, cid. ARGV: 'id', id..., 'person', person... */
const unindexScript = script('moderation.c.unindex', `
local mode = ''
for _, a in ipairs(ARGV) do
  if a == 'id' or a == 'person' then mode = a
  elseif mode == 'id' then redis.call('HDEL', KEYS[2], a)
  else redis.call('ZREM', KEYS[1], a) end
end
return 1
`);

/** Closes a case in the indexes. KEYS: cid, cases. ARGV: id. Returns the person, or ''. */
const dismissScript = script('moderation.c.dismiss', `
local person = redis.call('HGET', KEYS[1], ARGV[1])
if not person then return '' end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], person)
return person
`);

/**
 * A copy of a text, on the sender's slot. KEYS: spam (of this text), wave, case. ARGV: now,
 * addr, partner, evidence, limit, window, ttl, newId, earlier. Returns { partners or 0, case id or '' }.
 */
const spamScript = script('moderation.c.spam', `${MERGE}
local k, wave, ck = KEYS[1], KEYS[2], KEYS[3]
local now, addr, partner = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local limit, window, ttl = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
redis.call('ZREMRANGEBYSCORE', k, '-inf', now - window)
if ARGV[9] ~= '' then redis.call('ZADD', k, 'NX', now, ARGV[9]) end
if redis.call('ZSCORE', k, partner) or redis.call('ZCARD', k) < limit then
  redis.call('ZADD', k, now, partner)
  redis.call('PEXPIRE', k, window)
  return { redis.call('ZCARD', k), '' }
end
if redis.call('SET', wave, '1', 'NX', 'PX', window) then
  local id = openCase(ck, ARGV[8], 1)
  redis.call('HSET', ck, 'at', now, 'reason', 'spam', 'addr', addr, 'ev', mergeEvidence(redis.call('HGET', ck, 'ev'), ARGV[4]))
  redis.call('PEXPIRE', ck, ttl)
  return { 0, id }
end
return { 0, '' }
`);

/** Bans in force. KEYS: bans. ARGV: now. */
const bansScript = script('moderation.c.bans', `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]))
return redis.call('ZCARD', KEYS[1])
`);

export class ClusterModerationStore implements ModerationStore {
  readonly #run: RunScript;
  readonly #ns: string;
  readonly #cases: string;
  readonly #cid: string;
  readonly #bans: string;
  #ttl = 7 * 86_400_000;

  /** `namespace`: the key prefix without braces (`strangers`). */
  constructor(run: RunScript, namespace: string) {
    this.#run = run;
    this.#ns = namespace;
    this.#cases = `{${namespace}:m}:cases`;
    this.#cid = `{${namespace}:m}:cid`;
    this.#bans = `{${namespace}:m}:bans`;
  }

  #p(person: string, key: string): string {
    return `{${this.#ns}:m:${person}}:${key}`;
  }

  #a(address: string): string {
    return `{${this.#ns}:a:${address}}:aban`;
  }

  /** The address's and the index's share of a ban the person's script has set. */
  async #recordBan(person: string, address: string, until: number, ms: number): Promise<void> {
    await Promise.all([
      this.#run(indexBanScript, [this.#bans], [String(until), person]),
      address === '' ? undefined : this.#run(addressBanScript, [this.#a(address)], [String(until), String(Math.max(1, Math.round(ms)))]),
    ]);
  }

  async report(r: Report, policy: ModerationPolicy, now: number): Promise<number> {
    this.#ttl = policy.reportTtlMs;
    if (r.target === r.reporter) return 0;
    const t = r.target;
    const [end, id] = (await this.#run(reportScript, [this.#p(t, 'case'), this.#p(t, 'rp'), this.#p(t, 'ra'), this.#p(t, 'ban'), this.#p(t, 'off')], [
      String(now), r.targetAddress, r.reporter, r.reporterAddress, r.reason, JSON.stringify(r.evidence),
      String(policy.threshold), String(policy.windowMs), String(policy.banMs), String(policy.maxBanMs), String(policy.offenceMemoryMs),
      String(policy.reportTtlMs), randomUUID(),
    ])) as [number, string];
    const until = Number(end) || 0;
    await Promise.all([this.#run(indexCaseScript, [this.#cases, this.#cid], [String(now), t, id]), until > 0 ? this.#recordBan(t, r.targetAddress, until, until - now) : undefined]);
    return until;
  }

  async checkSearch(person: string, address: string, now: number): Promise<SearchCheck> {
    const [own, addr] = await Promise.all([
      this.#run(checkPersonScript, [this.#p(person, 'ban'), this.#p(person, 'skip')], [String(now)]) as Promise<string[]>,
      address === '' ? '0' : (this.#run(checkAddressScript, [this.#a(address)], [String(now)]) as Promise<string>),
    ]);
    return { bannedUntil: Math.max(Number(own[0]) || 0, Number(addr) || 0), avoid: own.slice(1) };
  }

  async skip(a: string, b: string, policy: ModerationPolicy, now: number): Promise<void> {
    if (a === b) return;
    const args = (other: string): string[] => [String(now), other, String(policy.skipMs), String(policy.maxSkips)];
    await Promise.all([this.#run(skipScript, [this.#p(a, 'skip')], args(b)), this.#run(skipScript, [this.#p(b, 'skip')], args(a))]);
  }

  async ban(person: string, ms: number, now: number): Promise<number> {
    const d = Math.max(1, Math.round(ms));
    const [until, addr] = (await this.#run(banScript, [this.#p(person, 'case'), this.#p(person, 'ban')], [String(now), String(d)])) as [number, string];
    await this.#recordBan(person, addr, Number(until), d);
    return Number(until);
  }

  async unban(person: string, now: number): Promise<boolean> {
    const [until, addr] = (await this.#run(unbanScript, [this.#p(person, 'ban')], [String(now)])) as [number, string];
    const u = Number(until) || 0;
    await Promise.all([this.#run(indexBanScript, [this.#bans], ['0', person]), u > 0 && addr !== '' ? this.#run(addressUnbanScript, [this.#a(addr)], [String(u)]) : undefined]);
    return u > 0;
  }

  async cases(limit: number, now: number): Promise<ReportCase[]> {
    const res = (await this.#run(listScript, [this.#cases], [String(now), String(limit), String(this.#ttl)])) as string[];
    const cut = res.indexOf('');
    const expired = res.slice(0, cut);
    const listed = res.slice(cut + 1);
    if (expired.length > 0) {
      const ids = (await Promise.all(expired.map((p) => this.#run(dropCaseScript, [this.#p(p, 'case')], []) as Promise<string>))).filter((id) => id !== '');
      if (ids.length > 0) await this.#run(unindexScript, [this.#cases, this.#cid], ['id', ...ids]);
    }
    const rows = (await Promise.all(listed.map((p) => this.#run(readCaseScript, [this.#p(p, 'case'), this.#p(p, 'ban')], []) as Promise<string[]>)));
    const gone = listed.filter((_, i) => rows[i]!.length === 0);
    if (gone.length > 0) await this.#run(unindexScript, [this.#cases, this.#cid], ['person', ...gone]);
    const out: ReportCase[] = [];
    rows.forEach((row, i) => {
      if (row.length > 0) out.push(reportCase(listed[i]!, row, now));
    });
    return out;
  }

  async dismiss(id: string, _now: number): Promise<boolean> {
    const person = (await this.#run(dismissScript, [this.#cid, this.#cases], [id])) as string;
    if (person === '') return false;
    await this.#run(dropCaseScript, [this.#p(person, 'case')], []);
    return true;
  }

  async spamCopy(person: string, address: string, textKey: string, partner: string, evidence: readonly EvidenceLine[], policy: ModerationPolicy, now: number, earlier?: string): Promise<number> {
    this.#ttl = policy.reportTtlMs;
    const [count, id] = (await this.#run(spamScript, [this.#p(person, `spam:${textKey}`), this.#p(person, 'wave'), this.#p(person, 'case')], [
      String(now), address, partner, JSON.stringify(evidence), String(policy.spamPartners), String(policy.spamWindowMs), String(policy.reportTtlMs), randomUUID(), earlier ?? '',
    ])) as [number, string];
    if (id !== '') await this.#run(indexCaseScript, [this.#cases, this.#cid], [String(now), person, id]);
    return Number(count) || 0;
  }

  async bansInForce(now: number): Promise<number> {
    return Number(await this.#run(bansScript, [this.#bans], [String(now)]));
  }
}
