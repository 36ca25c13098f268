/**
 * The engine factory: the one place that chooses the engine. No Redis URL and no cluster -> the
 * in-memory engine; otherwise the Redis engine (on one Redis, or on a Redis Cluster), loaded on
 * demand so that a single-process server never loads ioredis.
 */
import type { Engine } from './engine.js';
import { createMemoryEngine } from './memory.js';
import type { RedisEngineOptions } from './redis.js';

export interface EngineConfig {
  /** `redis://` or `rediss://` URL; undefined selects the in-memory engine. */
  redis?: string | undefined;
  /** Seed nodes of a Redis Cluster (`redis://` or `rediss://` URLs); excludes `redis`. */
  redisCluster?: readonly string[] | undefined;
  /** Options of the Redis engine. */
  redisOptions?: RedisEngineOptions;
}

export async function createEngine(config: EngineConfig): Promise<Engine> {
  const cluster = config.redisCluster ?? [];
  if (cluster.length > 0 && config.redis !== undefined && config.redis !== '') throw new TypeError('redis and redisCluster exclude each other');
  if (cluster.length === 0 && (config.redis === undefined || config.redis === '')) return createMemoryEngine();
  const { createRedisEngine } = await import('./redis.js');
  return createRedisEngine(cluster.length > 0 ? { cluster } : config.redis!, config.redisOptions ?? {});
}
