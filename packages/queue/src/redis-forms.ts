import type { Cluster, Redis, RedisOptions } from 'ioredis';

/** A connection of either form: one Redis (or a Sentinel-managed master), or a Redis Cluster (ADR 0043). */
export type RedisConnectionLike = Redis | Cluster;

/**
 * BullMQ's key prefix. In a cluster every key of one queue must hash to one slot (its Lua scripts touch many), so
 * the prefix is a hash tag there (`{tp}:tool-invocations:wait`, as BullMQ's docs ask). One Redis and Sentinel keep
 * the plain prefix (`tp:tool-invocations:wait`): their keys, and the KEDA scaler's list names, stay as they were.
 */
export function bullPrefix(redis: RedisConnectionLike, prefix: string): string {
  return redis.isCluster ? `{${prefix}}` : prefix;
}

/** A new connection with the same settings (a subscriber, a blocking reader): each form has its own `duplicate`. */
export function duplicateConnection(
  redis: RedisConnectionLike,
  overrides: Pick<RedisOptions, 'connectionName' | 'maxRetriesPerRequest'> = {},
): RedisConnectionLike {
  if (!redis.isCluster) return (redis as Redis).duplicate(overrides);
  const cluster = redis as Cluster;
  return cluster.duplicate(undefined, { redisOptions: { ...cluster.options.redisOptions, ...overrides } });
}
