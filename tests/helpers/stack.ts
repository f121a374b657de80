// The test stack: the whole platform as separate processes on the test Redis and a fresh PostgreSQL database
// (startTestStack), and what a test needs around it (a client of its Redis, a temporary directory, descriptor and
// request-body helpers).
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack, type Stack, type StackOptions } from '@toolplane/cli';
import { createManagementClient, type ManagementClient } from '@toolplane/client';
import pg from 'pg';
import { scaled } from '@toolplane/embedded';
import { createRedisClient, RedisEnv, type RedisClient } from '@toolplane/redis';
import { startContractProxy } from '../contract/api-contract.ts';

/** The real services started by tests/setup/global-setup.js. Missing ones fail the test, never skip it. */
function testServices(): { redisUrl: string; adminDatabaseUrl: string } {
  const redisUrl = process.env.TEST_REDIS_URL;
  const adminDatabaseUrl = process.env.TEST_POSTGRES_ADMIN_URL ?? process.env.TEST_DATABASE_URL;
  if (!redisUrl || !adminDatabaseUrl)
    throw new Error('TEST_REDIS_URL and TEST_DATABASE_URL must be set (jest globalSetup starts them)');
  return { redisUrl, adminDatabaseUrl };
}

/**
 * The services' Redis variables when this file runs on another form (TEST_REDIS_FORM, set by scripts/run-tests.ts for
 * the files it runs on every form): the shared Redis Cluster (its tool-call queue in three shards) or Sentinel setup
 * of tests/setup/global-setup.js. Undefined on the default single Redis. A form without its servers fails the file.
 */
function testRedisForm(): { redis: Record<string, string>; shards: Record<string, string> } | undefined {
  const form = process.env.TEST_REDIS_FORM;
  if (!form) return undefined;
  const { TEST_REDIS_CLUSTER_NODES: nodes, TEST_REDIS_SENTINELS: sentinels } = process.env;
  if (form === 'cluster' && nodes)
    return { redis: { REDIS_CLUSTER_NODES: nodes }, shards: { REDIS_QUEUE_SHARDS: '3' } };
  if (form === 'sentinel' && sentinels)
    return {
      redis: { REDIS_SENTINELS: sentinels, REDIS_SENTINEL_MASTER: process.env.TEST_REDIS_SENTINEL_MASTER ?? '' },
      shards: {},
    };
  throw new Error(`TEST_REDIS_FORM=${form}: its servers are not set (TEST_REDIS_FORMS in the global setup)`);
}

/** A client of the stack's Redis, whatever its form (the test's own URL, the shared Redis, or TEST_REDIS_FORM's). */
export function stackRedis(stack: Stack): RedisClient {
  const form = stack.redisUrl ? undefined : testRedisForm();
  return createRedisClient(RedisEnv.parse(form ? form.redis : { REDIS_URL: stack.redisUrl }), { lazyConnect: true });
}

/** A new empty database on the test PostgreSQL server, for one test file. */
async function freshDatabase(label: string): Promise<string> {
  const { adminDatabaseUrl } = testServices();
  const name = `t_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  const client = new pg.Client({ connectionString: adminDatabaseUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  const url = new URL(adminDatabaseUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export function tempDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `toolplane-${label}-`));
}

function uniquePrefix(label: string): string {
  return `t${label.replace(/[^a-z0-9]/gi, '')}${randomBytes(3).toString('hex')}`;
}

/** The seed-001 descriptor without its `rate_limits` block (load tests would be throttled). */
export function withoutRateLimits(descriptorYaml: string): string {
  const out = descriptorYaml.replace(/\nrate_limits:\n(?: {2}.*\n)+/, '\n');
  if (out === descriptorYaml) throw new Error('no rate_limits block to remove');
  return out;
}

/**
 * The whole platform as separate processes on the test Redis (own key prefix) and a fresh PostgreSQL database,
 * plus a typed management client (@toolplane/client) with the bootstrap key. `redisUrl`: a Redis of the test's
 * own instead (one it may kill and restart), or `redis` its variables in another form; `databaseUrl`: a PostgreSQL of the test's own (one it may stop).
 */
export async function startTestStack(
  label: string,
  opts: Omit<StackOptions, 'dataDir' | 'redisPrefix'> & {
    /** false: answers are not held to this checkout's OpenAPI document (a control plane of another version). */
    contract?: boolean;
  } = {},
): Promise<{
  stack: Stack;
  api: ManagementClient;
  /** The control plane itself, past the contract proxy: for requests the document must not describe. */
  directControlPlaneUrl: string;
}> {
  const { databaseUrl, contract = true, ...rest } = opts;
  const form = rest.redis || rest.redisUrl ? undefined : testRedisForm();
  // Every call to the management API goes through the contract proxy (tests/contract/api-contract.ts):
  // a response or accepted request the OpenAPI document does not describe fails the file at stop. The
  // dashboard is reached through it too, so its origin is the one the edge allows (CORS, "Try a tool").
  const proxy = await startContractProxy(label);
  const started = await startStack({
    dataDir: tempDir(label),
    redisPrefix: uniquePrefix(label),
    databaseUrl: databaseUrl ?? (await freshDatabase(label)),
    // A loaded machine drains a stopped service's calls more slowly: SIGKILL only after the scaled grace.
    stopGraceMs: scaled(10_000),
    ...rest,
    // `redis`: a Redis of another form (a cluster, Sentinel) instead of a URL; TEST_REDIS_FORM's for the shared one.
    ...(rest.redis || rest.redisUrl ? {} : form ? { redis: form.redis } : { redisUrl: testServices().redisUrl }),
    serviceEnv: {
      ...rest.serviceEnv,
      edge: { ALLOWED_ORIGINS: proxy.url, ...form?.shards, ...rest.serviceEnv?.edge },
      worker: { ...form?.shards, ...rest.serviceEnv?.worker },
    },
  }).catch(async (err: unknown) => {
    await proxy.close(); // a failed start must not leave the proxy keeping the test process alive
    throw err;
  });
  proxy.setTarget(started.controlPlaneUrl);
  const stack: Stack = {
    ...started,
    controlPlaneUrl: proxy.url,
    stop: async () => {
      await started.stop();
      await proxy.close();
      const violations = proxy.violations();
      if (contract && violations.length > 0)
        throw new Error(`the management API broke its OpenAPI document (docs/openapi.json):\n${violations.join('\n')}`);
    },
  };
  return {
    stack,
    api: createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey),
    directControlPlaneUrl: started.controlPlaneUrl,
  };
}

/**
 * The options of a typed-client call that sends `text` as it is, as `application/yaml` (a connector descriptor or
 * document upload): the generated body types are the parsed document, which openapi-fetch would send as JSON.
 */
export function yamlBody(text: string) {
  return {
    body: text as never,
    bodySerializer: (body: unknown) => body as string,
    headers: { 'content-type': 'application/yaml' },
  };
}
