import { createHash } from 'node:crypto';
import { redisKeys } from '@toolplane/contracts';
import { AuthError, NotFoundError, type AppError } from '@toolplane/errors';
import type { NextFunction, Request, Response } from 'express';
import type { RedisClient } from '@toolplane/redis';
import { requestUrl, type ProofRequest } from '@toolplane/dpop';
import type { Db } from '../db/client.ts';
import type { Role } from './roles.ts';

export interface Caller {
  workspaceId: string;
  /** The API key that called; undefined for a signed-in user (an OAuth access token, ADR 0020). */
  keyId?: string | undefined;
  /** The API key's name (what the audit trail shows beside its id); undefined for a token. */
  keyName?: string | undefined;
  /** The signed-in user (the token's `sub`); undefined for an API key. */
  subject?: string | undefined;
  /** The signed-in user's groups (the token's `OAUTH_GROUPS_CLAIM`); undefined for an API key. */
  groups?: string[] | undefined;
  /**
   * The signed-in user's roles in the workspace (http/roles.ts: what they may do beyond their token's scopes);
   * undefined for an API key.
   */
  roles?: Role[] | undefined;
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

/** The scopes that open the management API at all: each operation then asks for its own (`x-scope`). */
export const managementApiScopes: readonly string[] = ['management', 'audit', 'approve'];

const callers = new WeakMap<Request, Caller>();

/**
 * A key that authentication found but refused (no management, audit or approve scope): known, so its refusal is its
 * own.
 */
const refusedKeys = new WeakMap<Request, Pick<Caller, 'workspaceId' | 'keyId' | 'keyName'>>();

/**
 * Who the request is, when authentication found out (the audit trail asks at the end of any request): the caller, or
 * a key it refused for its scopes.
 */
export function callerIfAny(req: Request): Pick<Caller, 'workspaceId' | 'keyId' | 'keyName' | 'subject'> | undefined {
  return callers.get(req) ?? refusedKeys.get(req);
}

/** The request acts as `c` (tests that serve an operation table without authentication). */
export function actAs(step: Request, c: Caller): void {
  callers.set(step, c);
}

export function caller(req: Request): Caller {
  const c = callers.get(req);
  if (!c) throw new AuthError('auth.missing_key', 'authentication required');
  return c;
}

/**
 * Records a key's last use in Redis (the hash the edge writes too), at most once a minute per key and
 * process; `GET /api_keys` merges it. Failures are ignored: last use is informative.
 */
function lastUseRecorder(redis: RedisClient | undefined, prefix: string) {
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

/**
 * How the request presented its token: `Authorization: DPoP` (`dpopScheme`, RFC 9449 §7.1) or `Bearer`, with the
 * request's `DPoP` header, method and URL as the client called it (what a proof's `htm` and `htu` must name).
 */
export interface PresentedToken {
  readonly dpopScheme: boolean;
  readonly request?: ProofRequest | undefined;
}

/** Turns an OAuth bearer token into its caller, or throws (`ManagementTokenVerifier`, http/oauth.ts). */
export interface BearerVerifier {
  verify(token: string, presented?: PresentedToken): Promise<Caller>;
}

/** How errors name the caller's credential: "this API key" or "this access token". */
export function credentialName(c: Caller): string {
  return c.keyId === undefined ? 'this access token' : 'this API key';
}

/**
 * Management API authentication: `x-api-key`, looked up by hash, or, when an OAuth issuer is configured
 * (`oauth`), `Authorization: Bearer <access token>` of a signed-in user (ADR 0020), or `Authorization: DPoP` for a
 * token bound to a key, with its proof (RFC 9449, ADR 0109; `publicUrl`: the base URL clients call, which proofs name).
 * A key wins when both are sent.
 */
export function requireCaller(
  db: Db,
  opts: { redis?: RedisClient; prefix?: string; oauth?: BearerVerifier; publicUrl?: string | undefined } = {},
) {
  const recordUse = lastUseRecorder(opts.redis, opts.prefix ?? '');
  return async (req: Request, res: Response, next: NextFunction) => {
    const key = req.header('x-api-key');
    if (!key) {
      const [, scheme, bearer] =
        /^(Bearer|DPoP) +([A-Za-z0-9._~+/-]+=*) *$/i.exec(req.header('authorization') ?? '') ?? [];
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
        const request = { proof: req.header('dpop'), method: req.method, url: requestUrl(req, opts.publicUrl) };
        callers.set(req, await opts.oauth.verify(bearer, { dpopScheme: scheme!.toLowerCase() === 'dpop', request }));
      } catch (err) {
        if (err instanceof AuthError && err.status === 401)
          res.setHeader(
            'www-authenticate',
            'challenge' in err && typeof err.challenge === 'string'
              ? err.challenge
              : 'Bearer realm="toolplane", error="invalid_token"',
          );
        throw err;
      }
      return next();
    }
    const keyHash = hashApiKey(key);
    const found = await db.apiKey.findUnique({ where: { hash: keyHash } });
    const row = checkedKey(found);
    if (row instanceof AuthError) {
      if (found && !found.revokedAt)
        refusedKeys.set(req, { workspaceId: found.workspaceId, keyId: found.id, keyName: found.name });
      throw row;
    }
    callers.set(req, {
      workspaceId: row.workspaceId,
      keyId: row.id,
      keyName: row.name,
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

/**
 * The key row if it may use the management API, else why not (unknown, revoked, none of the "management", "audit"
 * and "approve" scopes). Which one an operation needs is the operation's to decide (`x-scope`, http/access.ts).
 */
function checkedKey<T extends KeyRow>(row: T | null): T | AuthError {
  if (!row || row.revokedAt) return new AuthError('auth.invalid_key', 'the API key is invalid or revoked');
  if (!managementApiScopes.some((s) => row.scopes.includes(s)))
    return new AuthError('auth.forbidden', 'this API key has no "management" scope');
  return row;
}

/**
 * What the management API would answer the key with this hash for MCP server `serverId` now (as
 * `requireCaller` and each operation's admission (http/access.ts) decide): the error, or undefined while it still reaches the
 * server. Long-lived answers (debug event streams) ask again whenever the key's change is announced.
 */
export async function keyAccessError(db: Db, keyHash: string, serverId: string): Promise<AppError | undefined> {
  const row = checkedKey(await db.apiKey.findUnique({ where: { hash: keyHash } }));
  if (row instanceof AuthError) return row;
  if (row.serverIds.length > 0 && !row.serverIds.includes(serverId)) return new NotFoundError('MCP server', serverId);
  return undefined;
}
