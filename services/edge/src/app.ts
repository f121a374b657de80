import { randomBytes } from 'node:crypto';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger, type Logger } from '@toolplane/logger';
import { checkQueueLayout } from '@toolplane/queue';
import { checkRedisForm } from '@toolplane/redis';
import { logMixin } from '@toolplane/telemetry';
import { createAuthenticator } from './authenticate.ts';
import { DelegatedTokens } from './delegated-tokens.ts';
import {
  changeChannels,
  listenForChanges,
  openEdgeResources,
  toolCallDeps,
  type EdgeResources,
} from './edge-resources.ts';
import type { EdgeEnv } from './env.ts';
import { createHttpApp } from './http-app.ts';
import { LegacySseSessions } from './legacy-sse.ts';
import { McpEndpoints } from './mcp-endpoints.ts';
import { EdgeMcpHandler } from './mcp-handler.ts';
import { EdgeTasks } from './tasks/edge-tasks.ts';
import { OAuthResourceServer } from './oauth.ts';
import { OpenStreams } from './open-streams.ts';
import { UnauthenticatedLimiter } from './rate-limit.ts';
import { readState } from './runtime-state.ts';
import { tokenExchangeRoute } from './token-exchange.ts';

export interface EdgeDeps {
  log: Logger;
}

const version = '0.1.0';

/** OAuth access tokens are accepted when an issuer, its JWKS and the edge's public URL are configured. */
function oauthOf(env: EdgeEnv): OAuthResourceServer | undefined {
  if (!env.OAUTH_ISSUER || !env.OAUTH_JWKS_URL || !env.PUBLIC_URL) return undefined;
  return new OAuthResourceServer({
    issuer: env.OAUTH_ISSUER,
    jwksUrl: env.OAUTH_JWKS_URL,
    publicUrl: env.PUBLIC_URL,
    requiredScope: env.OAUTH_REQUIRED_SCOPE,
  });
}

/** Authentication (authenticate.ts) over the edge's caches of published state. */
function edgeAuthenticator(
  env: EdgeEnv,
  r: EdgeResources,
  { oauth, delegations, limiter }: ReturnType<typeof credentials>,
) {
  const { redis, keys } = r;
  return createAuthenticator({
    keys: r.apiKeys,
    catalogs: r.catalogs,
    accessPolicies: r.accessPolicies,
    userId: (workspaceId, username) => readState(() => redis.hget(keys.users(workspaceId), username)),
    state: r.state,
    limiter,
    records: r.records,
    oauth,
    allowedOrigins: env.ALLOWED_ORIGINS,
    userClaim: env.OAUTH_USER_CLAIM,
    delegations,
  });
}

/** OAuth access tokens, and narrowed tokens (ADR 0084): their store and the token endpoint that makes them. */
function credentials(env: EdgeEnv, r: EdgeResources) {
  const delegations = new DelegatedTokens(r.redis, env.REDIS_PREFIX);
  const oauth = oauthOf(env);
  // One budget of unauthenticated requests per address: MCP requests and refused exchanges count in it alike.
  const limiter = new UnauthenticatedLimiter(env.UNAUTH_RATE_LIMIT, env.UNAUTH_RATE_WINDOW_SECONDS);
  const tokenExchange = tokenExchangeRoute({
    ...r,
    keys: r.apiKeys,
    tokens: delegations,
    oauth,
    userClaim: env.OAUTH_USER_CLAIM,
    limiter,
  });
  return { oauth, delegations, limiter, tokenExchange };
}

/** Long-lived answers end with their credential (docs/security.md, "Long-lived answers"). */
function edgeOpenStreams(r: EdgeResources, log: Logger): OpenStreams {
  return new OpenStreams(
    (hash) => r.apiKeys.read(hash),
    (stream, reason) =>
      log.info(
        { serverId: stream.serverId, credential: stream.credential.kind, reason },
        'stream ended: its credential no longer reaches the server',
      ),
  );
}

/**
 * The edge, wired: its Redis resources (edge-resources.ts), authentication (authenticate.ts), the MCP layer
 * (mcp-handler.ts) behind its endpoints (mcp-endpoints.ts), and the HTTP surface (http-app.ts).
 */
export function createEdgeApp(env: EdgeEnv, overrides: Partial<EdgeDeps> = {}) {
  const log = overrides.log ?? createLogger({ service: 'edge', level: env.LOG_LEVEL, mixin: logMixin() });
  const edgeId = env.EDGE_ID ?? `edge-${randomBytes(6).toString('hex')}`;
  const resources = openEdgeResources(env, log, edgeId);
  const { redis, invocations, records } = resources;
  const toolDeps = toolCallDeps(env, resources, log);
  const serverOptions = { version, toolsListTtlMs: env.TOOLS_LIST_TTL_MS };
  const tasks = new EdgeTasks({
    redis,
    prefix: env.REDIS_PREFIX,
    deps: toolDeps,
    settings: {
      retentionMs: env.TASK_RETENTION_MS,
      timeoutMs: Math.min(env.TASK_TIMEOUT_MS, env.TASK_RETENTION_MS),
      pollIntervalMs: env.TASK_POLL_INTERVAL_MS,
      immediateMs: env.TASK_IMMEDIATE_MS,
    },
  });
  const mcp = new EdgeMcpHandler(toolDeps, {
    ...serverOptions,
    tasks,
    fastPath: env.MCP_FAST_PATH,
    onerror: (err) => log.warn({ err: err.message }, 'mcp request rejected'),
    onFastPath: (tool) => log.debug({ tool }, 'tools/call fast path'),
  });
  const legacySessions = new LegacySseSessions();
  const openStreams = edgeOpenStreams(resources, log);
  const streamsHeard = listenForChanges(resources, { legacySessions, mcp, openStreams, log });
  const identity = credentials(env, resources);
  const authenticate = edgeAuthenticator(env, resources, identity);
  const endpoints = new McpEndpoints({
    authenticate,
    mcp,
    toolDeps,
    serverOptions,
    legacySessions,
    openStreams,
    streamsHeard,
  });
  const { http, listener, drain } = createHttpApp({ env, log, endpoints, redis, ...identity });

  let server: HttpServer | undefined;
  return {
    http,
    edgeId,
    get url(): string | undefined {
      const addr = server?.address() as AddressInfo | undefined;
      return addr ? `http://${env.HOST}:${addr.port}` : undefined;
    },
    async start() {
      // A wrong Redis form or nothing answering ends startup with a RedisConfigError (bounded), never a hang.
      await checkRedisForm(resources.connection);
      // A shard count other than the deployment's ends startup too (QueueLayoutError).
      await checkQueueLayout(resources.redis, env.REDIS_PREFIX, env.REDIS_QUEUE_SHARDS);
      await resources.events.subscribe(...changeChannels(resources));
      await invocations.start();
      await new Promise<void>((resolve, reject) => {
        server = createServer(listener);
        server.listen(env.PORT, env.HOST, () => resolve());
        server.once('error', reject);
      });
      server!.keepAliveTimeout = 65_000;
      log.info({ url: this.url, edgeId }, 'edge listening');
    },
    async stop() {
      drain();
      await legacySessions.closeAll();
      mcp.close();
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      await invocations.close();
      await resources.connectLinks.close();
      await records.flush();
      const unwritten = records.close();
      if (unwritten > 0) log.error({ unwritten }, 'execution records not written at shutdown (Redis unreachable)');
      await resources.audit.flush();
      const unaudited = resources.audit.close();
      if (unaudited > 0) log.error({ unaudited }, 'audit events not written at shutdown (Redis unreachable)');
      resources.events.disconnect();
      redis.disconnect();
      log.flush();
    },
  };
}
