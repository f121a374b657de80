import { clientKey, trustProxy } from '@toolplane/config';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exceedsJsonDepth, MAX_JSON_DEPTH, redisKeys } from '@toolplane/contracts';
import { TransientError } from '@toolplane/errors';
import { createLogger, type Logger } from '@toolplane/logger';
import { logMixin, recordDenied, tracingEnabled } from '@toolplane/telemetry';
import { DataPlaneTaskClient, ExecutionRecordSink, InvocationClient } from '@toolplane/queue';
import type { JSONRPCMessage } from '@modelcontextprotocol/server';
import express, { type Request, type RequestHandler, type Response } from 'express';
import { Redis } from 'ioredis';
import { AccessPolicyCache, decideAccess, restrictCatalog, writeDenial, type CallerIdentity } from './access.ts';
import { ApiKeyCache, hashApiKey } from './api-keys.ts';
import { CatalogCache } from './catalogs.ts';
import type { EdgeEnv } from './env.ts';
import { hotLane } from './hot-lane.ts';
import { LegacySseSessions } from './legacy-sse.ts';
import { toAuthInfo, type EdgeCallContext } from './call-context.ts';
import { buildServer, createEdgeMcpHandler } from './mcp-handler.ts';
import { OAuthResourceServer } from './oauth.ts';
import { edgeOpenApiDocumentText } from './openapi.ts';
import { OpenStreams, type StreamCredential } from './open-streams.ts';
import { CancelRegistry, SessionLogLevels, SessionUrlElicitation } from './protocol-state.ts';
import { UnauthenticatedLimiter } from './rate-limit.ts';
import { readState, RuntimeStateProbe, stateMessages } from './runtime-state.ts';
import { upstreamCredentialSealer } from './upstream-auth.ts';
import { requestFacts, type ConnectLinkRequest } from './tool-calls.ts';

export interface EdgeDeps {
  log: Logger;
}

/** An authenticated MCP request: its call context, who calls, and the credential it came with. */
type Authenticated = EdgeCallContext & { clientId: string; credential: StreamCredential };

const version = '0.1.0';

function jsonRpcError(
  res: Response,
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
): undefined {
  if (status === 401 || status === 403) recordDenied(status === 401 ? 'unauthenticated' : 'forbidden');
  res.status(status).set(headers).json({ jsonrpc: '2.0', id: null, error: { code, message } });
  return undefined;
}

/**
 * A retryable refusal while Redis is unreachable or its state is being restored: a `tools/call` gets an
 * `isError` result saying so (agents read those), anything else a 503 JSON-RPC error with Retry-After.
 */
function unavailable(req: Request, res: Response, message: string): undefined {
  const body = req.body as { method?: unknown; id?: unknown } | undefined;
  if (body?.method === 'tools/call' && (typeof body.id === 'string' || typeof body.id === 'number')) {
    res.json({ jsonrpc: '2.0', id: body.id, result: { content: [{ type: 'text', text: message }], isError: true } });
    return undefined;
  }
  return jsonRpcError(res, 503, -32000, message, { 'retry-after': '2' });
}

/**
 * What is wrong with a JSON-RPC body before anything else reads it, if anything: values nested
 * deeper than MAX_JSON_DEPTH (the SDK's validation recurses), or an id that is not a string, a
 * number or null.
 */
function invalidEnvelope(body: unknown): string | undefined {
  if (exceedsJsonDepth(body, MAX_JSON_DEPTH)) return `values may nest at most ${MAX_JSON_DEPTH} levels`;
  for (const message of Array.isArray(body) ? body : [body]) {
    if (message === null || typeof message !== 'object' || !('id' in message)) continue;
    const id = (message as { id: unknown }).id;
    if (id !== null && typeof id !== 'string' && typeof id !== 'number') return 'the id must be a string or a number';
  }
  return undefined;
}

export function createEdgeApp(env: EdgeEnv, overrides: Partial<EdgeDeps> = {}) {
  const log = overrides.log ?? createLogger({ service: 'edge', level: env.LOG_LEVEL, mixin: logMixin() });
  const edgeId = env.EDGE_ID ?? `edge-${randomBytes(6).toString('hex')}`;
  // During a Redis outage commands fail within about 2 s (a retryable error for the caller) instead of
  // waiting for Redis: one retry per command, reconnection attempts at least every second. This
  // connection never blocks (BullMQ's Queue; workers need `null` for their blocking connections).
  const redis = new Redis(env.REDIS_URL, {
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 100, 1000),
  });
  // Named (CLIENT LIST) after the key prefix: an operator, or a test, can tell it from other connections.
  const events = redis.duplicate({ connectionName: `${env.REDIS_PREFIX}:edge-events` });
  // Both reconnect by themselves; outages show in /readyz and in callers' errors.
  redis.on('error', () => undefined);
  events.on('error', () => undefined);
  const keys = redisKeys(env.REDIS_PREFIX);
  const state = new RuntimeStateProbe(redis, env.REDIS_PREFIX);
  const apiKeys = new ApiKeyCache(
    redis,
    env.REDIS_PREFIX,
    { ttlMs: env.API_KEY_CACHE_TTL_MS, max: env.API_KEY_CACHE_MAX, negativeTtlMs: env.API_KEY_NEGATIVE_TTL_MS },
    state,
  );
  const catalogs = new CatalogCache(
    redis,
    env.REDIS_PREFIX,
    { max: env.CATALOG_CACHE_MAX, negativeTtlMs: env.CATALOG_NEGATIVE_TTL_MS },
    state,
  );
  const accessPolicies = new AccessPolicyCache(redis, env.REDIS_PREFIX, {
    ttlMs: env.API_KEY_CACHE_TTL_MS,
    max: env.ACCESS_CACHE_MAX,
  });
  const unauthenticated = new UnauthenticatedLimiter(env.UNAUTH_RATE_LIMIT, env.UNAUTH_RATE_WINDOW_SECONDS);
  const invocations = new InvocationClient({ redis, prefix: env.REDIS_PREFIX, edgeId });
  const records = new ExecutionRecordSink(redis, env.REDIS_PREFIX, {
    maxLen: 100_000,
    onError: (err) => log.error({ err }, 'execution records could not be written; kept and retried every second'),
    onDropped: (count) => log.error({ count }, 'execution records dropped: Redis unreachable and the buffer full'),
  });
  const cancels = new CancelRegistry(redis, env.REDIS_PREFIX);
  // A person's connect links for SMART `connect` come from the workers (data-plane task `oauth.connect_link`): a
  // client of its own, with its own connection, made at the first such request (nothing on the tool-call path).
  let tasks: { client: DataPlaneTaskClient; redis: Redis } | undefined;
  const connectLink = (request: ConnectLinkRequest) => {
    if (!tasks) {
      const connection = redis.duplicate({ connectionName: `${env.REDIS_PREFIX}:edge-tasks` });
      connection.on('error', () => undefined);
      const client = new DataPlaneTaskClient({
        redis: connection,
        prefix: env.REDIS_PREFIX,
        clientId: `${edgeId}-tasks`,
      });
      tasks = { client, redis: connection };
    }
    const { client } = tasks;
    return client.createConnectLink({
      v: 1,
      taskId: randomUUID(),
      kind: 'oauth.connect_link',
      ...request,
      deadlineAt: Date.now() + Math.min(env.TOOL_CALL_TIMEOUT_MS, 15_000),
      replyTo: client.clientId,
    });
  };
  const toolDeps = {
    invocations,
    records,
    timeoutMs: env.TOOL_CALL_TIMEOUT_MS,
    log,
    logLevels: new SessionLogLevels(redis, env.REDIS_PREFIX),
    urlElicitations: new SessionUrlElicitation(redis, env.REDIS_PREFIX),
    connectLink,
    cancels,
    progressIntervalMs: env.PROGRESS_INTERVAL_MS,
    userConnections: async (workspaceId: string, userId: string) =>
      new Set(await readState(() => redis.smembers(keys.userConnections(workspaceId, userId)))),
    oauthConnectionState: (connection: string) => readState(() => redis.hgetall(keys.oauthConnection(connection))),
    ...(env.REQUEST_CREDENTIALS_PUBLIC_KEY_FILE
      ? {
          sealUpstreamCredential: upstreamCredentialSealer(
            readFileSync(env.REQUEST_CREDENTIALS_PUBLIC_KEY_FILE, 'utf8'),
          ),
        }
      : {}),
  };
  const mcp = createEdgeMcpHandler(toolDeps, {
    version,
    toolsListTtlMs: env.TOOLS_LIST_TTL_MS,
    fastPath: env.MCP_FAST_PATH,
    onerror: (err) => log.warn({ err: err.message }, 'mcp request rejected'),
    onFastPath: (tool) => log.debug({ tool }, 'tools/call fast path'),
  });
  const legacySessions = new LegacySseSessions();
  // Long-lived answers end with their credential (docs/security.md, "Long-lived answers").
  const openStreams = new OpenStreams(
    (hash) => apiKeys.read(hash),
    (stream, reason) =>
      log.info(
        { serverId: stream.serverId, credential: stream.credential.kind, reason },
        'stream ended: its credential no longer reaches the server',
      ),
  );
  /** Answers 400 and returns true when a parsed body's JSON-RPC envelope is invalid. */
  const refuseEnvelope = (req: Request, res: Response): boolean => {
    const problem = invalidEnvelope(req.body);
    if (problem) jsonRpcError(res, 400, -32600, `Invalid Request: ${problem}.`);
    return problem !== undefined;
  };
  const jsonBody: RequestHandler[] = [
    express.json({ limit: env.MAX_BODY_BYTES, type: () => true }),
    (req, res, next) => void (refuseEnvelope(req, res) || next()),
  ];

  events.on('message', (channel: string, message: string) => {
    if (channel === cancels.channel) {
      const aborted = cancels.onMessage(message);
      log.debug({ requestId: CancelRegistry.requestIdOf(message), aborted }, 'notifications/cancelled handled');
    } else if (channel === keys.catalogChanged) {
      catalogs.invalidate(message);
      // Open streams of that server hear about it: legacy HTTP+SSE sessions and 2026-07-28 listen
      // streams (2025-era Streamable HTTP is stateless: no stream to carry it).
      legacySessions.toolsChanged(message);
      mcp.toolsChanged(message);
    } else if (channel === keys.apiKeyChanged) {
      apiKeys.invalidate(message);
      void openStreams.keyChanged(message);
    } else if (channel === keys.accessChanged) accessPolicies.invalidate(message);
  });
  // Without the subscription, key changes go unheard: open streams end (fail closed), and none opens
  // until it is back (`streamsHeard`). Their clients reconnect.
  events.on('close', () => {
    const ended = openStreams.endAll('the Redis pub/sub connection was lost');
    if (ended > 0) log.warn({ ended }, 'open streams ended: the Redis pub/sub connection was lost');
  });
  const streamsHeard = () => events.status === 'ready';
  // After a reconnect, messages sent meanwhile are lost: drop everything cached (revocations included).
  events.on('ready', () => {
    catalogs.invalidate(undefined);
    apiKeys.invalidate(undefined);
    accessPolicies.invalidate(undefined);
  });

  const oauth =
    env.OAUTH_ISSUER && env.OAUTH_JWKS_URL && env.PUBLIC_URL
      ? new OAuthResourceServer({
          issuer: env.OAUTH_ISSUER,
          jwksUrl: env.OAUTH_JWKS_URL,
          publicUrl: env.PUBLIC_URL,
          requiredScope: env.OAUTH_REQUIRED_SCOPE,
        })
      : undefined;
  const anyOrigin = env.ALLOWED_ORIGINS.includes('*');
  /** Authenticates an MCP request and resolves its server; answers the error itself and returns undefined on failure. */
  async function authenticate(req: Request, res: Response): Promise<Authenticated | undefined> {
    try {
      return await authenticateOrThrow(req, res);
    } catch (err) {
      // Redis unreachable, or its state not restored yet: fail closed, retryable.
      if (err instanceof TransientError) return unavailable(req, res, err.message);
      throw err;
    }
  }
  async function authenticateOrThrow(req: Request, res: Response): Promise<Authenticated | undefined> {
    const origin = req.header('origin');
    if (origin !== undefined && !anyOrigin && !env.ALLOWED_ORIGINS.includes(origin)) {
      return jsonRpcError(res, 403, -32001, `Origin ${origin} is not allowed.`);
    }
    const address = clientKey(req.ip);
    const blockedMs = await unauthenticated.blockedFor(address);
    if (blockedMs > 0) {
      const seconds = Math.ceil(blockedMs / 1000);
      return jsonRpcError(res, 429, -32000, `Too many unauthenticated requests; retry in ${seconds} s.`, {
        'retry-after': String(seconds),
      });
    }
    const serverId = String(req.params.serverId ?? '');
    const key = req.header('x-api-key');
    const bearer = /^Bearer (.+)$/i.exec(req.header('authorization') ?? '')?.[1];
    const challenge = (error?: { error: string; description: string }) => ({
      'www-authenticate': oauth ? oauth.challenge(serverId, error) : 'ApiKey header="x-api-key"',
    });
    let principal: {
      workspaceId: string;
      keyId?: string;
      subject?: string;
      username?: string;
      userId?: string;
      actingVia?: string;
    };
    let identity: CallerIdentity;
    let loaded: Awaited<ReturnType<typeof catalogs.get>>;
    let accessToken: string | undefined;
    let credential: StreamCredential;
    /** The external user an OAuth token names through its user claim (`OAUTH_USER_CLAIM`). */
    let tokenUser: string | undefined;
    if (key) {
      const keyHash = hashApiKey(key);
      const record = await apiKeys.authenticateHash(keyHash);
      if (!record) {
        unauthenticated.count(address);
        return jsonRpcError(res, 401, -32001, 'Invalid API key.', challenge());
      }
      if (!record.scopes.includes('runtime'))
        return jsonRpcError(res, 403, -32001, 'This API key has no "runtime" scope.');
      loaded = await catalogs.get(serverId);
      // A server of another workspace is indistinguishable from a missing one.
      if (!loaded || loaded.catalog.workspaceId !== record.workspaceId)
        return jsonRpcError(res, 404, -32002, `MCP server ${serverId} not found.`);
      principal = { workspaceId: record.workspaceId, keyId: record.keyId };
      identity = { keyId: record.keyId, keyServerIds: record.serverIds };
      credential = { kind: 'key', keyHash };
      apiKeys.touch(record.keyId);
    } else if (bearer && oauth) {
      // The token's audience is this server's resource URL, so a valid token is valid for this server only.
      const check = await oauth.verify(bearer, serverId);
      if (!check.ok) unauthenticated.count(address);
      if (!check.ok)
        return jsonRpcError(
          res,
          check.status,
          -32001,
          `Unauthorized: ${check.description}.`,
          challenge({ error: check.error, description: check.description }),
        );
      loaded = await catalogs.get(serverId);
      if (!loaded) return jsonRpcError(res, 404, -32002, `MCP server ${serverId} not found.`);
      principal = { workspaceId: loaded.catalog.workspaceId, subject: check.subject };
      identity = { subject: check.subject, groups: check.groups };
      const exp = check.claims.exp;
      credential = { kind: 'token', expiresAt: typeof exp === 'number' ? exp * 1000 : undefined };
      // Only workflows of servers that opted in ever receive it (`$current_user.token`, see tool-calls.ts).
      accessToken = bearer;
      const claim = check.claims[env.OAUTH_USER_CLAIM];
      if (typeof claim === 'string' && claim.length > 0) tokenUser = claim;
    } else if ((loaded = await catalogs.get(serverId))?.catalog.isPublic) {
      // `isPublic`: anyone may list and call this server's tools, without a key.
      principal = { workspaceId: loaded.catalog.workspaceId, subject: 'anonymous' };
      identity = { anonymous: true };
      credential = { kind: 'anonymous' };
    } else {
      unauthenticated.count(address);
      return jsonRpcError(
        res,
        401,
        -32001,
        oauth
          ? 'Authentication required: send an OAuth access token or an x-api-key header.'
          : 'Authentication required: send your API key in the x-api-key header.',
        challenge(),
      );
    }
    const requested = req.header('x-username');
    // An OAuth token that names a user of the workspace (its user claim) is that user, without x-username.
    const claimedUserId =
      tokenUser !== undefined && (requested === undefined || requested === tokenUser)
        ? await readState(() => redis.hget(keys.users(principal.workspaceId), tokenUser!))
        : null;
    const username = requested ?? (claimedUserId ? tokenUser : undefined);
    if (username !== undefined && identity.anonymous) {
      // Never looked up: an unauthenticated caller learns nothing about the workspace's users (decideAccess refuses).
      principal.username = username;
      identity.username = username;
    } else if (username !== undefined) {
      // Tools run with this external user's connections; an unknown user is refused.
      const userId = claimedUserId ?? (await readState(() => redis.hget(keys.users(principal.workspaceId), username)));
      if (!userId) await state.assertComplete();
      if (!userId)
        return jsonRpcError(
          res,
          403,
          -32001,
          `Unknown user "${username}" (x-username): create it with POST /api/v1/external_users.`,
        );
      principal.username = username;
      principal.userId = userId;
      identity.username = username;
      if (claimedUserId) identity.selfUser = true;
    }
    // Access policies (ADR 0013): no access to the server is a 403 (a tools/call among it is recorded);
    // partial access narrows the catalog this caller sees and may call.
    const decision = decideAccess(await accessPolicies.get(principal.workspaceId), identity, serverId);
    if (!decision.allowed) {
      const body = req.body as { method?: unknown; params?: { name?: unknown } } | undefined;
      if (body?.method === 'tools/call' && typeof body.params?.name === 'string') {
        writeDenial(records, principal, serverId, loaded.catalog.version, body.params.name, decision.reason);
      }
      return jsonRpcError(res, 403, -32001, decision.reason);
    }
    if (decision.actingVia) principal.actingVia = decision.actingVia;
    loaded = restrictCatalog(loaded, decision.grant, decision.who);
    const clientId = principal.keyId ?? `oauth:${principal.subject}`;
    const request = requestFacts(req.headers, accessToken);
    return { principal, loaded, clientId, request, credential };
  }

  async function serveMcp(req: Request, res: Response): Promise<void> {
    const ctx = await authenticate(req, res);
    if (!ctx) return;
    if (tracingEnabled()) {
      // The agent's trace context (an MCP `_meta.traceparent` wins over it) and protocol version, for spans.
      ctx.traceparent = req.header('traceparent');
      ctx.tracestate = req.header('tracestate');
      ctx.protocolVersion = req.header('mcp-protocol-version');
    }
    (req as Request & { auth?: unknown }).auth = toAuthInfo(ctx, ctx.clientId);
    // A 2026-07-28 listen stream stays open: it ends with its credential, like a legacy stream.
    if (req.method === 'POST' && (req.body as { method?: unknown } | undefined)?.method === 'subscriptions/listen') {
      if (!streamsHeard()) return void unavailable(req, res, stateMessages.unreachable);
      const forget = openStreams.add({
        serverId: ctx.loaded.catalog.serverId,
        credential: ctx.credential,
        end: () => res.destroy(),
      });
      res.once('close', forget);
    }
    await mcp(req, res);
  }

  // Legacy HTTP+SSE transport: GET opens the event stream, POSTs to …/messages feed it.
  async function openLegacyStream(req: Request, res: Response): Promise<void> {
    const ctx = await authenticate(req, res);
    if (!ctx) return;
    if (!streamsHeard()) return void unavailable(req, res, stateMessages.unreachable);
    const serverId = String(req.params.serverId);
    let gone = false;
    res.once('close', () => (gone = true));
    const session = await legacySessions.open(
      res,
      serverId,
      ctx.clientId,
      `/api/v1/mcp/${serverId}/messages`,
      buildServer(ctx, toolDeps, version, env.TOOLS_LIST_TTL_MS),
    );
    if (gone) return;
    const forget = openStreams.add({ serverId, credential: ctx.credential, end: () => void session.transport.close() });
    res.once('close', forget);
  }
  async function postLegacyMessage(req: Request, res: Response): Promise<void> {
    const ctx = await authenticate(req, res);
    if (!ctx) return;
    const session = legacySessions.get(String(req.query.sessionId ?? ''));
    if (!session || session.serverId !== String(req.params.serverId) || session.owner !== ctx.clientId) {
      return jsonRpcError(res, 404, -32001, 'Unknown or expired session: open a new event stream.');
    }
    res.status(202).end();
    // This POST's context (fresh catalog, its own Config-* headers) rides with the message.
    session.transport.deliver(req.body as JSONRPCMessage, toAuthInfo(ctx, ctx.clientId));
  }

  const http = express();
  http.disable('x-powered-by');
  http.set('etag', false);
  http.set('trust proxy', trustProxy(env.TRUST_PROXY));
  // Graceful shutdown (stop()): calls in flight are answered, then their keep-alive connections are
  // closed, so that no request is accepted once draining began (server.close() alone keeps serving
  // busy keep-alive connections until their idle timeout).
  let draining = false;
  const inFlight = new Set<Response>();
  const track = (res: Response) => {
    if (draining) res.setHeader('connection', 'close');
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
  };
  http.use((_req, res, next) => {
    track(res);
    next();
  });
  // CORS for the browser origins of ALLOWED_ORIGINS (the dashboard's "Try a tool", browser MCP clients): their
  // preflights are answered and their responses readable. Other origins get no CORS headers, and their requests
  // are refused by `authenticate` (403), so a page elsewhere can neither call nor read.
  http.use(['/mcp', '/api/v1/mcp'], (req, res, next) => {
    const origin = req.header('origin');
    if (origin === undefined || !(anyOrigin || env.ALLOWED_ORIGINS.includes(origin))) return next();
    res.setHeader('access-control-allow-origin', origin);
    res.vary('origin');
    res.setHeader(
      'access-control-expose-headers',
      'mcp-session-id, mcp-protocol-version, www-authenticate, retry-after',
    );
    if (req.method !== 'OPTIONS') return next();
    res.setHeader('access-control-allow-methods', 'GET, POST, DELETE');
    // MCP's headers include per-call ones (`Mcp-Param-*`, `Config-*`): the origin is trusted, its list is echoed.
    const requested = req.header('access-control-request-headers');
    if (requested) res.setHeader('access-control-allow-headers', requested);
    res.setHeader('access-control-max-age', '600');
    res.status(204).end();
  });
  // RFC 9728: where clients learn which authorization server issues tokens for an MCP server URL.
  for (const path of [
    '/.well-known/oauth-protected-resource/mcp/:serverId',
    '/.well-known/oauth-protected-resource/api/v1/mcp/:serverId',
  ]) {
    http.get(path, (req, res) => {
      if (!oauth) return void res.status(404).json({ error: 'OAuth is not configured on this edge' });
      res.json(oauth.metadata(String(req.params.serverId)));
    });
  }
  // The OpenAPI description of the MCP endpoints (docs/edge-openapi.json), built once.
  const openApiText = edgeOpenApiDocumentText();
  http.get('/openapi.json', (_req, res) => {
    res.type('application/json').send(openApiText);
  });
  http.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  http.get('/readyz', async (_req, res) => {
    try {
      if (redis.status !== 'ready') throw new Error('Redis is not connected');
      await redis.ping();
      res.json({ status: 'ready' });
    } catch {
      res.status(503).json({ status: 'unavailable' });
    }
  });
  // HEAD would open the legacy event stream (express serves HEAD with GET routes) and never end.
  http.head('/api/v1/mcp/:serverId', (_req, res) => {
    jsonRpcError(res, 405, -32000, 'Method not allowed.', { allow: 'GET, POST' });
  });
  // Stateless Streamable HTTP has no GET stream, so a GET here is always the legacy transport.
  http.get('/api/v1/mcp/:serverId', (req, res, next) => {
    openLegacyStream(req, res).catch(next);
  });
  http.post(
    '/api/v1/mcp/:serverId/messages',
    ...jsonBody,
    (req: Request, res: Response, next: (err: unknown) => void) => {
      postLegacyMessage(req, res).catch(next);
    },
  );
  for (const path of ['/mcp/:serverId', '/api/v1/mcp/:serverId']) {
    http.post(path, ...jsonBody, (req: Request, res: Response, next: (err: unknown) => void) => {
      serveMcp(req, res).catch(next);
    });
    http.all(path, (req, res, next) => {
      serveMcp(req, res).catch(next);
    });
  }
  function onHttpError(err: unknown, _req: Request, res: Response): undefined {
    const bodyError = err as { type?: string };
    if (bodyError.type === 'entity.parse.failed')
      return jsonRpcError(res, 400, -32700, 'Parse error: the body is not valid JSON.');
    if (bodyError.type === 'entity.too.large')
      return jsonRpcError(res, 413, -32600, `The request body exceeds ${env.MAX_BODY_BYTES} bytes.`);
    // Other client errors of express and body-parser: unsupported Content-Encoding or charset (415),
    // a bad `%` escape in the path (400), an aborted body.
    const status = (err as { status?: unknown }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      const message = err instanceof URIError ? 'the path is not valid percent-encoding' : (err as Error).message;
      return jsonRpcError(res, status, -32600, `Invalid Request: ${message}.`);
    }
    log.error({ err }, 'edge request failed');
    if (!res.headersSent) jsonRpcError(res, 500, -32603, 'Internal error.');
    return undefined;
  }
  http.use((err: unknown, req: Request, res: Response, _next: unknown) => onHttpError(err, req, res));
  // The common MCP POST skips the router and body parser (hot-lane.ts); the rest goes to express.
  const hot = hotLane({
    app: http,
    maxBodyBytes: env.MAX_BODY_BYTES,
    track,
    serve: (req, res) => (refuseEnvelope(req, res) ? Promise.resolve() : serveMcp(req, res)),
    onError: onHttpError,
  });

  let server: HttpServer | undefined;
  return {
    http,
    edgeId,
    get url(): string | undefined {
      const addr = server?.address() as AddressInfo | undefined;
      return addr ? `http://${env.HOST}:${addr.port}` : undefined;
    },
    async start() {
      await events.subscribe(keys.catalogChanged, keys.apiKeyChanged, keys.accessChanged, cancels.channel);
      await invocations.start();
      await new Promise<void>((resolve, reject) => {
        server = createServer((req, res) => void (hot(req, res) || http(req, res)));
        server.listen(env.PORT, env.HOST, () => resolve());
        server.once('error', reject);
      });
      server!.keepAliveTimeout = 65_000;
      log.info({ url: this.url, edgeId }, 'edge listening');
    },
    async stop() {
      draining = true;
      for (const res of inFlight) {
        if (!res.headersSent) res.setHeader('connection', 'close');
        else res.once('finish', () => res.socket?.end());
      }
      await legacySessions.closeAll();
      mcp.close();
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      await invocations.close();
      await tasks?.client.close();
      tasks?.redis.disconnect();
      await records.flush();
      const unwritten = records.close();
      if (unwritten > 0) log.error({ unwritten }, 'execution records not written at shutdown (Redis unreachable)');
      events.disconnect();
      redis.disconnect();
      log.flush();
    },
  };
}
