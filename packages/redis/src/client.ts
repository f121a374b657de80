import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { RedisConnection, RedisTls } from './env.ts';

/** A client of any form: ioredis's `Redis` (one Redis, or a Sentinel-managed master) or its `Cluster`. */
export type RedisClient = Redis | Cluster;

/** What a caller may choose per connection; the form, addresses, credentials and TLS come from the connection. */
export type RedisClientOptions = Pick<
  RedisOptions,
  | 'connectionName'
  | 'maxRetriesPerRequest'
  | 'enableOfflineQueue'
  | 'enableAutoPipelining'
  | 'lazyConnect'
  | 'retryStrategy'
>;

export function tlsOptions(tls: RedisTls | undefined): ConnectionOptions | undefined {
  if (!tls) return undefined;
  return tls.caFile ? { ca: readFileSync(tls.caFile) } : {};
}

function perNode(conn: RedisConnection, options: RedisClientOptions): RedisOptions {
  const tls = tlsOptions(conn.tls);
  return {
    ...(options.connectionName !== undefined ? { connectionName: options.connectionName } : {}),
    ...(options.maxRetriesPerRequest !== undefined ? { maxRetriesPerRequest: options.maxRetriesPerRequest } : {}),
    ...(options.retryStrategy !== undefined ? { retryStrategy: options.retryStrategy } : {}),
    ...(conn.auth.username !== undefined ? { username: conn.auth.username } : {}),
    ...(conn.auth.password !== undefined ? { password: conn.auth.password } : {}),
    ...(tls ? { tls } : {}),
    connectTimeout: Math.min(conn.connectTimeoutMs, 10_000),
  };
}

function clusterClient(conn: RedisConnection & { form: 'cluster' }, options: RedisClientOptions): Cluster {
  return new Cluster(conn.nodes, {
    redisOptions: perNode(conn, options),
    ...(options.enableOfflineQueue !== undefined ? { enableOfflineQueue: options.enableOfflineQueue } : {}),
    ...(options.enableAutoPipelining !== undefined ? { enableAutoPipelining: options.enableAutoPipelining } : {}),
    ...(options.lazyConnect !== undefined ? { lazyConnect: options.lazyConnect } : {}),
    // The slot map is asked again every second (one CLUSTER SLOTS per client): a connection that only waits (a
    // queue's blocking read) learns of a promoted replica within a second of the promotion, not at its next error.
    slotsRefreshInterval: 1000,
    // A cluster reconnects as a whole (its node connections do not retry on their own): the same backoff there.
    ...(options.retryStrategy !== undefined ? { clusterRetryStrategy: options.retryStrategy } : {}),
    // With TLS the nodes' certificates name hosts, not the addresses CLUSTER SLOTS gives: keep the names as given.
    ...(conn.tls ? { dnsLookup: (address: string, done: (e: null, a: string) => void) => done(null, address) } : {}),
  });
}

function sentinelClient(conn: RedisConnection & { form: 'sentinel' }, options: RedisClientOptions): Redis {
  const sentinelTLS = tlsOptions(conn.sentinelTls);
  return new Redis({
    ...options,
    ...perNode(conn, options),
    sentinels: conn.sentinels,
    name: conn.masterName,
    ...(conn.tls ? { enableTLSForSentinelMode: true } : {}),
    ...(sentinelTLS ? { sentinelTLS } : {}),
    ...(conn.sentinelAuth.username !== undefined ? { sentinelUsername: conn.sentinelAuth.username } : {}),
    ...(conn.sentinelAuth.password !== undefined ? { sentinelPassword: conn.sentinelAuth.password } : {}),
    // Subscribes to the sentinels' +switch-master: a client still connected to a demoted master (a partition
    // that heals) reconnects to the new one instead of writing where nobody reads.
    failoverDetector: true,
  });
}

/**
 * The ioredis client for `conn`: `Redis` for one Redis or a Sentinel-managed master, `Cluster` for a cluster. It
 * connects in the background as ioredis does; `connectRedis` (startup) also checks that the form is the right one.
 */
export function createRedisClient(conn: RedisConnection, options: RedisClientOptions = {}): RedisClient {
  if (conn.form === 'cluster') return clusterClient(conn, options);
  if (conn.form === 'sentinel') return sentinelClient(conn, options);
  return new Redis(withoutCredentials(conn.url), { ...options, ...perNode(conn, options) });
}

/** The URL's credentials are in `conn.auth` already, merged with REDIS_USERNAME / REDIS_PASSWORD (which win). */
function withoutCredentials(text: string): string {
  const url = new URL(text);
  url.username = '';
  url.password = '';
  return url.toString();
}
