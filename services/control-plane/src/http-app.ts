import { trustProxy } from '@toolplane/config';
import express from 'express';
import { observeCertificateExpiry, observeDatabaseUp } from '@toolplane/telemetry';
import { openApiDocumentText } from './api-document.ts';
import type { ControlPlaneEnv } from './env.ts';
import type { Db } from './db/client.ts';
import { requestAudit } from './http/audit.ts';
import { requireCaller, type BearerVerifier, type PresentedToken } from './http/auth.ts';
import { dashboardRouter } from './http/dashboard.ts';
import { receiptKeysRoute } from './http/receipt-keys.ts';
import { errorHandler, notFoundHandler } from './http/error-handler.ts';
import { unauthenticatedLimit } from './http/limits.ts';
import { AuthError, TransientError } from '@toolplane/errors';
import { DpopProofs } from '@toolplane/dpop';
import type { RedisClient } from '@toolplane/redis';
import { AuthorizationServerDiscovery, ManagementTokenVerifier } from './http/oauth.ts';
import { apiRouter } from './http/api-router.ts';
import { samlRouter } from './http/saml/router.ts';
import { certificatesNotAfter, SamlSignIn, samlSettings } from './http/saml/sign-in.ts';
import { approvalPageRouter } from './resources/approvals/page-router.ts';
import { connectRouter } from './resources/connect/router.ts';
import type { ControlPlaneDeps } from './resources/deps.ts';
import { mountOperations } from './resources/operation.ts';
import { scimRouter } from './resources/scim/router.ts';
import { scimBasePath } from './resources/scim-token/handlers.ts';
import { allOperations } from './resources/operations.ts';

/** Signed-in users' access tokens besides API keys, when an issuer is configured (ADR 0020). */
export function managementTokenVerifier(
  env: ControlPlaneEnv,
  db: Db,
  redis: RedisClient,
): ManagementTokenVerifier | undefined {
  return env.OAUTH_ISSUER && env.OAUTH_JWKS_URL && env.OAUTH_AUDIENCE
    ? new ManagementTokenVerifier(
        {
          issuer: env.OAUTH_ISSUER,
          jwksUrl: env.OAUTH_JWKS_URL,
          audience: env.OAUTH_AUDIENCE,
          workspaceClaim: env.OAUTH_WORKSPACE_CLAIM,
          groupsClaim: env.OAUTH_GROUPS_CLAIM,
          scopePrefix: env.OAUTH_SCOPE_PREFIX,
        },
        db,
        // Bound tokens' proofs (RFC 9449, ADR 0109): each `jti` spent once in the Redis the edges spend theirs in.
        new DpopProofs(redis, env.REDIS_PREFIX, redisUnavailable),
      )
    : undefined;
}

/** A Redis failure while a proof's `jti` is spent: retry later (503), not a bad token. */
async function redisUnavailable<T>(command: () => Promise<T>): Promise<T> {
  try {
    return await command();
  } catch (err) {
    throw new TransientError(
      'service.unavailable',
      'DPoP proofs cannot be checked now (Redis); retry later',
      {},
      {
        cause: err,
      },
    );
  }
}

/**
 * People's bearer tokens: a SAML session's (ADR 0083) when SAML sign-in is configured, else the OAuth issuer's access
 * token (ADR 0020); undefined when neither is configured (API keys only).
 */
function bearerVerifier(
  oauth: ManagementTokenVerifier | undefined,
  saml: SamlSignIn | undefined,
): BearerVerifier | undefined {
  if (!saml) return oauth;
  return {
    verify(token: string, presented?: PresentedToken) {
      if (SamlSignIn.owns(token)) {
        // A session is never bound to a key: the DPoP scheme promises a binding it does not have (RFC 9449 §7.1).
        if (presented?.dpopScheme)
          throw new AuthError('auth.invalid_token', 'a SAML session is not bound to a DPoP key: send it as Bearer');
        return saml.verify(token);
      }
      if (oauth) return oauth.verify(token, presented);
      throw new AuthError('auth.invalid_token', 'this control plane accepts SAML sessions and API keys only');
    },
  };
}

/**
 * The management API (`/api/v1`): authentication, then every resource's router, each built from the same
 * dependencies; keys limited to servers reach only what each route declares (ADR 0013), decided on the route that
 * matched.
 */
function managementApi(deps: ControlPlaneDeps, oauth: BearerVerifier | undefined) {
  const { env, db, redis } = deps;
  const api = apiRouter();
  api.use(requestAudit({ trail: deps.trail, log: deps.log }));
  api.use(unauthenticatedLimit(env.UNAUTH_RATE_LIMIT, env.UNAUTH_RATE_WINDOW_SECONDS));
  const publicUrl = env.PUBLIC_API_URL;
  api.use(requireCaller(db, { redis, prefix: env.REDIS_PREFIX, publicUrl, ...(oauth ? { oauth } : {}) }));
  // Every operation of every resource, each at its documented path, admitted by its own declaration.
  mountOperations(api, deps, allOperations);
  return api;
}

/** The dashboard's settings: where the edge is, and how people sign in when an issuer is configured. */
function dashboard(env: ControlPlaneEnv, oauth: ManagementTokenVerifier | undefined, saml: SamlSignIn | undefined) {
  return dashboardRouter({
    dir: env.DASHBOARD_DIR,
    edgeUrl: env.PUBLIC_EDGE_URL,
    jaegerUiUrl: env.JAEGER_UI_URL,
    saml: saml ? { idp: saml.settings.idpEntityId } : undefined,
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
  });
}

/** Whether PostgreSQL answers `SELECT 1` within 2 s (a scrape must not wait on a connection that hangs). */
async function databaseAnswers(db: ControlPlaneDeps['db']): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), 2_000)));
  try {
    return await Promise.race([db.$queryRawUnsafe('SELECT 1').then(() => true as const), late]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** Health and readiness, the API's own description and the receipt keys (public, like any API's document and keys). */
function publicRoutes(http: express.Express, { db, redis, env }: ControlPlaneDeps): void {
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
  const documentText = openApiDocumentText();
  http.get('/api/v1/openapi.json', (_req, res) => {
    res.type('application/json').send(documentText);
  });
  // The receipt keys, for verifiers of the calls' receipts (ADR 0111).
  receiptKeysRoute(http, env.RECEIPT_KEYS_FILE);
}

/** The control plane's HTTP application: health, the management API, people's connect and approval pages, the dashboard. */
export function httpApp(deps: ControlPlaneDeps, oauth: ManagementTokenVerifier | undefined): express.Express {
  const http = express();
  http.disable('x-powered-by');
  http.set('etag', false);
  http.set('trust proxy', trustProxy(deps.env.TRUST_PROXY));
  // A path names one route or none: `/API/v1/…`, `…/Deploy` and `…/deploy/` are no route (http/api-router.ts).
  http.set('case sensitive routing', true);
  http.set('strict routing', true);
  // Every answer is what its Content-Type says (JSON, problem+json, event streams, the dashboard's files):
  // browsers must not guess otherwise (a problem's detail quotes parts of the request).
  http.use((_req, res, next) => {
    res.setHeader('x-content-type-options', 'nosniff');
    next();
  });
  publicRoutes(http, deps);
  const settings = samlSettings(deps.env);
  const saml = settings ? new SamlSignIn(settings, deps) : undefined;
  if (settings) observeCertificateExpiry('saml_idp', certificatesNotAfter(settings.idpCerts));
  observeDatabaseUp(() => databaseAnswers(deps.db));
  http.use('/api/v1', managementApi(deps, bearerVerifier(oauth, saml)));
  // SAML sign-in of people (ADR 0083): metadata, AuthnRequests, the ACS; the session is the management API's bearer.
  const limit = { points: deps.env.UNAUTH_RATE_LIMIT, windowSeconds: deps.env.UNAUTH_RATE_WINDOW_SECONDS };
  if (saml) http.use(samlRouter(saml, { ...deps, limit }));
  // SCIM 2.0 for the workspace's identity provider (ADR 0062): its own token, its own errors, outside the API's document.
  http.use(scimBasePath, scimRouter(deps));
  // People's connect links and the OAuth providers' callback (ADR 0027): public pages, the link is the credential.
  http.use(connectRouter(deps));
  // People's approval pages (ADR 0049): the same kind of page, bound to the browser the same way.
  http.use(approvalPageRouter(deps));
  http.use(dashboard(deps.env, oauth, saml));
  http.use(notFoundHandler);
  http.use(errorHandler(deps.log));
  return http;
}
