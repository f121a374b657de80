import { z } from 'zod';

/**
 * The three ways to reach Redis (ADR 0043): one Redis (`REDIS_URL`, as every service has it today), a Redis Cluster
 * (`REDIS_CLUSTER_NODES`, seed nodes) or a Sentinel-managed master (`REDIS_SENTINELS` + `REDIS_SENTINEL_MASTER`).
 * Exactly one form; credentials and TLS apply to whichever is chosen.
 */

export interface RedisAddress {
  host: string;
  port: number;
}

export interface RedisAuth {
  username?: string;
  password?: string;
}

/** TLS towards the data nodes or the sentinels: `ca` is a PEM file's path (a managed service's private CA). */
export interface RedisTls {
  caFile?: string;
}

interface Common {
  auth: RedisAuth;
  tls?: RedisTls;
  /** How long startup checks may take in all before the configuration counts as wrong (ms). */
  connectTimeoutMs: number;
}

export type RedisConnection =
  | (Common & { form: 'single'; url: string })
  | (Common & { form: 'cluster'; nodes: RedisAddress[] })
  | (Common & {
      form: 'sentinel';
      sentinels: RedisAddress[];
      masterName: string;
      sentinelAuth: RedisAuth;
      sentinelTls?: RedisTls;
    });

const flag = z
  .enum(['true', 'false', ''])
  .optional()
  .transform((v) => v === 'true');
const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === '' ? undefined : v));

/** The fields, to spread into a service's env schema (described for docs/configuration.md). */
export const redisEnvShape = {
  REDIS_URL: optionalText.describe('One Redis: `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS.'),
  REDIS_CLUSTER_NODES: optionalText.describe(
    'A Redis Cluster instead: comma-separated seed nodes, `redis://host:port` or `rediss://host:port` (all alike); the rest are discovered.',
  ),
  REDIS_SENTINELS: optionalText.describe('A Sentinel-managed master instead: comma-separated sentinels, `host:port`.'),
  REDIS_SENTINEL_MASTER: optionalText.describe(
    'With REDIS_SENTINELS: the name the sentinels monitor the master under.',
  ),
  REDIS_USERNAME: optionalText.describe('ACL user of the data nodes (wins over a URL\u2019s).'),
  REDIS_PASSWORD: optionalText.describe('Password of the data nodes (wins over a URL\u2019s).'),
  REDIS_SENTINEL_USERNAME: optionalText.describe('ACL user of the sentinels, when they require one.'),
  REDIS_SENTINEL_PASSWORD: optionalText.describe('Password of the sentinels, when they require one.'),
  REDIS_TLS: flag.describe('`true`: TLS to the data nodes (implied by `rediss://`; needed with REDIS_SENTINELS).'),
  REDIS_SENTINEL_TLS: flag.describe('`true`: TLS to the sentinels too.'),
  REDIS_TLS_CA_FILE: optionalText.describe(
    'PEM file of the CA that signed the Redis certificates (default: the system CAs).',
  ),
  REDIS_CONNECT_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(100)
    .default(10_000)
    .describe('How long startup may take to reach Redis and check its form before the service refuses to start (ms).'),
};

const RedisEnvObject = z.object(redisEnvShape);
/** The Redis fields of a parsed env (a service's env has them through `redisEnvShape`). */
export type RedisEnvValues = z.output<typeof RedisEnvObject>;

function list(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function redisUrl(text: string, name: string): URL | string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `${name}: "${text}" is not a URL (redis://host:port or rediss://host:port)`;
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:')
    return `${name}: ${url.protocol}// is not a Redis URL (redis:// or rediss://)`;
  return url;
}

function clusterNodes(text: string): { nodes: RedisAddress[]; tls: boolean; auth: RedisAuth } | string {
  const urls: URL[] = [];
  for (const item of list(text)) {
    const url = redisUrl(item, 'REDIS_CLUSTER_NODES');
    if (typeof url === 'string') return url;
    // A cluster has database 0 only: a seed naming another one is a single Redis's URL.
    if (url.pathname !== '' && url.pathname !== '/' && url.pathname !== '/0')
      return `REDIS_CLUSTER_NODES: ${url.host} names database ${url.pathname.slice(1)}; a Redis Cluster has database 0 only`;
    urls.push(url);
  }
  if (urls.length === 0) return 'REDIS_CLUSTER_NODES: no seed node';
  if (new Set(urls.map((u) => u.protocol)).size > 1)
    return 'REDIS_CLUSTER_NODES: mixes redis:// and rediss:// seeds; TLS is all or nothing in a cluster';
  if (new Set(urls.map((u) => `${u.username}:${u.password}`)).size > 1)
    return 'REDIS_CLUSTER_NODES: the seeds carry different credentials; give them once (REDIS_USERNAME / REDIS_PASSWORD)';
  const first = urls[0]!;
  return {
    nodes: urls.map((u) => ({ host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 6379) })),
    tls: first.protocol === 'rediss:',
    auth: urlAuth(first),
  };
}

function urlAuth(url: URL): RedisAuth {
  return {
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
  };
}

function sentinelAddresses(text: string): RedisAddress[] | string {
  const out: RedisAddress[] = [];
  for (const item of list(text)) {
    const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(item);
    if (!m || Number(m[3]) > 65535) return `REDIS_SENTINELS: "${item}" is not host:port`;
    out.push({ host: (m[1] ?? m[2])!, port: Number(m[3]) });
  }
  return out.length > 0 ? out : 'REDIS_SENTINELS: no sentinel';
}

function withoutUndefined(auth: RedisAuth): RedisAuth {
  return Object.fromEntries(Object.entries(auth).filter(([, v]) => v !== undefined)) as RedisAuth;
}

/** The one form the values choose, or what is wrong with them. */
function toConnection(v: RedisEnvValues): RedisConnection | string {
  const chosen = (['REDIS_URL', 'REDIS_CLUSTER_NODES', 'REDIS_SENTINELS'] as const).filter((k) => v[k] !== undefined);
  if (chosen.length === 0)
    return 'set one of REDIS_URL (one Redis), REDIS_CLUSTER_NODES (a cluster) or REDIS_SENTINELS (Sentinel)';
  if (chosen.length > 1) return `${chosen.join(' and ')} are both set: choose one form of Redis`;
  if (v.REDIS_SENTINEL_MASTER !== undefined && !v.REDIS_SENTINELS)
    return 'REDIS_SENTINEL_MASTER is set without REDIS_SENTINELS';
  const explicit = withoutUndefined({ username: v.REDIS_USERNAME, password: v.REDIS_PASSWORD });
  const tls = (on: boolean): RedisTls | undefined =>
    on ? (v.REDIS_TLS_CA_FILE ? { caFile: v.REDIS_TLS_CA_FILE } : {}) : undefined;
  const common = { connectTimeoutMs: v.REDIS_CONNECT_TIMEOUT_MS };
  if (v.REDIS_URL !== undefined) {
    if (list(v.REDIS_URL).length > 1)
      return 'REDIS_URL: one URL only; a cluster\u2019s nodes go in REDIS_CLUSTER_NODES';
    const url = redisUrl(v.REDIS_URL, 'REDIS_URL');
    if (typeof url === 'string') return url;
    const on = url.protocol === 'rediss:' || v.REDIS_TLS;
    return { form: 'single', url: v.REDIS_URL, auth: { ...urlAuth(url), ...explicit }, ...withTls(tls(on)), ...common };
  }
  if (v.REDIS_CLUSTER_NODES !== undefined) {
    const parsed = clusterNodes(v.REDIS_CLUSTER_NODES);
    if (typeof parsed === 'string') return parsed;
    const auth = { ...parsed.auth, ...explicit };
    return { form: 'cluster', nodes: parsed.nodes, auth, ...withTls(tls(parsed.tls || v.REDIS_TLS)), ...common };
  }
  const sentinels = sentinelAddresses(v.REDIS_SENTINELS!);
  if (typeof sentinels === 'string') return sentinels;
  if (!v.REDIS_SENTINEL_MASTER)
    return 'REDIS_SENTINELS needs REDIS_SENTINEL_MASTER (the name the sentinels monitor the master under)';
  const sentinelAuth = withoutUndefined({ username: v.REDIS_SENTINEL_USERNAME, password: v.REDIS_SENTINEL_PASSWORD });
  const sentinelTls = tls(v.REDIS_SENTINEL_TLS);
  return {
    form: 'sentinel',
    sentinels,
    masterName: v.REDIS_SENTINEL_MASTER,
    auth: explicit,
    sentinelAuth,
    ...withTls(tls(v.REDIS_TLS)),
    ...(sentinelTls ? { sentinelTls } : {}),
    ...common,
  };
}

function withTls(tls: RedisTls | undefined): { tls?: RedisTls } {
  return tls ? { tls } : {};
}

/**
 * The env schema of a Redis connection alone (for `loadEnv`): the fields of `redisEnvShape`, resolved to one
 * `RedisConnection`, every mistake an issue naming the variables to fix.
 */
export const RedisEnv = RedisEnvObject.transform((values, ctx): RedisConnection => {
  const connection = toConnection(values);
  if (typeof connection === 'string') {
    ctx.addIssue({ code: 'custom', message: connection });
    return z.NEVER;
  }
  return connection;
});

/** For a service's env schema (`.superRefine(checkRedisEnv)`): what is wrong with its Redis fields, as issues. */
export function checkRedisEnv(values: RedisEnvValues, ctx: z.RefinementCtx): void {
  const connection = toConnection(values);
  if (typeof connection === 'string') ctx.addIssue({ code: 'custom', message: connection });
}

/** The connection a service's parsed env chooses (pure; the env passed `checkRedisEnv` when it was loaded). */
export function redisConnectionOf(values: RedisEnvValues): RedisConnection {
  const connection = toConnection(values);
  if (typeof connection === 'string') throw new Error(connection);
  return connection;
}

/**
 * The tool-call queue in shards (edge and worker; ADR 0043): each shard is a BullMQ queue of its own hash slot, so
 * a cluster spreads them over its masters. Every edge and worker of a deployment must say the same: the first
 * to start records it in Redis and the others refuse to start with another value.
 */
export const queueShardsShape = {
  REDIS_QUEUE_SHARDS: z.coerce
    .number()
    .int()
    .min(1)
    .max(256)
    .default(1)
    .describe(
      'Queues the tool calls are spread over, one hash slot each (with REDIS_CLUSTER_NODES only; 2-4 per master). The same on every edge and worker.',
    ),
};

/** For `.superRefine`: more than one shard needs a cluster (on one Redis or Sentinel, shards only add keys). */
export function checkQueueShards(values: RedisEnvValues & { REDIS_QUEUE_SHARDS: number }, ctx: z.RefinementCtx): void {
  if (values.REDIS_QUEUE_SHARDS > 1 && values.REDIS_CLUSTER_NODES === undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['REDIS_QUEUE_SHARDS'],
      message:
        'REDIS_QUEUE_SHARDS above 1 spreads the queue over a cluster\u2019s masters: it needs REDIS_CLUSTER_NODES ' +
        '(one Redis or a Sentinel-managed master runs every shard on the same core)',
    });
}
