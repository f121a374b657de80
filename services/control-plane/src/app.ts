import { stopSolver } from '@toolplane/reachability';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger, type Logger } from '@toolplane/logger';
import { logMixin } from '@toolplane/telemetry';
import { DataPlaneTaskClient, duplicateConnection } from '@toolplane/queue';
import { checkRedisForm, createRedisClient, redisConnectionOf, type RedisClient } from '@toolplane/redis';
import { AwsSecretsWriter, LocalSealedSecretsWriter, type SecretsWriter } from '@toolplane/secrets';
import type express from 'express';
import pg from 'pg';
import { bootstrap } from './bootstrap.ts';
import { redisKeys } from '@toolplane/contracts';
import { auditEventExport } from './db/audit-telemetry.ts';
import { applyAuditRetention, AuditTrail } from './db/audit-trail.ts';
import { auditedDb } from './db/audited-db.ts';
import { createDb, type Db } from './db/client.ts';
import { migrate } from './db/migrate.ts';
import type { ControlPlaneEnv } from './env.ts';
import { largeImportLimit } from './http/limits.ts';
import { changeWebhooksFor } from './documents/change-webhooks.ts';
import { workerFetcher } from './documents/fetch.ts';
import { ApiCatalog, apiCatalogSource } from './documents/api-catalog.ts';
import { PeopleConnections } from './catalog/people-connections.ts';
import { DebugEventHub } from './publication/debug-events.ts';
import { CatalogService, externalListerFor } from './catalog/service.ts';
import { RuntimePublisher } from './publication/publisher.ts';
import { redisStateStore, RuntimeStateKeeper } from './publication/runtime-state.ts';
import type { ControlPlaneDeps } from './resources/deps.ts';
import type { Background } from './resources/background.ts';
import { backgroundsFor } from './resources/backgrounds.ts';
import { BacktestSlots } from './http/backtest-slots.ts';
import { httpApp, managementTokenVerifier } from './http-app.ts';

/** What a test or an embedding may supply instead of what the environment configures. */
export interface ControlPlaneOverrides {
  log: Logger;
  secrets: SecretsWriter;
}

/** The write side of the configured secrets backend (SECRETS_BACKEND); the control plane never builds a reader. */
function secretsWriterFor(env: ControlPlaneEnv): SecretsWriter {
  if (env.SECRETS_BACKEND === 'aws') {
    if (!env.AWS_REGION) throw new Error('AWS_REGION is required when SECRETS_BACKEND=aws');
    return new AwsSecretsWriter({
      region: env.AWS_REGION,
      namePrefix: env.SECRETS_NAME_PREFIX,
      ...(env.SECRETS_AWS_ENDPOINT ? { endpoint: env.SECRETS_AWS_ENDPOINT } : {}),
      ...(env.SECRETS_AWS_KMS_KEY_ID ? { kmsKeyId: env.SECRETS_AWS_KMS_KEY_ID } : {}),
    });
  }
  if (!env.SECRETS_DIR || !env.SECRETS_PUBLIC_KEY_FILE)
    throw new Error('SECRETS_DIR and SECRETS_PUBLIC_KEY_FILE are required when SECRETS_BACKEND=local');
  return new LocalSealedSecretsWriter(env.SECRETS_DIR, readFileSync(env.SECRETS_PUBLIC_KEY_FILE, 'utf8'));
}

/** Redis, PostgreSQL (Prisma; `db` writes the audit trail with the changes, ADR 0037) and the records' own small pool. */
interface Stores {
  redis: RedisClient;
  db: Db;
  trail: AuditTrail;
  ingestPool: pg.Pool;
}

function openStores(env: ControlPlaneEnv, log: Logger): Stores {
  // Commands fail after about 2 s of outage instead of waiting for Redis; reconnects at least every second.
  const redis = createRedisClient(redisConnectionOf(env), {
    maxRetriesPerRequest: 2,
    retryStrategy: (times) => Math.min(times * 100, 1000),
  });
  redis.on('error', () => undefined); // reconnects by itself; outages show in /readyz and the keeper's warnings
  const onDatabaseError = (err: Error) => log.warn({ err: err.message }, 'database connection lost');
  const plain: Db = createDb(env.DATABASE_URL, onDatabaseError);
  const trail = new AuditTrail(plain, auditEventExport(log));
  const db = auditedDb(plain, trail.committed);
  // A small pool of its own for the record ingestion path (see storeExecutionRecords).
  // Bounded waits: a connection attempt to a restarting PostgreSQL must fail and be retried, never hang.
  const ingestPool = new pg.Pool({
    connectionString: env.DATABASE_URL,
    max: 2,
    connectionTimeoutMillis: 5_000,
    query_timeout: 30_000,
  });
  ingestPool.on('error', onDatabaseError);
  return { redis, db, trail, ingestPool };
}

/** Every dependency of the resources' handlers, built once (resources/deps.ts). */
function buildDeps(
  base: Pick<ControlPlaneDeps, 'env' | 'log' | 'secrets' | 'db' | 'trail' | 'redis' | 'publisher'>,
): ControlPlaneDeps {
  const { env, log, secrets, db, redis, publisher } = base;
  const prefix = env.REDIS_PREFIX;
  const tasks = new DataPlaneTaskClient({ redis, prefix, clientId: `control-plane-${randomBytes(6).toString('hex')}` });
  const fetchDocument = workerFetcher(tasks);
  return {
    ...base,
    prefix,
    tasks,
    fetchDocument,
    // Every change of what a server exposes goes through this (docs/architecture.md, "Catalog service").
    catalog: new CatalogService({ db, publisher, listExternal: externalListerFor(tasks), secrets, log }),
    // People's own-account connections: made by connect links, ended by disconnects and deletions (ADR 0027).
    people: new PeopleConnections({ db, secrets, publisher, redis, prefix, tasks, log }),
    debugEvents: new DebugEventHub(redis, prefix, log),
    // The API catalog (APIs.guru): search, and add an API as an OpenAPI connector.
    apiCatalog: new ApiCatalog({
      source: apiCatalogSource(env.API_CATALOG_SOURCE, {
        fetch: fetchDocument,
        maxDocumentBytes: env.MAX_DOCUMENT_BYTES,
        log,
      }),
      redis,
      prefix,
      cacheSeconds: env.API_CATALOG_CACHE_MINUTES * 60,
      log,
    }),
    largeImports: largeImportLimit(env.MAX_CONCURRENT_LARGE_IMPORTS, env.LARGE_IMPORT_BYTES),
    backtests: new BacktestSlots({
      max: env.BACKTEST_MAX_CONCURRENT,
      perWorkspace: env.BACKTEST_MAX_CONCURRENT_PER_WORKSPACE,
    }),
    changeWebhooks: changeWebhooksFor(tasks, log),
  };
}

/**
 * Everything edges and workers read from Redis, from PostgreSQL (the truth): at start, and again whenever the keeper
 * sees that Redis lost it; each resource's part in the registry's order (resources/backgrounds.ts: policies before
 * catalogs).
 */
async function publishRuntimeState(log: Logger, backgrounds: Background[]): Promise<void> {
  const published: Record<string, number> = {};
  for (const b of backgrounds) Object.assign(published, await b.republish?.());
  log.info(published, 'runtime state published');
}

/** The keeper of what Redis must hold, and the edges' reports of state found missing. */
interface RuntimeState {
  keeper: RuntimeStateKeeper;
  reports: RedisClient;
  /** From the end of start(): before it, the database may not be migrated yet. */
  keeping: boolean;
}

function runtimeState(deps: ControlPlaneDeps, backgrounds: Background[]): RuntimeState {
  const { redis, prefix, log, env } = deps;
  const state: RuntimeState = {
    keeper: new RuntimeStateKeeper({
      store: redisStateStore(redis, prefix),
      publish: () => publishRuntimeState(log, backgrounds),
      log,
      intervalMs: env.RUNTIME_STATE_CHECK_MS,
    }),
    reports: duplicateConnection(redis),
    keeping: false,
  };
  redis.on('ready', () => {
    if (state.keeping) void state.keeper.check();
  });
  // Edges report state they found missing although the marker is there (a document lost alone).
  state.reports.on('error', () => undefined);
  state.reports.on('message', (_channel: string, workspaceId: string) => {
    if (!state.keeping) return;
    log.warn({ workspaceId }, 'an edge found runtime state missing: republishing');
    state.keeper.markStale();
    void state.keeper.check();
  });
  return state;
}

/** What a started control plane runs besides its HTTP server. */
interface Running {
  server?: Server;
  retentionTimer?: NodeJS.Timeout;
}

interface Parts {
  deps: ControlPlaneDeps;
  ingestPool: pg.Pool;
  /** Each resource's background (resources/backgrounds.ts), in the registry's order. */
  backgrounds: Background[];
  state: RuntimeState;
  http: express.Express;
  running: Running;
}

/**
 * What is older than the retention settings goes, now and every 10 minutes: the audit trail's events, and what each
 * resource declares (records, debug captures, ended approval requests).
 */
function startRetention({ deps, ingestPool, backgrounds, running }: Parts): void {
  const { env, log } = deps;
  const retention = () => {
    const now = new Date();
    return Promise.all([
      applyAuditRetention(ingestPool, now, env.AUDIT_RETENTION_DAYS).then((auditEvents) => ({ auditEvents })),
      ...backgrounds.map((b) => b.retention?.(now)),
    ]).then(
      (parts) => log.debug(Object.assign({}, ...parts) as Record<string, unknown>, 'retention applied'),
      (err: unknown) => log.error({ err }, 'retention failed'),
    );
  };
  void retention();
  running.retentionTimer = setInterval(() => void retention(), 10 * 60_000);
  running.retentionTimer.unref();
}

async function listen({ deps, http, running }: Parts): Promise<Server> {
  const { env } = deps;
  const server = await new Promise<Server>((resolve, reject) => {
    const s = http.listen(env.PORT, env.HOST, () => resolve(s));
    s.once('error', reject);
  });
  running.server = server;
  // As the edge: idle keep-alive connections stay open longer than clients and load balancers keep theirs (60 s is
  // common). With Node's 5 s a client reusing a connection just as the server closed it got ECONNRESET (seen once in
  // the fuzz test on a loaded machine; behind a load balancer, a 502).
  server.keepAliveTimeout = 65_000;
  return server;
}

async function start(parts: Parts): Promise<Server> {
  const { deps, backgrounds, state } = parts;
  const { env, log, db, publisher, tasks } = deps;
  // A wrong Redis form or nothing answering ends startup with a RedisConfigError (bounded), never a hang.
  await checkRedisForm(redisConnectionOf(env));
  if (env.MIGRATE_ON_START) {
    const applied = await migrate(env.DATABASE_URL, log);
    if (applied.length > 0) log.info({ applied }, 'migrations applied');
  }
  const { workspaceId } = await bootstrap(db, publisher, env.BOOTSTRAP_API_KEY);
  await tasks.start();
  for (const b of backgrounds) await b.start?.();
  startRetention(parts);
  // Redis may be ephemeral: publish everything now, then keep checking (docs/failure-modes/redis.md).
  await state.keeper.restore('start');
  state.keeper.start();
  await state.reports.subscribe(redisKeys(env.REDIS_PREFIX).stateMissing);
  state.keeping = true;
  log.info({ workspaceId }, 'bootstrap done');
  const server = await listen(parts);
  for (const b of backgrounds) b.serve?.();
  return server;
}

async function stop(parts: Parts): Promise<void> {
  const { deps, ingestPool, backgrounds, state, running } = parts;
  const { server } = running;
  const closing = new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  deps.debugEvents.close(); // open event streams would keep the server from closing
  await closing;
  clearInterval(running.retentionTimer);
  state.keeping = false;
  state.keeper.stop();
  state.reports.disconnect();
  for (const b of [...backgrounds].reverse()) await b.stop?.();
  deps.changeWebhooks.stop();
  await ingestPool.end();
  await deps.tasks.close();
  await deps.db.$disconnect();
  deps.redis.disconnect();
  // The reachability solver's threads (started by the first query), so that the process may exit.
  await stopSolver();
  deps.log.flush();
}

export function createControlPlaneApp(env: ControlPlaneEnv, overrides: Partial<ControlPlaneOverrides> = {}) {
  const log = overrides.log ?? createLogger({ service: 'control-plane', level: env.LOG_LEVEL, mixin: logMixin() });
  const secrets = overrides.secrets ?? secretsWriterFor(env);
  const { redis, db, trail, ingestPool } = openStores(env, log);
  // A failed write may leave PostgreSQL ahead of Redis: the keeper then republishes once Redis answers.
  const publisher = new RuntimePublisher(redis, env.REDIS_PREFIX, () => state.keeper.markStale());
  const deps = buildDeps({ env, log, secrets, db, trail, redis, publisher });
  const backgrounds = backgroundsFor({ deps, ingestPool });
  const state = runtimeState(deps, backgrounds);
  const http = httpApp(deps, managementTokenVerifier(env, db, redis));
  const parts: Parts = { deps, ingestPool, backgrounds, state, http, running: {} };
  return {
    http,
    db,
    catalog: deps.catalog,
    get url() {
      const addr = parts.running.server?.address() as AddressInfo | undefined;
      return addr ? `http://${env.HOST}:${addr.port}` : undefined;
    },
    async start() {
      await start(parts);
      log.info({ url: this.url }, 'control plane listening');
    },
    stop: () => stop(parts),
  };
}
