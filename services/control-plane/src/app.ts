import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { redisKeys } from '@toolplane/contracts';
import { createLogger, type Logger } from '@toolplane/logger';
import { logMixin } from '@toolplane/telemetry';
import { DataPlaneTaskClient, ExecutionRecordStream } from '@toolplane/queue';
import { AwsSecretsWriter, LocalSealedSecretsWriter, type SecretsWriter } from '@toolplane/secrets';
import pg from 'pg';
import { Redis } from 'ioredis';
import { bootstrap } from './bootstrap.ts';
import { createDb, type Db } from './db/client.ts';
import { migrate } from './db/migrate.ts';
import type { ControlPlaneEnv } from './env.ts';
import { largeImportLimit } from './http/limits.ts';
import { republishAccess } from './resources/access-policies/publish.ts';
import { workerFetcher } from './documents/fetch.ts';
import { ApiCatalog, apiCatalogSource } from './resources/api-catalog/source.ts';
import { republishApiKeys } from './resources/api-keys/keys.ts';
import { republishUsers } from './resources/external-users/republish.ts';
import { PeopleConnections } from './resources/external-users/people-connections.ts';
import { republishServerIdentity } from './resources/servers/identity.ts';
import { DebugEventHub } from './resources/debug-sessions/events.ts';
import { publishDebugSession } from './resources/debug-sessions/sessions.ts';
import { applyRetention } from './resources/execution-records/retention.ts';
import { announceStoredRecords, storeExecutionRecords } from './resources/execution-records/store.ts';
import { startExternalToolsRefresher } from './resources/external-mcp-servers/refresh.ts';
import { CatalogService, externalListerFor } from './catalog/service.ts';
import { RuntimePublisher } from './publication/publisher.ts';
import { redisStateStore, RuntimeStateKeeper } from './publication/runtime-state.ts';
import type { ControlPlaneDeps } from './resources/deps.ts';
import { httpApp, managementTokenVerifier } from './http-app.ts';

/** How often the catalog reconciler compares Redis with PostgreSQL. */
const CATALOG_RECONCILE_MS = 30_000;

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

export function createControlPlaneApp(env: ControlPlaneEnv, overrides: Partial<ControlPlaneOverrides> = {}) {
  const log = overrides.log ?? createLogger({ service: 'control-plane', level: env.LOG_LEVEL, mixin: logMixin() });
  const secrets = overrides.secrets ?? secretsWriterFor(env);
  // Commands fail after about 2 s of outage instead of waiting for Redis; reconnects at least every second.
  const redis = new Redis(env.REDIS_URL, {
    maxRetriesPerRequest: 2,
    retryStrategy: (times) => Math.min(times * 100, 1000),
  });
  redis.on('error', () => undefined); // reconnects by itself; outages show in /readyz and the keeper's warnings
  const onDatabaseError = (err: Error) => log.warn({ err: err.message }, 'database connection lost');
  const db: Db = createDb(env.DATABASE_URL, onDatabaseError);
  // A failed write may leave PostgreSQL ahead of Redis: the keeper then republishes once Redis answers.
  const publisher = new RuntimePublisher(redis, env.REDIS_PREFIX, () => keeper.markStale());
  // A small pool of its own for the record ingestion path (see storeExecutionRecords).
  // Bounded waits: a connection attempt to a restarting PostgreSQL must fail and be retried, never hang.
  const ingestPool = new pg.Pool({
    connectionString: env.DATABASE_URL,
    max: 2,
    connectionTimeoutMillis: 5_000,
    query_timeout: 30_000,
  });
  ingestPool.on('error', onDatabaseError);
  const records = new ExecutionRecordStream({
    redis,
    prefix: env.REDIS_PREFIX,
    consumer: `control-plane-${randomBytes(6).toString('hex')}`,
    // Announced after the commit: every replica's debug-session event streams then read them.
    store: async (batch) => {
      await storeExecutionRecords(ingestPool, batch);
      await announceStoredRecords(redis, env.REDIS_PREFIX, batch);
    },
    onError: (err) => log.error({ err }, 'execution records could not be stored; retrying'),
  });
  const tasks = new DataPlaneTaskClient({
    redis,
    prefix: env.REDIS_PREFIX,
    clientId: `control-plane-${randomBytes(6).toString('hex')}`,
  });

  // Every change of what a server exposes goes through this (docs/architecture.md, "Catalog service").
  const catalog = new CatalogService({ db, publisher, listExternal: externalListerFor(tasks), secrets, log });
  // People's own-account connections: made by connect links, ended by disconnects and deletions (ADR 0027).
  const people = new PeopleConnections({ db, secrets, publisher, redis, prefix: env.REDIS_PREFIX, tasks, log });

  const oauth = managementTokenVerifier(env, db);
  const fetchDocument = workerFetcher(tasks);
  const deps: ControlPlaneDeps = {
    env,
    log,
    db,
    redis,
    prefix: env.REDIS_PREFIX,
    secrets,
    publisher,
    catalog,
    tasks,
    fetchDocument,
    people,
    debugEvents: new DebugEventHub(redis, env.REDIS_PREFIX, log),
    // The API catalog (APIs.guru): search, and add an API as an OpenAPI connector.
    apiCatalog: new ApiCatalog({
      source: apiCatalogSource(env.API_CATALOG_SOURCE, {
        fetch: fetchDocument,
        maxDocumentBytes: env.MAX_DOCUMENT_BYTES,
        log,
      }),
      redis,
      prefix: env.REDIS_PREFIX,
      cacheSeconds: env.API_CATALOG_CACHE_MINUTES * 60,
      log,
    }),
    largeImports: largeImportLimit(env.MAX_CONCURRENT_LARGE_IMPORTS, env.LARGE_IMPORT_BYTES),
  };
  const { debugEvents } = deps;
  const http = httpApp(deps, oauth);

  /**
   * Everything edges and workers read from Redis, from PostgreSQL (the truth): at start, and again
   * whenever the keeper sees that Redis lost it. Policies first: a catalog must never be served without
   * its workspace's policies (edges fail closed without them, see services/edge/src/access.ts).
   */
  async function publishRuntimeState(): Promise<void> {
    await records.ensureGroup();
    const workspaces = await republishAccess(db, publisher);
    const published = { catalogs: await catalog.republishAll(), keys: await republishApiKeys(db, publisher) };
    const users = await republishUsers(db, redis, env.REDIS_PREFIX, secrets);
    await republishServerIdentity(db, redis, env.REDIS_PREFIX);
    for (const s of await db.debugSession.findMany({ where: { closedAt: null, endsAt: { gt: new Date() } } }))
      await publishDebugSession(redis, env.REDIS_PREFIX, s);
    log.info({ workspaces, ...published, users }, 'runtime state published');
  }
  const keeper = new RuntimeStateKeeper({
    store: redisStateStore(redis, env.REDIS_PREFIX),
    publish: publishRuntimeState,
    log,
    intervalMs: env.RUNTIME_STATE_CHECK_MS,
  });
  let keeping = false; // from the end of start(): before it, the database may not be migrated yet
  redis.on('ready', () => {
    if (keeping) void keeper.check();
  });
  // Edges report state they found missing although the marker is there (a document lost alone).
  const stateReports = redis.duplicate();
  stateReports.on('error', () => undefined);
  stateReports.on('message', (_channel: string, workspaceId: string) => {
    if (!keeping) return;
    log.warn({ workspaceId }, 'an edge found runtime state missing: republishing');
    keeper.markStale();
    void keeper.check();
  });

  let server: Server | undefined;
  let retentionTimer: NodeJS.Timeout | undefined;
  let refresher: ReturnType<typeof startExternalToolsRefresher> | undefined;
  let reconciler: ReturnType<CatalogService['startReconciler']> | undefined;
  const retention = () =>
    applyRetention(ingestPool, {
      now: new Date(),
      recordsDays: env.RECORDS_RETENTION_DAYS,
      debugHours: env.DEBUG_RETENTION_HOURS,
    }).then(
      (deleted) => log.debug({ deleted }, 'retention applied'),
      (err: unknown) => log.error({ err }, 'retention failed'),
    );
  return {
    http,
    db,
    catalog,
    get url() {
      const addr = server?.address() as AddressInfo | undefined;
      return addr ? `http://${env.HOST}:${addr.port}` : undefined;
    },
    async start() {
      if (env.MIGRATE_ON_START) {
        const applied = await migrate(env.DATABASE_URL, log);
        if (applied.length > 0) log.info({ applied }, 'migrations applied');
      }
      const { workspaceId } = await bootstrap(db, publisher, env.BOOTSTRAP_API_KEY);
      await tasks.start();
      await records.start();
      void retention();
      retentionTimer = setInterval(() => void retention(), 10 * 60_000);
      retentionTimer.unref();
      // Redis may be ephemeral: publish everything now, then keep checking (docs/failure-modes/redis.md).
      await keeper.restore('start');
      keeper.start();
      await stateReports.subscribe(redisKeys(env.REDIS_PREFIX).stateMissing);
      keeping = true;
      log.info({ workspaceId }, 'bootstrap done');
      await new Promise<void>((resolve, reject) => {
        server = http.listen(env.PORT, env.HOST, () => resolve());
        server.once('error', reject);
      });
      // As the edge: idle keep-alive connections stay open longer than clients and load balancers keep theirs (60 s
      // is common). With Node's 5 s a client reusing a connection just as the server closed it got ECONNRESET (seen
      // once in the fuzz test on a loaded machine; behind a load balancer, a 502).
      server!.keepAliveTimeout = 65_000;
      log.info({ url: this.url }, 'control plane listening');
      // A catalog committed but not published (Redis failed after the commit) is published by this.
      reconciler = catalog.startReconciler(CATALOG_RECONCILE_MS);
      // External MCP servers' tool lists are re-listed periodically (docs/architecture.md, "External MCP servers").
      if (env.EXTERNAL_TOOLS_REFRESH_SECONDS > 0) {
        refresher = startExternalToolsRefresher({
          db,
          catalog,
          listExternal: externalListerFor(tasks),
          log,
          redis,
          prefix: env.REDIS_PREFIX,
          intervalMs: Math.round(env.EXTERNAL_TOOLS_REFRESH_SECONDS * 1000),
        });
      }
    },
    async stop() {
      const closing = new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      debugEvents.close(); // open event streams would keep the server from closing
      await closing;
      clearInterval(retentionTimer);
      keeping = false;
      keeper.stop();
      stateReports.disconnect();
      await refresher?.stop();
      await reconciler?.stop();
      await records.stop();
      await ingestPool.end();
      await tasks.close();
      await db.$disconnect();
      redis.disconnect();
      log.flush();
    },
  };
}
