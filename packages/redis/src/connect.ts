import { Redis } from 'ioredis';
import { createRedisClient, tlsOptions, type RedisClient, type RedisClientOptions } from './client.ts';
import type { RedisAddress, RedisAuth, RedisConnection, RedisTls } from './env.ts';

/**
 * A configuration that cannot work (the wrong form for the server found, a master name no sentinel knows, nothing
 * answering in time): a service refuses to start with this message instead of retrying forever.
 */
export class RedisConfigError extends Error {
  override name = 'RedisConfigError';
}

interface ProbeTarget {
  address: RedisAddress;
  auth: RedisAuth;
  tls: RedisTls | undefined;
}

type Pass<T> = { answers: { address: RedisAddress; value: T }[]; unreachable: string[] };

const label = (a: RedisAddress) => (a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`);

/** One short-lived connection to `target` that never reconnects: `ask` runs once, or the connection's error is thrown. */
type Ask<T> = (r: Redis, address: RedisAddress) => Promise<T>;

async function probe<T>(target: ProbeTarget, timeoutMs: number, ask: Ask<T>): Promise<T> {
  const tls = tlsOptions(target.tls);
  const r = new Redis({
    ...target.address,
    ...target.auth,
    ...(tls ? { tls } : {}),
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    enableReadyCheck: false,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
  });
  // connect() rejects with a bare "Connection is closed."; the cause (ECONNREFUSED, a TLS failure) comes as an event.
  let cause: Error | undefined;
  r.on('error', (err: Error) => (cause = err));
  try {
    await r.connect().catch((err: Error) => {
      throw cause ?? err;
    });
    return await ask(r, target.address).catch((err: Error) => {
      if (/NOAUTH|WRONGPASS|invalid password|invalid username/i.test(err.message))
        throw new RedisConfigError(`${label(target.address)} refused the credentials: ${err.message}`);
      throw err;
    });
  } finally {
    r.disconnect();
  }
}

/**
 * Asks every target once per pass until some answer or `deadline` passes; `ask` may throw RedisConfigError (a
 * wrong configuration ends at once); anything else counts as unreachable for that pass.
 */
async function untilAnswered<T>(targets: ProbeTarget[], deadline: number, ask: Ask<T>): Promise<Pass<T>> {
  for (;;) {
    const timeoutMs = Math.max(100, Math.min(2_000, deadline - Date.now()));
    const settled = await Promise.allSettled(targets.map((t) => probe(t, timeoutMs, ask)));
    const pass: Pass<T> = { answers: [], unreachable: [] };
    settled.forEach((s, i) => {
      const address = targets[i]!.address;
      if (s.status === 'fulfilled') pass.answers.push({ address, value: s.value });
      else if (s.reason instanceof RedisConfigError) throw s.reason;
      else pass.unreachable.push(`${label(address)} (${(s.reason as Error).message})`);
    });
    if (pass.answers.length > 0 || Date.now() >= deadline) return pass;
    await new Promise((r) => setTimeout(r, Math.min(200, Math.max(0, deadline - Date.now()))));
  }
}

function infoField(info: string, field: string): string | undefined {
  return new RegExp(`^${field}:(\\S+)`, 'm').exec(info)?.[1];
}

/** What the server at an address is, from INFO: a cluster node, a sentinel, or one Redis (`single`). */
function serverKind(info: string): 'cluster' | 'sentinel' | 'single' {
  if (infoField(info, 'redis_mode') === 'sentinel') return 'sentinel';
  return infoField(info, 'cluster_enabled') === '1' ? 'cluster' : 'single';
}

const wrongForm = {
  cluster: 'it is a Redis Cluster node (cluster_enabled:1): list the cluster\u2019s nodes in REDIS_CLUSTER_NODES',
  sentinel: 'it is a Sentinel: set REDIS_SENTINELS and REDIS_SENTINEL_MASTER',
  single: 'it is not a cluster node (cluster_enabled:0): one Redis goes in REDIS_URL',
} as const;

function nothingAnswered(variable: string, pass: Pass<unknown>, timeoutMs: number): RedisConfigError {
  return new RedisConfigError(`${variable}: nothing answered within ${timeoutMs} ms: ${pass.unreachable.join('; ')}`);
}

async function checkDataNodes(conn: RedisConnection & { form: 'single' | 'cluster' }, deadline: number): Promise<void> {
  const variable = conn.form === 'single' ? 'REDIS_URL' : 'REDIS_CLUSTER_NODES';
  const addresses = conn.form === 'single' ? [urlAddress(conn.url)] : conn.nodes;
  const targets = addresses.map((address) => ({ address, auth: conn.auth, tls: conn.tls }));
  const pass = await untilAnswered(targets, deadline, (r) => r.info());
  if (pass.answers.length === 0) throw nothingAnswered(variable, pass, conn.connectTimeoutMs);
  for (const { address, value } of pass.answers) {
    const kind = serverKind(value);
    if (kind !== conn.form)
      throw new RedisConfigError(`${variable}: ${label(address)} does not fit: ${wrongForm[kind]}`);
  }
}

function urlAddress(text: string): RedisAddress {
  const url = new URL(text);
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 6379) };
}

async function checkSentinels(conn: RedisConnection & { form: 'sentinel' }, deadline: number): Promise<void> {
  const targets = conn.sentinels.map((address) => ({ address, auth: conn.sentinelAuth, tls: conn.sentinelTls }));
  const pass = await untilAnswered(targets, deadline, async (r, address) => {
    try {
      return (await r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', conn.masterName)) as string[] | null;
    } catch (err) {
      if (/unknown command|unknown subcommand/i.test((err as Error).message))
        throw new RedisConfigError(`REDIS_SENTINELS: ${label(address)} is not a sentinel (${(err as Error).message})`);
      throw err;
    }
  });
  if (pass.answers.length === 0) throw nothingAnswered('REDIS_SENTINELS', pass, conn.connectTimeoutMs);
  if (pass.answers.some((a) => a.value !== null)) return;
  const known = await probe(targets[0]!, 2_000, (r) => r.call('SENTINEL', 'MASTERS')).then(
    (masters) => (masters as string[][]).map((m) => m[m.indexOf('name') + 1]).join(', ') || 'none',
    () => 'unknown',
  );
  throw new RedisConfigError(
    `REDIS_SENTINEL_MASTER: no sentinel monitors a master named "${conn.masterName}" (they monitor: ${known})`,
  );
}

/** Resolves once `client` is ready; rejects (and leaves it to the caller to disconnect) at `deadline`. */
function ready(client: RedisClient, deadline: number, what: string, timeoutMs: number): Promise<void> {
  if (client.status === 'wait') void client.connect().catch(() => undefined);
  return new Promise((resolve, reject) => {
    if (client.status === 'ready') return resolve();
    let last: string | undefined;
    const onError = (err: Error) => (last = err.message);
    const onReady = () => {
      done();
      resolve();
    };
    const timer = setTimeout(
      () => {
        done();
        reject(
          new RedisConfigError(`${what} was not ready within ${timeoutMs} ms${last ? ` (last error: ${last})` : ''}`),
        );
      },
      Math.max(0, deadline - Date.now()),
    );
    const done = () => {
      clearTimeout(timer);
      client.off('error', onError);
      client.off('ready', onReady);
    };
    client.on('error', onError);
    client.once('ready', onReady);
  });
}

/**
 * The startup check alone (for clients created before it, as the services create theirs): the configured form is
 * the one the servers have, within `deadline` (default: `conn.connectTimeoutMs` from now), or a RedisConfigError.
 */
export async function checkRedisForm(
  conn: RedisConnection,
  deadline = Date.now() + conn.connectTimeoutMs,
): Promise<void> {
  if (conn.form === 'sentinel') await checkSentinels(conn, deadline);
  else await checkDataNodes(conn, deadline);
}

const described = {
  single: 'REDIS_URL',
  cluster: 'the cluster of REDIS_CLUSTER_NODES',
  sentinel: 'the master of REDIS_SENTINEL_MASTER',
} as const;

/**
 * Startup: checks that the configured form is the one the servers have (a cluster node given as REDIS_URL, a
 * single Redis listed as a cluster seed, a master name no sentinel knows are refused at once), then connects
 * and resolves with the ready client. Everything within `conn.connectTimeoutMs`, or a RedisConfigError says
 * what did not answer. After startup the client reconnects on its own (failovers included), as ioredis does.
 */
export async function connectRedis(conn: RedisConnection, options: RedisClientOptions = {}): Promise<RedisClient> {
  const deadline = Date.now() + conn.connectTimeoutMs;
  await checkRedisForm(conn, deadline);
  const client = createRedisClient(conn, options);
  try {
    await ready(client, deadline, described[conn.form], conn.connectTimeoutMs);
    return client;
  } catch (err) {
    client.disconnect();
    throw err;
  }
}
