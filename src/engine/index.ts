/**
 * The engine factory: the one place that chooses the engine. No Redis URL -> the in-memory
 * engine; otherwise the Redis engine, loaded on demand so that a single-process server never
 * loads ioredis.
 */
import type { Engine } from './engine.js';
import { createMemoryEngine } from './memory.js';
import type { RedisEngineOptions } from './redis.js';

export interface EngineConfig {
  /** `redis://` or `rediss://` URL; undefined selects the in-memory engine. */
  redis?: string | undefined;
  /** Options of the Redis engine. */
  redisOptions?: RedisEngineOptions;
}

export async function createEngine(config: EngineConfig): Promise<Engine> {
  if (config.redis === undefined || config.redis === '') return createMemoryEngine();
  const { createRedisEngine } = await import('./redis.js');
  return createRedisEngine(config.redis, config.redisOptions ?? {});
}
