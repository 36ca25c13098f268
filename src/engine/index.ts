/**
 * ENGINE FACTORY: the one place that chooses the engine.
 * No Redis URL -> the in-memory engine; otherwise the Redis engine, loaded on demand from
 * './redis.js' (module `src/engine/redis.ts`, export `createRedisEngine(url, options)`) so that a
 * single-process server never loads ioredis.
 */
import type { Engine } from './engine.js';
import { createMemoryEngine } from './memory.js';

export interface EngineConfig {
  /** `redis://` or `rediss://` URL; undefined selects the in-memory engine. */
  redis?: string | undefined;
  /** Options passed through to `createRedisEngine` unchanged. */
  redisOptions?: Record<string, unknown>;
}

interface RedisModule {
  createRedisEngine(url: string, options: Record<string, unknown>): Engine | Promise<Engine>;
}

export async function createEngine(config: EngineConfig): Promise<Engine> {
  if (config.redis === undefined || config.redis === '') return createMemoryEngine();
  // A variable specifier keeps tsc from requiring the module at compile time.
  const spec = './redis.js';
  const mod = (await import(spec)) as RedisModule;
  return await mod.createRedisEngine(config.redis, config.redisOptions ?? {});
}
