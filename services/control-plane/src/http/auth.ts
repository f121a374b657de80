import { createHash } from 'node:crypto';
import { redisKeys } from '@toolplane/contracts';
import { AuthError, NotFoundError, toProblem, type AppError } from '@toolplane/errors';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Redis } from 'ioredis';
import type { Db } from '../db/client.ts';
import { isUuid } from '../modules/ids.ts';
import { jsonBody } from './body.ts';

export interface Caller {
  workspaceId: string;
  /** The API key that called; undefined for a signed-in user (an OAuth access token, ADR 0020). */
  keyId?: string | undefined;
  /** The signed-in user (the token's `sub`); undefined for an API key. */
  subject?: string | undefined;
  /** Who calls, for per-caller limits: `key:<id>` or `user:<sub>`. */
  principal: string;
  scopes: string[];
  /** The only servers this key may touch; undefined = every server of the workspace. */
  serverIds?: string[] | undefined;
  /** The API key's hash (what key changes are announced by, on `apiKeyChanged`); undefined for a token. */
  keyHash?: string | undefined;
  /** When the access token expires (epoch ms, its `exp`); undefined for an API key. */
  expiresAt?: number | undefined;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

const callers = new WeakMap<Request, Caller>();

export function caller(req: Request): Caller {
  const c = callers.get(req);
  if (!c) throw new AuthError('auth.missing_key', 'authentication required');
  return c;
}

/**
 * Records a key's last use in Redis (the hash the edge writes too), at most once a minute per key and
 * process; `GET /api_keys` merges it. Failures are ignored: last use is informative.
 */
function lastUseRecorder(redis: Redis | undefined, prefix: string) {
  const written = new Map<string, number>();
  const key = redisKeys(prefix).apiKeyLastUsed;
  return (keyId: string) => {
    const now = Date.now();
    if (!redis || (written.get(keyId) ?? 0) > now - 60_000) return;
    written.set(keyId, now);
    if (written.size > 10_000) written.clear();
    redis.hset(key, keyId, String(now)).catch(() => written.delete(keyId));
  };
}

/** Turns an OAuth bearer token into its caller, or throws (`ManagementTokenVerifier`, http/oauth.ts). */
export interface BearerVerifier {
  verify(token: string): Promise<Caller>;
}

/** How errors name the caller's credential: "this API key" or "this access token". */
export function credentialName(c: Caller): string {
  return c.keyId === undefined ? 'this access token' : 'this API key';
}

/**
 * Management API authentication: `x-api-key`, looked up by hash, or, when an OAuth issuer is configured
 * (`oauth`), `Authorization: Bearer <access token>` of a signed-in user (ADR 0020). A key wins when both are sent.
 */
export function requireCaller(db: Db, opts: { redis?: Redis; prefix?: string; oauth?: BearerVerifier } = {}) {
  const recordUse = lastUseRecorder(opts.redis, opts.prefix ?? '');
  return async (req: Request, res: Response, next: NextFunction) => {
    const key = req.header('x-api-key');
    if (!key) {
      const bearer = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i.exec(req.header('authorization') ?? '')?.[1];
      if (bearer === undefined) {
        if (opts.oauth) res.setHeader('www-authenticate', 'Bearer realm="toolplane"');
        throw new AuthError(
          'auth.missing_key',
          opts.oauth
            ? 'the x-api-key header or an OAuth access token (Authorization: Bearer) is required'
            : 'the x-api-key header is required',
        );
      }
      if (!opts.oauth) {
        // A bearer challenge all the same (RFC 6750 3.1), as docs/api.md says of every `auth.invalid_token`.
        res.setHeader('www-authenticate', 'Bearer realm="toolplane", error="invalid_token"');
        throw new AuthError(
          'auth.invalid_token',
          'this control plane accepts API keys only (x-api-key): no OAuth issuer is configured (OAUTH_ISSUER)',
        );
      }
      try {
        callers.set(req, await opts.oauth.verify(bearer));
      } catch (err) {
        if (err instanceof AuthError && err.status === 401)
          res.setHeader('www-authenticate', 'Bearer realm="toolplane", error="invalid_token"');
        throw err;
      }
      return next();
    }
    const keyHash = hashApiKey(key);
    const row = checkedKey(await db.apiKey.findUnique({ where: { hash: keyHash } }));
    if (row instanceof AuthError) throw row;
    callers.set(req, {
      workspaceId: row.workspaceId,
      keyId: row.id,
      keyHash,
      principal: `key:${row.id}`,
      scopes: row.scopes,
      ...(row.serverIds.length > 0 ? { serverIds: row.serverIds } : {}),
    });
    recordUse(row.id);
    next();
  };
}

type KeyRow = { id: string; revokedAt: Date | null; scopes: string[]; serverIds: string[] };

/** The key row if it may use the management API, else why not (unknown, revoked, no "management" scope). */
function checkedKey<T extends KeyRow>(row: T | null): T | AuthError {
  if (!row || row.revokedAt) return new AuthError('auth.invalid_key', 'the API key is invalid or revoked');
  if (!row.scopes.includes('management'))
    return new AuthError('auth.forbidden', 'this API key has no "management" scope');
  return row;
}

/**
 * What the management API would answer the key with this hash for MCP server `serverId` now (as
 * `requireCaller` and `enforceServerRestriction` decide): the error, or undefined while it still reaches the
 * server. Long-lived answers (debug event streams) ask again whenever the key's change is announced.
 */
export async function keyAccessError(db: Db, keyHash: string, serverId: string): Promise<AppError | undefined> {
  const row = checkedKey(await db.apiKey.findUnique({ where: { hash: keyHash } }));
  if (row instanceof AuthError) return row;
  if (row.serverIds.length > 0 && !row.serverIds.includes(serverId)) return new NotFoundError('MCP server', serverId);
  return undefined;
}

/**
 * Fields of `PATCH /mcp_manager/{id}` that change what a server exposes or who may call it: a key
 * limited to servers could otherwise widen its own server (another connector instance, SMART mode over
 * the workspace's tools, external servers, a public URL for anonymous callers). They need a key without
 * a server restriction, or the `server_admin` scope. So do `POST /mcp_servers/{id}/deploy`,
 * `POST /mcp_servers/{id}/deployments/{deploymentId}/redeploy` (a workflow deployment replaces the server's tools)
 * and `…/withdraw` (its tools leave the server).
 */
const exposureFields = [
  'mode',
  'isPublic',
  'perRequestAuth',
  'connectorInstanceId',
  'selectedTools',
  'externalMcpConfigs',
  'externalMcpServers',
  'config',
] as const;

/** Routes where a server id is the first path segment after the mount point. */
const serverScoped = /^\/(?:mcp_manager|mcp_servers)\/([^/]+)(?:\/|$)/;

/**
 * Keys limited to servers (`serverIds`) on the management API: they reach only `/mcp_manager/{id}/…`
 * and `/mcp_servers/{id}/…` of their servers (another id is a 404, as in another workspace), the server
 * list filtered to theirs, and execution records and traffic figures (`/stats`) of their servers.
 * Workspace-wide endpoints (connectors, instances, secrets, users, keys, policies, creating servers)
 * need an unrestricted key (403).
 */
export function enforceServerRestriction(db: Db, opts: { maxBodyBytes?: number } = {}) {
  const parseJson = jsonBody(opts.maxBodyBytes ?? 1024 * 1024);
  return async (req: Request, res: Response, next: NextFunction) => {
    const c = caller(req);
    const { serverIds, workspaceId } = c;
    if (!serverIds) return next();
    const allowed = new Set(serverIds);
    const scoped = serverScoped.exec(req.path);
    if (scoped && scoped[1] !== 'load-tools-from-url') {
      const idOrName = decodeURIComponent(scoped[1]!);
      // Servers are addressed by id or by name (where the routes accept one).
      const id = isUuid(idOrName)
        ? idOrName
        : (await db.mcpServer.findFirst({ where: { workspaceId, name: idOrName }, select: { id: true } }))?.id;
      if (!id || !allowed.has(id)) throw new NotFoundError('MCP server', idOrName);
      if (c.scopes.includes('server_admin')) return next();
      const refuse = (change: string) =>
        new AuthError(
          'auth.forbidden',
          `this API key is limited to servers ${serverIds.join(', ')}: ${change} needs a key without a server ` +
            'restriction or with the "server_admin" scope',
        );
      // A workflow deployment replaces the server's tools (and decides where its $secrets are sent).
      if (
        req.method === 'POST' &&
        /^\/mcp_servers\/[^/]+\/(?:deploy|deployments\/[^/]+\/(?:redeploy|withdraw))\/?$/.test(req.path)
      )
        throw refuse('deploying a workflow (what the server exposes)');
      if (req.method !== 'PATCH' || !/^\/mcp_manager\/[^/]+\/?$/.test(req.path)) return next();
      // The body is parsed here (the router's parser then sees it parsed) to look at the fields it changes.
      return runAll(parseJson, req, res, (err?: unknown) => {
        if (err) return next(err);
        const body = (req.body ?? {}) as Record<string, unknown>;
        const fields = exposureFields.filter((f) => typeof body === 'object' && body[f] !== undefined);
        if (fields.length === 0) return next();
        next(refuse(`changing ${fields.join(', ')} (what the server exposes or who may call it)`));
      });
    }
    // The list counts and pages through the key's servers only (servers.ts filters the query).
    if (req.method === 'GET' && /^\/mcp_manager\/?$/.test(req.path)) return next();
    // Traffic figures: of one of the key's servers.
    if (req.method === 'GET' && /^\/stats\/?$/.test(req.path)) {
      const requested = typeof req.query.server_id === 'string' ? req.query.server_id : undefined;
      if (!requested || !allowed.has(requested))
        throw new AuthError(
          'auth.forbidden',
          `this API key is limited to servers ${serverIds.join(', ')}: pass one of them as server_id`,
        );
      return next();
    }
    if (req.method === 'GET' && /^\/execution_records(?:\/|$)/.test(req.path)) {
      const single = /^\/execution_records\/([^/]+)\/?$/.exec(req.path);
      if (!single) {
        const requested = typeof req.query.server_id === 'string' ? req.query.server_id : undefined;
        if (!requested || !allowed.has(requested))
          throw new AuthError(
            'auth.forbidden',
            `this API key is limited to servers ${serverIds.join(', ')}: pass one of them as server_id`,
          );
        return next();
      }
      filterJson(res, (body) => {
        const serverId = (body as { server_id?: string } | undefined)?.server_id;
        if (serverId !== undefined && !allowed.has(serverId)) throw new NotFoundError('execution record', single[1]!);
        return body;
      });
      return next();
    }
    throw new AuthError(
      'auth.forbidden',
      `this API key is limited to servers ${serverIds.join(', ')}; ` +
        `${req.method} ${JSON.stringify(req.baseUrl + req.path)} needs a key without a server restriction`,
    );
  };
}

/** Runs middleware in order, stopping at the first error. */
function runAll(handlers: RequestHandler[], req: Request, res: Response, done: (err?: unknown) => void): void {
  const step = (i: number, err?: unknown): void => {
    if (err || i === handlers.length) return done(err);
    try {
      handlers[i]!(req, res, (e?: unknown) => step(i + 1, e));
    } catch (e) {
      done(e);
    }
  };
  step(0);
}

/** Rewrites a JSON response body of a successful answer before it is sent; a throw becomes that error's problem+json. */
function filterJson(res: Response, rewrite: (body: unknown) => unknown): void {
  const json = res.json.bind(res);
  res.json = (body: unknown) => {
    if (res.statusCode >= 300) return json(body);
    try {
      return json(rewrite(body));
    } catch (err) {
      const problem = toProblem(err as AppError);
      return res.status(problem.status).type('application/problem+json').send(JSON.stringify(problem));
    }
  };
}
