import { createRequire } from 'node:module';
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

/**
 * A new connection with the same settings (a subscriber, a blocking reader): each form has its own `duplicate`.
 * `shardedSubscriber`: in a cluster, one subscriber connection per master for `SSUBSCRIBE` (`replyChannel`).
 */
export function duplicateConnection(
  redis: RedisConnectionLike,
  overrides: Pick<RedisOptions, 'connectionName' | 'maxRetriesPerRequest'> = {},
  { shardedSubscriber = false } = {},
): RedisConnectionLike {
  if (!redis.isCluster) return (redis as Redis).duplicate(overrides);
  const cluster = redis as Cluster;
  return cluster.duplicate(undefined, {
    redisOptions: { ...cluster.options.redisOptions, ...overrides },
    ...(shardedSubscriber ? { shardedSubscribers: true } : {}),
  });
}

/**
 * How a process's reply channel (`results:<id>`: replies and events of its requests) is published and read. In a
 * cluster, sharded pub/sub (`SPUBLISH` / `SSUBSCRIBE`, Redis 7): a message stays on the master owning the channel's
 * slot and its replicas, where classic `PUBLISH` is broadcast over the cluster bus to every node (ADR 0043, measured
 * in docs/benchmarks.md). One Redis and Sentinel keep `PUBLISH` / `SUBSCRIBE`.
 */
export const replyChannel = {
  publish(redis: RedisConnectionLike, channel: string, message: string): Promise<unknown> {
    return redis.isCluster ? (redis as Cluster).spublish(channel, message) : redis.publish(channel, message);
  },
  subscriber(redis: RedisConnectionLike): RedisConnectionLike {
    return duplicateConnection(redis, {}, { shardedSubscriber: true });
  },
  subscribe(subscriber: RedisConnectionLike, channel: string): Promise<unknown> {
    return subscriber.isCluster ? (subscriber as Cluster).ssubscribe(channel) : subscriber.subscribe(channel);
  },
  /** The event carrying a message as bytes (ioredis decodes only for the `message` / `smessage` listeners). */
  bufferEvent(subscriber: RedisConnectionLike): 'messageBuffer' | 'smessageBuffer' {
    return subscriber.isCluster ? 'smessageBuffer' : 'messageBuffer';
  },
};

const clusterSlots = 16_384;
/**
 * The Redis Cluster hash slot of a key, its hash tag honoured (CRC16/XMODEM mod 16384): the `cluster-key-slot`
 * package ioredis itself uses (CommonJS without types, hence the require).
 */
const calculateSlot = createRequire(import.meta.url)('cluster-key-slot') as (key: string) => number;

/**
 * The connection to the node holding `key`'s slot, for a command that visits one node (`SCAN`): one Redis itself; in
 * a cluster the master that ioredis's slot map (refreshed as the cluster changes) names for the key's slot, its hash
 * tag honoured. Undefined while the map names no connected master for it.
 */
export function nodeHolding(redis: RedisConnectionLike, key: string): Redis | undefined {
  if (!redis.isCluster) return redis as Redis;
  const cluster = redis as Cluster;
  const owner = cluster.slots[calculateSlot(key)]?.[0];
  return cluster.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === owner);
}

/**
 * BullMQ prefixes of the tool-call queue's shards, shard i at index i (ADR 0043). One shard: `bullPrefix`, the
 * keys as before. N shards (a cluster only): `{<prefix>:q<i>}`, or `{<prefix>:q<i>.<k>}` with the smallest k that
 * puts shard i's slot in the i-th of N equal parts of the 16384 slots. A cluster whose masters hold equal
 * contiguous slot ranges (what `redis-cli --cluster create` and managed services make) so gets N / masters shards
 * on each master when N is a multiple of the masters; every service computes the same names.
 */
export function queueShardPrefixes(redis: RedisConnectionLike, prefix: string, shards: number): string[] {
  if (shards <= 1) return [bullPrefix(redis, prefix)];
  return Array.from({ length: shards }, (_, i) => {
    for (let k = 0; ; k++) {
      const tag = k === 0 ? `${prefix}:q${i}` : `${prefix}:q${i}.${k}`;
      if (Math.floor((calculateSlot(tag) * shards) / clusterSlots) === i) return `{${tag}}`;
    }
  });
}
