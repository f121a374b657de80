import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger, type Logger } from '@toolplane/logger';
import { checkQueueLayout, credentialRefusal, type StandingWords } from '@toolplane/queue';
import { checkRedisForm } from '@toolplane/redis';
import { logMixin } from '@toolplane/telemetry';
import { createAuthenticator } from './identity/authenticate.ts';
import { DelegatedTokens } from './identity/delegated-tokens.ts';
import { DpopProofs } from './identity/dpop.ts';
import {
  changeChannels,
  listenForChanges,
  openEdgeResources,
  toolCallDeps,
  type EdgeResources,
} from './edge-resources.ts';
import { EnterpriseAuthorizationServer } from './identity/enterprise-as/server.ts';
import { ProtectedResource } from './identity/enterprise-as/resource-servers.ts';
import { readSigningKey } from './identity/enterprise-as/signing-key.ts';
import type { EdgeEnv } from './env.ts';
import { createHttpApp } from './protocol/http-app.ts';
import { expressServerClasses } from './protocol/hot-lane.ts';
import { LegacySseSessions } from './protocol/legacy-sse.ts';
import { McpEndpoints } from './protocol/mcp-endpoints.ts';
import { EdgeMcpHandler } from './protocol/mcp-handler.ts';
import { EdgeTasks } from './tasks/edge-tasks.ts';
import { OAuthResourceServer } from './identity/oauth.ts';
import { OpenStreams } from './protocol/open-streams.ts';
import { UnauthenticatedLimiter } from './identity/rate-limit.ts';
import { readState } from './state/runtime-state.ts';
import { tokenExchangeRoute } from './identity/token-exchange.ts';
import { tokenRevocationRoute } from './identity/token-revocation.ts';

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

/** The edges' own authorization server (ADR 0082), when its signing key and the public URL are configured. */
function enterpriseAsOf(
  env: EdgeEnv,
  r: EdgeResources,
  log: Logger,
  { limiter, dpop }: { limiter: UnauthenticatedLimiter; dpop: DpopProofs },
): EnterpriseAuthorizationServer | undefined {
  if (!env.ENTERPRISE_AS_SIGNING_KEY_FILE || !env.PUBLIC_URL) return undefined;
  const { redis, keys } = r;
  const jtiKey = (id: string) => `${env.REDIS_PREFIX}:idjag:jti:${createHash('sha256').update(id).digest('hex')}`;
  return new EnterpriseAuthorizationServer(
    {
      catalogs: r.catalogs,
      accessPolicies: r.accessPolicies,
      userId: (workspaceId, username) => readState(() => redis.hget(keys.users(workspaceId), username)),
      state: r.state,
      claimOnce: async (id, seconds) => (await redis.set(jtiKey(id), '1', 'EX', seconds, 'NX')) === 'OK',
      audit: r.audit,
      limiter,
      dpop,
      log,
    },
    {
      publicUrl: env.PUBLIC_URL,
      key: readSigningKey(env.ENTERPRISE_AS_SIGNING_KEY_FILE),
      tokenTtlSeconds: env.ENTERPRISE_AS_TOKEN_TTL_SECONDS,
      clockSkewSeconds: env.ENTERPRISE_AS_CLOCK_SKEW_SECONDS,
    },
  );
}

/** What the edge accepts bearer tokens of: the external issuer, its own authorization server, both or neither. */
function protectedResourceOf(env: EdgeEnv, own: EnterpriseAuthorizationServer | undefined) {
  const external = oauthOf(env);
  if (!env.PUBLIC_URL || (!external && !own)) return undefined;
  return new ProtectedResource(env.PUBLIC_URL, external, own);
}

/** The edges' own authorization server and what accepts bearer tokens (each may be absent). */
function bearerTokensOf(env: EdgeEnv, r: EdgeResources, log: Logger, dpop: DpopProofs) {
  // One budget of unauthenticated requests per address: MCP requests' 401s and the token endpoint's failed logins.
  const limiter = new UnauthenticatedLimiter(env.UNAUTH_RATE_LIMIT, env.UNAUTH_RATE_WINDOW_SECONDS);
  const enterpriseAs = enterpriseAsOf(env, r, log, { limiter, dpop });
  return { enterpriseAs, oauth: protectedResourceOf(env, enterpriseAs), limiter };
}

/** Authentication (identity/authenticate.ts) over the edge's caches of published state. */
function edgeAuthenticator(
  env: EdgeEnv,
  r: EdgeResources,
  { oauth, delegations, limiter, dpop }: ReturnType<typeof credentials>,
) {
  const { redis, keys } = r;
  return createAuthenticator({
    keys: r.apiKeys,
    catalogs: r.catalogs,
    accessPolicies: r.accessPolicies,
    userId: (workspaceId, username) => readState(() => redis.hget(keys.users(workspaceId), username)),
    formerUser: async (workspaceId, username) =>
      (await readState(() => redis.hexists(keys.formerUsers(workspaceId), username))) === 1,
    state: r.state,
    limiter,
    records: r.records,
    oauth,
    allowedOrigins: env.ALLOWED_ORIGINS,
    userClaim: env.OAUTH_USER_CLAIM,
    delegations,
    dpop: { proofs: dpop, publicUrl: env.PUBLIC_URL },
  });
}

/** Bearer tokens (the external issuer's, the edges' own, ADR 0082) and narrowed tokens (ADR 0084) with their endpoint. */
function credentials(env: EdgeEnv, r: EdgeResources, log: Logger) {
  const dpop = new DpopProofs(r.redis, env.REDIS_PREFIX);
  const { enterpriseAs, oauth, limiter } = bearerTokensOf(env, r, log, dpop);
  const delegations = new DelegatedTokens(r.redis, env.REDIS_PREFIX);
  const tokenExchange = tokenExchangeRoute({
    ...r,
    keys: r.apiKeys,
    tokens: delegations,
    oauth,
    userClaim: env.OAUTH_USER_CLAIM,
    limiter,
    dpop,
    publicUrl: env.PUBLIC_URL,
  });
  const tokenRevocation = tokenRevocationRoute({ tokens: delegations, audit: r.audit, limiter });
  return { oauth, enterpriseAs, delegations, limiter, tokenExchange, tokenRevocation, dpop };
}

/** Long-lived answers end with their credential (docs/security.md, "Long-lived answers"). */
function edgeOpenStreams(r: EdgeResources, log: Logger, prefix: string): OpenStreams {
  return new OpenStreams(
    (hash) => r.apiKeys.read(hash),
    (stream, reason) =>
      log.info(
        { serverId: stream.serverId, credential: stream.credential.kind, reason },
        'stream ended: its credential no longer reaches the server',
      ),
    // A narrowed token's chain and the person, judged as a task's job and an event subscription are (ADR 0095).
    (principal, serverId) =>
      credentialRefusal(r.redis, prefix, { ...principal, serverId }, { now: Date.now(), words: streamWords }),
  );
}

/** How an open stream's end names what no longer holds. */
const streamWords: StandingWords = {
  key: 'the API key',
  keyGone: 'the API key was revoked',
  token: 'the access token',
  person: (u) => `the person "${u}" it acts for is no longer an active external user`,
};

/** The MCP layer: the tool-call dependencies, durable tasks and the handler every MCP request reaches. */
function mcpLayer(env: EdgeEnv, resources: EdgeResources, log: Logger) {
  const toolDeps = toolCallDeps(env, resources, log);
  const serverOptions = { version, toolsListTtlMs: env.TOOLS_LIST_TTL_MS };
  const tasks = new EdgeTasks({
    redis: resources.redis,
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
  return { toolDeps, serverOptions, mcp };
}

/**
 * The edge, wired: its Redis resources (edge-resources.ts), authentication (identity/authenticate.ts), the MCP layer
 * (protocol/mcp-handler.ts) behind its endpoints (protocol/mcp-endpoints.ts), and the HTTP surface (protocol/http-app.ts).
 */
export function createEdgeApp(env: EdgeEnv, overrides: Partial<EdgeDeps> = {}) {
  const log = overrides.log ?? createLogger({ service: 'edge', level: env.LOG_LEVEL, mixin: logMixin() });
  const edgeId = env.EDGE_ID ?? `edge-${randomBytes(6).toString('hex')}`;
  const resources = openEdgeResources(env, log, edgeId);
  const { redis, invocations, records } = resources;
  const { toolDeps, serverOptions, mcp } = mcpLayer(env, resources, log);
  const legacySessions = new LegacySseSessions();
  const openStreams = edgeOpenStreams(resources, log, env.REDIS_PREFIX);
  const streamsHeard = listenForChanges(resources, { legacySessions, mcp, openStreams, log });
  const identity = credentials(env, resources, log);
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
        server = createServer(expressServerClasses(http), listener);
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
