import { createHash } from 'node:crypto';
import { AuthError } from '@toolplane/errors';
import type { NextFunction, Request, Response } from 'express';
import type { Db } from '../db/client.ts';

export interface Caller {
  workspaceId: string;
  keyId: string;
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

/** Management API authentication: `x-api-key`, looked up by hash. */
export function requireApiKey(db: Db) {
  return async (req: Request, _res: Response, next: NextFunction) => {
    const key = req.header('x-api-key');
    if (!key) throw new AuthError('auth.missing_key', 'the x-api-key header is required');
    const row = await db.apiKey.findUnique({ where: { hash: hashApiKey(key) } });
    if (!row || row.revokedAt) throw new AuthError('auth.invalid_key', 'the API key is invalid or revoked');
    if (!row.scopes.includes('management')) throw new AuthError('auth.forbidden', 'this API key has no "management" scope');
    callers.set(req, { workspaceId: row.workspaceId, keyId: row.id });
    next();
  };
}
