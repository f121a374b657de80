import { NotFoundError } from '@toolplane/errors';
import { applyingApproved } from '../change-requests/four-eyes.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import { Reply, type Input } from '../operation.ts';
import { newScimTokenValue, sealScimToken } from './token.ts';

/** Where the identity provider sends its SCIM requests (outside `/api/v1`). */
export const scimBasePath = '/scim/v2';

function present(row: { id: string; prefix: string; createdAt: Date; lastUsedAt: Date | null }) {
  return {
    id: row.id,
    prefix: row.prefix,
    createdAt: row.createdAt,
    lastUsedAt: row.lastUsedAt,
    endpoint: scimBasePath,
  };
}

/**
 * `POST /scim_token`: a new SCIM token for the caller's workspace, replacing the previous one (which stops working at
 * once: rotation). Stored as a SHA-256 hash like API keys; the value is in this answer only. With four eyes on, the
 * creation waits for approval (ADR 0087): the 202 gave its requester the value, and the approved creation stores the
 * hash it was sealed with, its answer (the approver's) without a value.
 */
export async function rotateScimToken({ db }: ControlPlaneDeps, { caller: { workspaceId }, params }: Input) {
  const { keyHash, keyPrefix } = (params ?? {}) as Record<string, string | undefined>;
  const sealed = applyingApproved() && keyHash && keyPrefix ? { hash: keyHash, prefix: keyPrefix } : undefined;
  const token = sealed ? undefined : newScimTokenValue();
  const { hash, prefix } = sealed ?? sealScimToken(token!);
  const data = { prefix, hash, createdAt: new Date(), lastUsedAt: null };
  const row = await db.scimToken.upsert({ where: { workspaceId }, create: { workspaceId, ...data }, update: data });
  return new Reply(201, { ...present(row), ...(token !== undefined ? { token } : {}) });
}

/** `GET /scim_token`: the workspace's SCIM token (its prefix and dates), or 404 when it has none. */
export async function getScimToken({ db }: ControlPlaneDeps, { caller: { workspaceId } }: Input) {
  const row = await db.scimToken.findUnique({ where: { workspaceId } });
  if (!row) throw new NotFoundError('SCIM token', 'of this workspace');
  return present(row);
}

/** `DELETE /scim_token`: the identity provider's requests are refused from now on; people and groups stay. */
export async function deleteScimToken({ db }: ControlPlaneDeps, { caller: { workspaceId } }: Input): Promise<void> {
  const row = await db.scimToken.findUnique({ where: { workspaceId } });
  if (!row) throw new NotFoundError('SCIM token', 'of this workspace');
  await db.scimToken.delete({ where: { id: row.id } });
}
