import { randomBytes } from 'node:crypto';
import { NotFoundError } from '@toolplane/errors';
import { Router } from 'express';
import { z } from 'zod';
import type { Db } from '../db/client.ts';
import { caller, hashApiKey } from '../http/auth.ts';
import { isUuid } from './ids.ts';
import type { RuntimePublisher } from '../publisher.ts';

export const apiKeyScopes = ['management', 'runtime'] as const;

const CreateApiKeyBody = z.object({
  name: z.string().min(1).max(100),
  scopes: z.array(z.enum(apiKeyScopes)).min(1).default(['management', 'runtime']),
});

/** A new key value: a recognisable prefix plus 32 random bytes. */
export function newApiKeyValue(): string {
  return `tp_${randomBytes(32).toString('base64url')}`;
}

export async function createApiKey(db: Db, publisher: RuntimePublisher, input: { workspaceId: string; name: string; scopes: string[]; value?: string }) {
  const value = input.value ?? newApiKeyValue();
  const hash = hashApiKey(value);
  const row = await db.$transaction(async (tx) => {
    const created = await tx.apiKey.create({ data: { workspaceId: input.workspaceId, name: input.name, prefix: value.slice(0, 10), hash, scopes: input.scopes } });
    await publisher.publishApiKey(hash, { keyId: created.id, workspaceId: created.workspaceId, scopes: created.scopes, revoked: false });
    return created;
  });
  return { row, value };
}

function present(row: { id: string; name: string; prefix: string; scopes: string[]; createdAt: Date; lastUsedAt: Date | null; revokedAt: Date | null }) {
  return { id: row.id, name: row.name, prefix: row.prefix, scopes: row.scopes, createdAt: row.createdAt, lastUsedAt: row.lastUsedAt, revokedAt: row.revokedAt };
}

export function apiKeysRouter(db: Db, publisher: RuntimePublisher): Router {
  const r = Router();
  r.post('/', async (req, res) => {
    const body = CreateApiKeyBody.parse(req.body ?? {});
    const { row, value } = await createApiKey(db, publisher, { workspaceId: caller(req).workspaceId, ...body });
    res.status(201).json({ ...present(row), key: value });
  });
  r.get('/', async (req, res) => {
    const rows = await db.apiKey.findMany({ where: { workspaceId: caller(req).workspaceId }, orderBy: { createdAt: 'asc' } });
    res.json({ data: rows.map(present) });
  });
  // Revocation reaches every edge at once: the key record is removed from Redis and the change announced.
  r.delete('/:id', async (req, res) => {
    const { workspaceId } = caller(req);
    const row = isUuid(req.params.id) ? await db.apiKey.findFirst({ where: { id: req.params.id, workspaceId } }) : null;
    if (!row) throw new NotFoundError('API key', req.params.id);
    if (!row.revokedAt) {
      await db.$transaction(async (tx) => {
        await tx.apiKey.update({ where: { id: row.id }, data: { revokedAt: new Date() } });
        await publisher.removeApiKey(row.hash);
      });
    }
    res.status(204).end();
  });
  return r;
}
