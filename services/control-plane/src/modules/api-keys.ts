import { randomBytes } from 'node:crypto';
import { humanName, type ApiKeyRecord } from '@toolplane/contracts';
import { AuthError, NotFoundError, UserError, ValidationError, type ProblemIssue } from '@toolplane/errors';
import { type Router } from 'express';
import { z } from 'zod';
import type { Db, Tx } from '../db/client.ts';
import { caller, credentialName, hashApiKey } from '../http/auth.ts';
import { isUuid } from './ids.ts';
import { publicationResources, type RuntimePublisher } from '../publisher.ts';
import { apiRouter } from '../http/route-access.ts';

/**
 * management: the REST API; runtime: MCP on the edge; admin: the organization's workspaces (POST /workspaces);
 * server_admin: a key limited to servers may still change what they expose and who may call them
 * (`mode`, `isPublic`, `perRequestAuth`, `connectorInstanceId`, `selectedTools`, `externalMcpConfigs`, `config`).
 */
export const apiKeyScopes = ['management', 'runtime', 'admin', 'server_admin'] as const;

const ServerIds = z
  .array(z.string().min(1))
  .min(1, 'must name at least one server (omit it for every server of the workspace)')
  .max(100);

export const CreateApiKeyBody = z
  .object({
    name: humanName(100),
    scopes: z.array(z.enum(apiKeyScopes)).min(1).default(['management', 'runtime']),
    serverIds: ServerIds.optional(),
  })
  .strict();

export const UpdateApiKeyBody = z
  .object({
    name: humanName(100).optional(),
    /** null lifts the restriction. */
    serverIds: ServerIds.nullable().optional(),
  })
  .strict();

/** A new key value: a recognisable prefix plus 32 random bytes. */
function newApiKeyValue(): string {
  return `tp_${randomBytes(32).toString('base64url')}`;
}

type KeyRow = {
  id: string;
  workspaceId: string;
  name: string;
  prefix: string;
  hash: string;
  scopes: string[];
  serverIds: string[];
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
};

/** What the edge reads from Redis for a key (hash → record). */
function apiKeyRecord(row: Pick<KeyRow, 'id' | 'workspaceId' | 'scopes' | 'serverIds'>): ApiKeyRecord {
  return {
    keyId: row.id,
    workspaceId: row.workspaceId,
    scopes: row.scopes,
    revoked: false,
    ...(row.serverIds.length > 0 ? { serverIds: row.serverIds } : {}),
  };
}

export async function createApiKey(
  db: Db,
  publisher: RuntimePublisher,
  input: { workspaceId: string; name: string; scopes: string[]; serverIds?: string[] | undefined; value?: string },
) {
  const value = input.value ?? newApiKeyValue();
  const hash = hashApiKey(value);
  const row = await changeApiKey(db, publisher, (tx) =>
    tx.apiKey.create({
      data: {
        workspaceId: input.workspaceId,
        name: input.name,
        prefix: value.slice(0, 10),
        hash,
        scopes: input.scopes,
        serverIds: input.serverIds ?? [],
      },
    }),
  );
  return { row, value };
}

function present(row: KeyRow, lastUsed?: number) {
  const recorded = lastUsed !== undefined ? new Date(lastUsed) : null;
  const lastUsedAt = recorded && (!row.lastUsedAt || recorded > row.lastUsedAt) ? recorded : row.lastUsedAt;
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    scopes: row.scopes,
    serverIds: row.serverIds.length > 0 ? row.serverIds : null,
    createdAt: row.createdAt,
    lastUsedAt,
    revokedAt: row.revokedAt,
  };
}

/** Every id must be a server of the workspace: one issue per unknown id. */
async function serverIdIssues(
  db: Db,
  workspaceId: string,
  ids: string[] | null | undefined,
  path: string,
): Promise<ProblemIssue[]> {
  if (!ids) return [];
  const valid = ids.filter(isUuid);
  const found = new Set(
    (await db.mcpServer.findMany({ where: { workspaceId, id: { in: valid } }, select: { id: true } })).map((s) => s.id),
  );
  return ids.flatMap((id, i) =>
    found.has(id) ? [] : [{ path: `${path}/${i}`, message: `no MCP server ${id} in this workspace` }],
  );
}

export function apiKeysRouter(db: Db, publisher: RuntimePublisher): Router {
  const r = apiRouter();
  const byId = async (req: { params: { id?: string } } & Parameters<typeof caller>[0]) => {
    const row = isUuid(req.params.id)
      ? await db.apiKey.findFirst({ where: { id: req.params.id, workspaceId: caller(req).workspaceId } })
      : null;
    if (!row) throw new NotFoundError('API key', String(req.params.id));
    return row;
  };
  // Last use: the hash edges write (at most once a minute per key) merged with the stored column, which
  // is brought forward here so that the value survives a Redis restart.
  const withLastUse = async (rows: KeyRow[]) => {
    const recorded = await publisher.apiKeysLastUsed(rows.map((k) => k.id)).catch(() => rows.map(() => undefined));
    const stale = rows.flatMap((k, i) =>
      recorded[i] !== undefined && (!k.lastUsedAt || recorded[i]! > k.lastUsedAt.getTime())
        ? [{ id: k.id, at: new Date(recorded[i]!) }]
        : [],
    );
    for (const s of stale)
      await db.apiKey.update({ where: { id: s.id }, data: { lastUsedAt: s.at } }).catch(() => undefined);
    return rows.map((k, i) => present(k, recorded[i]));
  };

  r.post('/', async (req, res) => {
    const body = CreateApiKeyBody.parse(req.body ?? {});
    const me = caller(req);
    // No escalation: a key grants only scopes it has itself (a key without a server restriction has
    // every power server_admin gives back to a restricted key, so it may grant that one).
    const issues = body.scopes.flatMap((s, i) =>
      me.scopes.includes(s) || (s === 'server_admin' && !me.serverIds)
        ? []
        : [{ path: `/scopes/${i}`, message: `${credentialName(me)} has no "${s}" scope to grant` }],
    );
    issues.push(...(await serverIdIssues(db, me.workspaceId, body.serverIds, '/serverIds')));
    if (issues.length > 0) throw new ValidationError('the API key is invalid', issues, 'request.invalid');
    const { row, value } = await createApiKey(db, publisher, { workspaceId: me.workspaceId, ...body });
    res.status(201).json({ ...present(row), key: value });
  });
  r.get('/', async (req, res) => {
    const rows = await db.apiKey.findMany({
      where: { workspaceId: caller(req).workspaceId },
      orderBy: { createdAt: 'asc' },
    });
    res.json({ data: await withLastUse(rows) });
  });
  r.get('/:id', async (req, res) => {
    res.json((await withLastUse([await byId(req)]))[0]);
  });
  // Renames, restricts or lifts a key's server restriction; every edge sees the change at once.
  r.patch('/:id', async (req, res) => {
    const body = UpdateApiKeyBody.parse(req.body ?? {});
    const row = await byId(req);
    const issues = await serverIdIssues(db, row.workspaceId, body.serverIds, '/serverIds');
    if (issues.length > 0) throw new ValidationError('the API key update is invalid', issues, 'request.invalid');
    if (row.revokedAt) throw new UserError('resource.conflict', `API key ${row.id} is revoked`, { status: 409 });
    const updated = await changeApiKey(db, publisher, (tx) =>
      tx.apiKey.update({
        where: { id: row.id },
        data: {
          ...(body.name !== undefined ? { name: body.name } : {}),
          ...(body.serverIds !== undefined ? { serverIds: body.serverIds ?? [] } : {}),
        },
      }),
    );
    res.json((await withLastUse([updated]))[0]);
  });
  // Revocation reaches every edge at once: the key record is removed from Redis and the change announced.
  r.delete('/:id', async (req, res) => {
    const row = await byId(req);
    if (!row.revokedAt)
      await changeApiKey(db, publisher, (tx) =>
        tx.apiKey.update({ where: { id: row.id }, data: { revokedAt: new Date() } }),
      );
    else await syncApiKey(db, publisher, row.hash); // a retry removes it again (no-op when gone)
    res.status(204).end();
  });
  return r;
}

/** Fails unless the caller (its API key or access token) has `scope`. */
export function requireScope(req: Parameters<typeof caller>[0], scope: string): void {
  const me = caller(req);
  if (!me.scopes.includes(scope))
    throw new AuthError('auth.forbidden', `${credentialName(me)} has no "${scope}" scope`);
}

/**
 * One key's change, all or nothing: the row written in a transaction whose last step publishes the row as
 * written (Redis unreachable: the transaction rolls back, nothing is saved, the caller gets 503), then,
 * after the commit, published again from what PostgreSQL holds, under the publication lock (a
 * republication that read before the commit may have overwritten the first write; ADR 0017). A failure of
 * that second write marks the runtime state stale (the publisher's `onFailure`): the keeper republishes.
 */
async function changeApiKey(db: Db, publisher: RuntimePublisher, write: (tx: Tx) => Promise<KeyRow>): Promise<KeyRow> {
  const row = await db.$transaction(async (tx) => {
    const written = await write(tx);
    await publisher.exclusive(publicationResources.apiKeys, () =>
      publisher.setApiKey(written.hash, written.revokedAt ? undefined : apiKeyRecord(written)),
    );
    return written;
  });
  await syncApiKey(db, publisher, row.hash).catch(() => undefined);
  return row;
}

/**
 * Publishes one key as PostgreSQL has it now (active: its record; revoked or missing: removed), under
 * the API keys' publication lock, so that it cannot interleave with a republication (ADR 0017).
 */
export function syncApiKey(db: Db, publisher: RuntimePublisher, hash: string): Promise<void> {
  return publisher.exclusive(publicationResources.apiKeys, async () => {
    const row = await db.apiKey.findUnique({ where: { hash } });
    await publisher.setApiKey(hash, row && !row.revokedAt ? apiKeyRecord(row) : undefined);
  });
}

/**
 * Re-publishes every active key and removes every other one (Redis may have restarted empty, as in the
 * embedded default, or a revocation's removal may have failed).
 */
export function republishApiKeys(db: Db, publisher: RuntimePublisher): Promise<number> {
  return publisher.exclusive(publicationResources.apiKeys, async () => {
    const keys = await db.apiKey.findMany({ where: { revokedAt: null } });
    await publisher.replaceApiKeys(new Map(keys.map((k) => [k.hash, apiKeyRecord(k)])));
    return keys.length;
  });
}
