import { trustProxy } from '@toolplane/config';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { redisKeys } from '@toolplane/contracts';
import { createLogger, type Logger } from '@toolplane/logger';
import { logMixin } from '@toolplane/telemetry';
import { DataPlaneTaskClient, ExecutionRecordStream } from '@toolplane/queue';
import { AwsSecretsWriter, LocalSealedSecretsWriter, type SecretsWriter } from '@toolplane/secrets';
import express from 'express';
import pg from 'pg';
import { Redis } from 'ioredis';
import { bootstrap } from './bootstrap.ts';
import { createDb, type Db } from './db/client.ts';
import { migrate } from './db/migrate.ts';
import type { ControlPlaneEnv } from './env.ts';
import { requireCaller } from './http/auth.ts';
import { apiRouter, installRouteAccess, serverRestriction } from './http/route-access.ts';
import { AuthorizationServerDiscovery, ManagementTokenVerifier } from './http/oauth.ts';
import { jsonBody } from './http/body.ts';
import { connectRouter } from './http/connect.ts';
import { dashboardRouter } from './http/dashboard.ts';
import { largeImportLimit, unauthenticatedLimit } from './http/limits.ts';
import { errorHandler, notFoundHandler } from './http/error-handler.ts';
import { accessPoliciesRouter, republishAccess } from './modules/access-policies.ts';
import { apiCatalogRouter, workerFetcher } from './modules/api-catalog.ts';
import { ApiCatalog, apiCatalogSource } from './modules/api-catalog-source.ts';
import { apiKeysRouter, republishApiKeys } from './modules/api-keys.ts';
import { connectorInstancesRouter } from './modules/connector-instances.ts';
import { connectorsRouter } from './modules/connectors.ts';
import { externalUsersRouter, oauthLinkBelongs, republishUsers } from './modules/external-users.ts';
import { PeopleConnections } from './modules/people-connections.ts';
import { republishServerIdentity, serverIdentityPublisher } from './modules/server-identity.ts';
import { DebugEventHub } from './modules/debug-events.ts';
import { debugSessionsRouter, publishDebugSession } from './modules/debug-sessions.ts';
import { deploymentsRouter } from './modules/deployments.ts';
import { externalMcpServersRouter } from './modules/external-mcp-servers.ts';
import {
  announceStoredRecords,
  applyRetention,
  executionRecordsRouter,
  storeExecutionRecords,
} from './modules/execution-records.ts';
import { serverSecretsRouter, workspaceSecretsRouter } from './modules/secrets.ts';
import { startExternalToolsRefresher } from './modules/external-refresh.ts';
import { serversRouter } from './modules/servers.ts';
import { serverToolsRouter } from './modules/server-tools.ts';
import { statsRouter } from './modules/stats.ts';
import { CatalogService, externalListerFor } from './catalog/service.ts';
import { workspacesRouter } from './modules/workspaces.ts';
import { openApiDocumentText, operationAccess } from './openapi/document.ts';
import { RuntimePublisher } from './publisher.ts';
import { redisStateStore, RuntimeStateKeeper } from './runtime-state.ts';

/** How often the catalog reconciler compares Redis with PostgreSQL. */
const CATALOG_RECONCILE_MS = 30_000;

export interface ControlPlaneDeps {
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

export function createControlPlaneApp(env: ControlPlaneEnv, overrides: Partial<ControlPlaneDeps> = {}) {
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

  const http = express();
  http.disable('x-powered-by');
  http.set('etag', false);
  http.set('trust proxy', trustProxy(env.TRUST_PROXY));
  // A path names one route or none: `/API/v1/…`, `…/Deploy` and `…/deploy/` are no route (http/route-access.ts).
  http.set('case sensitive routing', true);
  http.set('strict routing', true);
  // Every answer is what its Content-Type says (JSON, problem+json, event streams, the dashboard's files):
  // browsers must not guess otherwise (a problem's detail quotes parts of the request).
  http.use((_req, res, next) => {
    res.setHeader('x-content-type-options', 'nosniff');
    next();
  });
  http.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  http.get('/readyz', async (_req, res) => {
    try {
      if (redis.status !== 'ready') throw new Error('Redis is not connected');
      await db.$queryRawUnsafe('SELECT 1');
      await redis.ping();
      res.json({ status: 'ready' });
    } catch {
      res.status(503).json({ status: 'unavailable' });
    }
  });
  // The API's own description is public, like the document of any API (no key needed to read it).
  const documentText = openApiDocumentText();
  http.get('/api/v1/openapi.json', (_req, res) => {
    res.type('application/json').send(documentText);
  });
  const api = apiRouter();
  api.use(unauthenticatedLimit(env.UNAUTH_RATE_LIMIT, env.UNAUTH_RATE_WINDOW_SECONDS));
  // Signed-in users' access tokens besides API keys, when an issuer is configured (ADR 0020).
  const oauth =
    env.OAUTH_ISSUER && env.OAUTH_JWKS_URL && env.OAUTH_AUDIENCE
      ? new ManagementTokenVerifier(
          {
            issuer: env.OAUTH_ISSUER,
            jwksUrl: env.OAUTH_JWKS_URL,
            audience: env.OAUTH_AUDIENCE,
            workspaceClaim: env.OAUTH_WORKSPACE_CLAIM,
            scopePrefix: env.OAUTH_SCOPE_PREFIX,
          },
          db,
        )
      : undefined;
  api.use(requireCaller(db, { redis, prefix: env.REDIS_PREFIX, ...(oauth ? { oauth } : {}) }));
  const largeImports = largeImportLimit(env.MAX_CONCURRENT_LARGE_IMPORTS, env.LARGE_IMPORT_BYTES);
  api.use('/connectors', largeImports);
  api.use('/mcp_servers', largeImports);
  api.use('/connectors', connectorsRouter(db, catalog, env.MAX_DOCUMENT_BYTES, people, workerFetcher(tasks)));
  // The API catalog (APIs.guru): search, and add an API as an OpenAPI connector (a large import, whatever the body).
  const apiCatalog = new ApiCatalog({
    source: apiCatalogSource(env.API_CATALOG_SOURCE, {
      fetch: workerFetcher(tasks),
      maxDocumentBytes: env.MAX_DOCUMENT_BYTES,
      log,
    }),
    redis,
    prefix: env.REDIS_PREFIX,
    cacheSeconds: env.API_CATALOG_CACHE_MINUTES * 60,
    log,
  });
  api.use(
    '/api_catalog',
    apiCatalogRouter(db, apiCatalog, {
      maxBodyBytes: env.MAX_BODY_BYTES,
      maxDocumentBytes: env.MAX_DOCUMENT_BYTES,
      importSlot: largeImports.always,
    }),
  );
  api.use('/connector_instances', connectorInstancesRouter(db, secrets, catalog, tasks, env.MAX_BODY_BYTES, people));
  const debugEvents = new DebugEventHub(redis, env.REDIS_PREFIX, log);
  api.use(
    '/mcp_manager/:id/debug_sessions',
    debugSessionsRouter(db, redis, env.REDIS_PREFIX, env.MAX_BODY_BYTES, debugEvents),
  );
  api.use('/mcp_manager', serverIdentityPublisher(db, redis, env.REDIS_PREFIX));
  api.use(
    '/mcp_manager',
    serversRouter(db, catalog, secrets, env.PUBLIC_EDGE_URL, env.MAX_BODY_BYTES, {
      tasks,
      redis,
      prefix: env.REDIS_PREFIX,
    }),
  );
  // Secrets: before the deployments router, whose older PUT/DELETE …/secrets/{name} these replace.
  api.use('/secrets', workspaceSecretsRouter(secrets, publisher, env.MAX_BODY_BYTES));
  api.use('/mcp_servers/:id/secrets', serverSecretsRouter(db, secrets, publisher, env.MAX_BODY_BYTES));
  api.use('/mcp_servers', deploymentsRouter(db, catalog, tasks, env.MAX_BODY_BYTES));
  api.use('/external_mcp_servers', externalMcpServersRouter(db, catalog, secrets, env.MAX_BODY_BYTES));
  api.use('/execution_records', executionRecordsRouter(db));
  api.use('/stats', statsRouter(db));
  api.use(
    '/external_users',
    externalUsersRouter({
      db,
      secrets,
      publisher,
      redis,
      prefix: env.REDIS_PREFIX,
      maxBodyBytes: env.MAX_BODY_BYTES,
      people,
    }),
  );
  api.use('/api_keys', jsonBody(env.MAX_BODY_BYTES), apiKeysRouter(db, publisher));
  api.use('/access_policies', accessPoliciesRouter(db, publisher, env.MAX_BODY_BYTES));
  api.use('/workspaces', workspacesRouter(db, publisher, env.MAX_BODY_BYTES));
  api.use(serverToolsRouter(db));
  // Keys limited to servers reach only what each route declares (ADR 0013): decided on the route that matched.
  installRouteAccess(api, operationAccess(), serverRestriction(db));
  http.use('/api/v1', api);
  // People's connect links and the OAuth providers' callback (ADR 0027): public pages, the link is the credential.
  http.use(
    connectRouter({
      redis,
      prefix: env.REDIS_PREFIX,
      tasks,
      publicApiUrl: env.PUBLIC_API_URL,
      linkBelongs: (link) => oauthLinkBelongs(db, link),
      onConnected: (link) =>
        people.connected(link).catch((err: unknown) => log.error({ err }, 'a connected account could not be listed')),
    }),
  );
  http.use(
    dashboardRouter({
      dir: env.DASHBOARD_DIR,
      edgeUrl: env.PUBLIC_EDGE_URL,
      jaegerUiUrl: env.JAEGER_UI_URL,
      oauth:
        oauth && env.OAUTH_CLIENT_ID
          ? {
              issuer: oauth.config.issuer,
              clientId: env.OAUTH_CLIENT_ID,
              scopes: env.OAUTH_SCOPES,
              resource: oauth.config.audience,
              scopePrefix: oauth.config.scopePrefix,
              discovery: new AuthorizationServerDiscovery(oauth.config.issuer),
            }
          : undefined,
    }),
  );
  http.use(notFoundHandler);
  http.use(errorHandler(log));

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
