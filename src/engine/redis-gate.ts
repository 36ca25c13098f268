/**
 * The session gate's marks and counters in Redis (the {@link GateStore} of the Redis engine).
 *
 * Keys (P = the engine's prefix, e.g. `{strangers}`, so they share the engine's hash slot):
 * - `P:g:c:<key>` string `1`, expiring after the claim's TTL: a one-time mark (`SET NX PX`)
 * - `P:g:h:<key>` integer, expiring at the end of its window: a counter (`INCR` + `PEXPIRE`)
 * On a Redis Cluster they are `N:g:c:{<key>}` and `N:g:h:{<key>}` (N the prefix without its
 * braces): each script has one key, so each key is tagged by itself and they spread over the shards.
 * Every key expires by itself; nothing else is stored.
 */
import { createHash } from 'node:crypto';
import type { GateStore } from './engine.js';
import type { LuaScript } from './redis-scripts.js';

function script(name: string, lua: string): LuaScript {
  return { name, lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/** KEYS[1] the mark, ARGV[1] its TTL in ms. Returns 1 for the first claim, 0 after. */
export const claimScript = script(
  'gate-claim',
  `if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return 1 end
return 0`,
);

/**
 * KEYS[1] the counter, ARGV[1] the window in ms. One round trip, atomic: the first hit of a
 * window sets its expiry (and so does any hit that finds a counter without one).
 */
export const hitScript = script(
  'gate-hit',
  `local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`,
);

/** Runs a script (EVALSHA with fallback); rejects with EngineUnavailableError when Redis is down. */
export type RunScript = (script: LuaScript, keys: string[], args: string[]) => Promise<unknown>;

/** The name of a gate key: `kind` `c` for a claim, `h` for a counter (see redis-scripts.ts `redisKeys`). */
export type GateKey = (kind: 'c' | 'h', key: string) => string;

export class RedisGateStore implements GateStore {
  readonly #name: GateKey;
  readonly #run: RunScript;

  /** `prefix`: the engine's prefix (keys `P:g:c:<key>`), or a {@link GateKey} naming them. */
  constructor(prefix: string | GateKey, run: RunScript) {
    this.#name = typeof prefix === 'string' ? (kind, key) => `${prefix}:g:${kind}:${key}` : prefix;
    this.#run = run;
  }

  async claimOnce(key: string, ttlMs: number): Promise<boolean> {
    const ttl = String(Math.max(1, Math.ceil(ttlMs)));
    return (await this.#run(claimScript, [this.#name('c', key)], [ttl])) === 1;
  }

  async hit(key: string, windowMs: number): Promise<number> {
    const window = String(Math.max(1, Math.ceil(windowMs)));
    return Number(await this.#run(hitScript, [this.#name('h', key)], [window]));
  }
}
