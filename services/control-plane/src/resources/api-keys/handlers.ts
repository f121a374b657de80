import { NotFoundError, UserError, ValidationError, type ProblemIssue } from '@toolplane/errors';
import type { Db } from '../../db/client.ts';
import { isUuid } from '../../db/ids.ts';
import { credentialName } from '../../http/auth.ts';
import type { RuntimePublisher } from '../../publication/publisher.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import { applyingApproved } from '../change-requests/four-eyes.ts';
import { mayGrant } from '../../http/access.ts';
import { changeApiKey, createApiKey, creatorOf, syncApiKey, type KeyRow, type SealedKey } from './keys.ts';
import type { CreateApiKeyBody, UpdateApiKeyBody } from './schemas.ts';

/** A key as the API shows it; `lastUsed`: the last use edges recorded in Redis, when later than the stored one. */
function present(row: KeyRow, lastUsed?: number) {
  const recorded = lastUsed !== undefined ? new Date(lastUsed) : null;
  const lastUsedAt = recorded && (!row.lastUsedAt || recorded > row.lastUsedAt) ? recorded : row.lastUsedAt;
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    scopes: row.scopes,
    serverIds: row.serverIds.length > 0 ? row.serverIds : null,
    twin: row.twin ?? false,
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

/** The key `id` of the workspace, else 404. */
async function byId(db: Db, workspaceId: string, id: string): Promise<KeyRow> {
  const row = isUuid(id) ? await db.apiKey.findFirst({ where: { id, workspaceId } }) : null;
  if (!row) throw new NotFoundError('API key', id);
  return row;
}

/**
 * Last use: the hash edges write (at most once a minute per key) merged with the stored column, which
 * is brought forward here so that the value survives a Redis restart.
 */
async function withLastUse(db: Db, publisher: RuntimePublisher, rows: KeyRow[]) {
  const recorded = await publisher.apiKeysLastUsed(rows.map((k) => k.id)).catch(() => rows.map(() => undefined));
  const stale = rows.flatMap((k, i) =>
    recorded[i] !== undefined && (!k.lastUsedAt || recorded[i]! > k.lastUsedAt.getTime())
      ? [{ id: k.id, at: new Date(recorded[i]!) }]
      : [],
  );
  for (const s of stale)
    await db.apiKey.update({ where: { id: s.id }, data: { lastUsedAt: s.at } }).catch(() => undefined);
  return rows.map((k, i) => present(k, recorded[i]));
}

/** The value a held creation gave its requester, by its hash and prefix (four-eyes.ts), when applying it approved. */
function sealedOf(params: Record<string, string>): SealedKey | undefined {
  const { keyHash, keyPrefix } = params;
  return applyingApproved() && keyHash && keyPrefix ? { hash: keyHash, prefix: keyPrefix } : undefined;
}

/**
 * `POST /api_keys`: a key of the caller's workspace, its value shown once, its creator stored. A creation that waited
 * for approval (four eyes) gave its requester the value with the 202: applied, the approver's answer has none.
 */
export async function issueApiKey(deps: ControlPlaneDeps, input: Input<CreateApiKeyBody>) {
  const { db, publisher } = deps;
  const { body, caller: me, params } = input;
  await checkNewKey(deps, input);
  const sealed = sealedOf(params);
  const createdBy = creatorOf(me);
  const { row, value } = await createApiKey(db, publisher, { workspaceId: me.workspaceId, ...body, sealed, createdBy });
  return { ...present(row), ...(value !== undefined ? { key: value } : {}) };
}

/** What `POST /api_keys` refuses (422) before making anything, and before its creation is held (four eyes). */
export async function checkNewKey({ db }: ControlPlaneDeps, { body, caller: me }: Input<CreateApiKeyBody>) {
  const issues = body.scopes.flatMap((s, i) =>
    mayGrant(me, s) ? [] : [{ path: `/scopes/${i}`, message: `${credentialName(me)} has no "${s}" scope to grant` }],
  );
  issues.push(...(await serverIdIssues(db, me.workspaceId, body.serverIds, '/serverIds')));
  if (issues.length > 0) throw new ValidationError('the API key is invalid', issues, 'request.invalid');
}

/** `GET /api_keys`: the workspace's keys, oldest first. */
export async function listApiKeys({ db, publisher }: ControlPlaneDeps, { caller }: Input) {
  const rows = await db.apiKey.findMany({
    where: { workspaceId: caller.workspaceId },
    orderBy: { createdAt: 'asc' },
  });
  return { data: await withLastUse(db, publisher, rows) };
}

/** `GET /api_keys/{id}`. */
export async function getApiKey({ db, publisher }: ControlPlaneDeps, { params, caller }: Input) {
  return (await withLastUse(db, publisher, [await byId(db, caller.workspaceId, params.id!)]))[0];
}

/** `PATCH /api_keys/{id}`: renames, restricts or lifts a key's server restriction; every edge sees the change at once. */
export async function updateApiKey(
  { db, publisher }: ControlPlaneDeps,
  { body, params, caller }: Input<UpdateApiKeyBody>,
) {
  const row = await byId(db, caller.workspaceId, params.id!);
  const issues = await serverIdIssues(db, row.workspaceId, body.serverIds, '/serverIds');
  if (issues.length > 0) throw new ValidationError('the API key update is invalid', issues, 'request.invalid');
  if (row.revokedAt) throw new UserError('resource.conflict', `API key ${row.id} is revoked`, { status: 409 });
  const updated = await changeApiKey(db, publisher, (tx) =>
    tx.apiKey.update({
      where: { id: row.id },
      data: {
        ...(body.name !== undefined ? { name: body.name } : {}),
        ...(body.serverIds !== undefined ? { serverIds: body.serverIds ?? [] } : {}),
        ...(body.twin !== undefined ? { twin: body.twin } : {}),
      },
    }),
  );
  return (await withLastUse(db, publisher, [updated]))[0];
}

/**
 * `DELETE /api_keys/{id}`: revocation reaches every edge at once (the key record is removed from Redis and
 * the change announced).
 */
export async function revokeApiKey({ db, publisher }: ControlPlaneDeps, { params, caller }: Input): Promise<void> {
  const row = await byId(db, caller.workspaceId, params.id!);
  if (!row.revokedAt)
    await changeApiKey(db, publisher, (tx) =>
      tx.apiKey.update({ where: { id: row.id }, data: { revokedAt: new Date() } }),
    );
  else await syncApiKey(db, publisher, row.hash); // a retry removes it again (no-op when gone)
}
