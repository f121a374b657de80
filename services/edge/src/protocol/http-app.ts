import type { IncomingMessage, ServerResponse } from 'node:http';
import { clientKey, trustProxy } from '@toolplane/config';
import type { Logger } from '@toolplane/logger';
import express, { type Express, type Request, type RequestHandler, type Response } from 'express';
import type { RedisClient } from '@toolplane/redis';
import type { EdgeEnv } from '../env.ts';
import { hotLane } from './hot-lane.ts';
import { inboundRoutes } from '../events/inbound.ts';
import { httpErrorHandler, jsonRpcError, refuseEnvelope } from './http-errors.ts';
import type { McpEndpoints } from './mcp-endpoints.ts';
import type { EnterpriseAuthorizationServer } from '../identity/enterprise-as/server.ts';
import type { ProtectedResource } from '../identity/enterprise-as/resource-servers.ts';
import { requestUrl } from '../identity/dpop.ts';
import { edgeOpenApiDocumentText } from './openapi.ts';

export interface HttpAppOptions {
  env: Pick<
    EdgeEnv,
    | 'MAX_BODY_BYTES'
    | 'TRUST_PROXY'
    | 'ALLOWED_ORIGINS'
    | 'INBOUND_MAX_QUEUED_BYTES_PER_INSTANCE'
    | 'INBOUND_MAX_QUEUED_BYTES_PER_ADDRESS'
    | 'REDIS_PREFIX'
    | 'UNAUTH_RATE_LIMIT'
    | 'UNAUTH_RATE_WINDOW_SECONDS'
    | 'PUBLIC_URL'
  >;
  log: Logger;
  endpoints: McpEndpoints;
  /** Absent: no OAuth on this edge (its metadata routes answer 404). */
  oauth: ProtectedResource | undefined;
  /** The edges' own authorization server (ADR 0082); absent: its routes answer 404. */
  enterpriseAs?: EnterpriseAuthorizationServer | undefined;
  /** Readiness is this connection's. */
  redis: RedisClient;
  /** RFC 8693 token exchange for narrowed tokens (identity/token-exchange.ts, ADR 0084). */
  tokenExchange: (req: Request, res: Response) => Promise<void>;
  /** RFC 7009 revocation of one narrowed token (identity/token-revocation.ts, ADR 0084 addendum). */
  tokenRevocation: (req: Request, res: Response) => Promise<void>;
}

export interface EdgeHttp {
  /** The express application (every route). */
  http: Express;
  /** The server's request listener: the hot lane, else express. */
  listener: (req: IncomingMessage, res: ServerResponse) => void;
  /**
   * Graceful shutdown: calls in flight are answered, then their keep-alive connections are closed, so that no
   * request is accepted once draining began (server.close() alone keeps serving busy keep-alive connections until
   * their idle timeout).
   */
  drain(): void;
}

/** The edge's HTTP surface: MCP endpoints, OAuth metadata, its OpenAPI document, health and readiness. */
export function createHttpApp(opts: HttpAppOptions): EdgeHttp {
  const { env, endpoints } = opts;
  const http = express();
  http.disable('x-powered-by');
  http.set('etag', false);
  http.set('trust proxy', trustProxy(env.TRUST_PROXY));
  const inFlight = drainTracking();
  http.use((_req, res, next) => {
    inFlight.track(res);
    next();
  });
  http.use(['/mcp', '/api/v1/mcp'], allowedOriginsCors(env.ALLOWED_ORIGINS));
  infoRoutes(http, opts);
  authorizationServerRoutes(http, opts.enterpriseAs, opts.env.PUBLIC_URL);
  // Providers' deliveries for connector instances (MCP Events): raw bytes, queued for the worker to verify.
  inboundRoutes(http, {
    redis: opts.redis,
    prefix: env.REDIS_PREFIX,
    log: opts.log,
    maxBodyBytes: env.MAX_BODY_BYTES,
    rateLimit: { points: env.UNAUTH_RATE_LIMIT, windowSeconds: env.UNAUTH_RATE_WINDOW_SECONDS },
    bounds: {
      perInstanceBytes: env.INBOUND_MAX_QUEUED_BYTES_PER_INSTANCE,
      perAddressBytes: env.INBOUND_MAX_QUEUED_BYTES_PER_ADDRESS,
    },
  });
  const jsonBody: RequestHandler[] = [
    express.json({ limit: env.MAX_BODY_BYTES, type: () => true }),
    (req, res, next) => void (refuseEnvelope(req, res) || next()),
  ];
  type Route = (req: Request, res: Response) => Promise<void>;
  const handle =
    (route: Route): RequestHandler =>
    (req, res, next) =>
      void route(req, res).catch(next);
  // HEAD would open the legacy event stream (express serves HEAD with GET routes) and never end.
  http.head('/api/v1/mcp/:serverId', (_req, res) => {
    jsonRpcError(res, 405, { code: -32000, message: 'Method not allowed.', headers: { allow: 'GET, POST' } });
  });
  // Stateless Streamable HTTP has no GET stream, so a GET here is always the legacy transport.
  http.get(
    '/api/v1/mcp/:serverId',
    handle((req, res) => endpoints.openLegacyStream(req, res)),
  );
  http.post(
    '/api/v1/mcp/:serverId/messages',
    ...jsonBody,
    handle((req, res) => endpoints.postLegacyMessage(req, res)),
  );
  const serve = handle((req, res) => endpoints.serve(req, res));
  for (const path of ['/mcp/:serverId', '/api/v1/mcp/:serverId']) {
    http.post(path, ...jsonBody, serve);
    http.all(path, serve);
  }
  http.post(
    '/oauth/token-exchange',
    express.urlencoded({ extended: false, limit: '64kb' }),
    handle(opts.tokenExchange),
  );
  http.post('/oauth/revoke', express.urlencoded({ extended: false, limit: '64kb' }), handle(opts.tokenRevocation));
  const onError = httpErrorHandler(opts.log, env.MAX_BODY_BYTES);
  http.use((err: unknown, req: Request, res: Response, _next: unknown) => onError(err, req, res));
  // The common MCP POST skips the router and body parser (hot-lane.ts); the rest goes to express.
  const hot = hotLane({
    app: http,
    maxBodyBytes: env.MAX_BODY_BYTES,
    track: inFlight.track,
    serve: (req, res) => (refuseEnvelope(req, res) ? Promise.resolve() : endpoints.serve(req, res)),
    onError,
  });
  return {
    http,
    listener: (req, res) => void (hot(req, res) || http(req, res)),
    drain: inFlight.drain,
  };
}

/** The responses in flight, for a graceful stop (`EdgeHttp.drain`). */
function drainTracking() {
  let draining = false;
  const inFlight = new Set<Response>();
  return {
    track(res: Response): void {
      if (draining) res.setHeader('connection', 'close');
      inFlight.add(res);
      res.once('close', () => inFlight.delete(res));
    },
    drain(): void {
      draining = true;
      for (const res of inFlight) {
        if (!res.headersSent) res.setHeader('connection', 'close');
        else res.once('finish', () => res.socket?.end());
      }
    },
  };
}

/**
 * CORS for the browser origins of ALLOWED_ORIGINS (the dashboard's "Try a tool", browser MCP clients): their
 * preflights are answered and their responses readable. Other origins get no CORS headers, and their requests
 * are refused by `authenticate` (403), so a page elsewhere can neither call nor read.
 */
function allowedOriginsCors(allowedOrigins: readonly string[]): RequestHandler {
  const anyOrigin = allowedOrigins.includes('*');
  return (req, res, next) => {
    const origin = req.header('origin');
    if (origin === undefined || !(anyOrigin || allowedOrigins.includes(origin))) return next();
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
  };
}

/**
 * The edges' authorization server (ADR 0082): RFC 8414 metadata, its JWKS and the token endpoint (the JWT bearer
 * grant redeeming ID-JAGs; a form body, never in a URL).
 */
function authorizationServerRoutes(
  http: Express,
  as: EnterpriseAuthorizationServer | undefined,
  publicUrl: string | undefined,
): void {
  const off = (res: Response) => void res.status(404).json({ error: 'no authorization server on this edge' });
  http.get('/.well-known/oauth-authorization-server', (_req, res) => (as ? void res.json(as.metadata()) : off(res)));
  http.get('/oauth/jwks', (_req, res) => (as ? void res.json(as.jwks()) : off(res)));
  http.post('/oauth/token', express.urlencoded({ extended: false, limit: '64kb' }), (req, res, next) => {
    if (!as) return off(res);
    const form = (req.body ?? {}) as Record<string, unknown>;
    const dpop = { proof: req.header('dpop'), method: req.method, url: requestUrl(req, publicUrl) };
    as.token(form, { authorization: req.header('authorization'), address: clientKey(req.ip), dpop })
      .then((answer) => void res.status(answer.status).set(answer.headers).json(answer.body))
      .catch(next);
  });
}

/** OAuth protected-resource metadata, the edge's OpenAPI document, health and readiness. */
function infoRoutes(http: Express, { oauth, redis }: Pick<HttpAppOptions, 'oauth' | 'redis'>): void {
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
}
