import { randomUUID } from 'node:crypto';
import type { AuditSource } from '@toolplane/contracts';
import type { ControlPlaneDeps } from '../deps.ts';
import { isUuid } from '../../db/ids.ts';
import { notFound } from './errors.ts';
import { listSchema, maxResults } from './schema.ts';

/** One SCIM request: the workspace its token is of, the token (the audit actor), where its resources live. */
export interface ScimContext {
  deps: ControlPlaneDeps;
  workspaceId: string;
  tokenId: string;
  /** The absolute `/scim/v2` URL of this request's host (`meta.location`). */
  base: string;
  source: AuditSource;
}

/** A SCIM change's audit event (`scim.user.create`, …): by the workspace's SCIM token, after the change. */
export async function scimEvent(
  ctx: ScimContext,
  action: string,
  resource: { type: 'external_user' | 'scim_group'; id: string },
  details: Record<string, unknown>,
): Promise<void> {
  await ctx.deps.trail.appendAlone({
    id: randomUUID(),
    at: new Date().toISOString(),
    workspaceId: ctx.workspaceId,
    actor: { type: 'system', id: ctx.tokenId, name: 'scim' },
    action,
    resource,
    outcome: 'success',
    status: action.endsWith('.create') ? 201 : action.endsWith('.delete') ? 204 : 200,
    source: ctx.source,
    changes: null,
    details,
  });
}

/** `startIndex` and `count` (RFC 7644 §3.4.2.4): 1-based, a value below 1 read as 1; count capped at `max`. */
function page(query: Record<string, unknown>, max: number): { start: number; count: number } {
  const num = (v: unknown, fallback: number) => {
    const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : fallback;
    return Number.isSafeInteger(n) ? n : fallback;
  };
  return { start: Math.max(1, num(query.startIndex, 1)), count: Math.min(max, Math.max(0, num(query.count, max))) };
}

/**
 * A ListResponse (RFC 7644 §3.4.2) of `all`: the page `startIndex` and `count` ask for (at most `maxResults`), each
 * item shown by `show`.
 */
export function listResponse<T>(all: T[], query: Record<string, unknown> = {}, show: (item: T) => unknown = (i) => i) {
  const { start, count } = page(query, maxResults);
  const resources = all.slice(start - 1, start - 1 + count).map(show);
  return {
    schemas: [listSchema],
    totalResults: all.length,
    startIndex: start,
    itemsPerPage: resources.length,
    Resources: resources,
  };
}

/** A User or Group of the request's workspace by its id (`find` runs for a UUID only), else a SCIM 404. */
export async function scimById<R>(kind: 'User' | 'Group', id: string, find: () => Promise<R | null>): Promise<R> {
  const row = isUuid(id) ? await find() : null;
  if (!row) throw notFound(kind, id);
  return row;
}
