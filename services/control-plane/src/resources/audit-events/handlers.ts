import { auditEventOf } from '../../db/audit-trail.ts';
import type { Prisma } from '../../generated/prisma/client.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import type { ListAuditQuery } from './schemas.ts';

function where(workspaceId: string, q: ListAuditQuery): Prisma.AuditEventWhereInput {
  const action = q.action?.endsWith('.*')
    ? { startsWith: q.action.slice(0, -1) }
    : q.action?.startsWith('*.')
      ? { endsWith: q.action.slice(1) }
      : q.action;
  return {
    chain: workspaceId,
    ...(q.actor ? { OR: [{ actorId: q.actor }, { actorName: q.actor }] } : {}),
    ...(action ? { action } : {}),
    ...(q.resource_type ? { resourceType: q.resource_type } : {}),
    ...(q.resource_id ? { resourceId: q.resource_id } : {}),
    ...(q.outcome ? { outcome: q.outcome } : {}),
    ...(q.from || q.to ? { at: { ...(q.from ? { gte: q.from } : {}), ...(q.to ? { lt: q.to } : {}) } } : {}),
    ...(q.cursor !== undefined ? { seq: q.order === 'asc' ? { gt: q.cursor } : { lt: q.cursor } } : {}),
  };
}

/**
 * `GET /audit_events` (scope `audit`): the caller's workspace's trail, filtered, in pages; each event as it was hashed,
 * so that a reader can verify the chain itself (`toolplane audit verify`).
 */
export async function listAuditEvents(
  { db }: ControlPlaneDeps,
  { caller, query: q }: Input<undefined, ListAuditQuery>,
) {
  const rows = await db.auditEvent.findMany({
    where: where(caller.workspaceId, q),
    orderBy: { seq: q.order },
    take: q.limit + 1,
  });
  const page = rows.slice(0, q.limit);
  return {
    data: page.map(auditEventOf),
    next_cursor: rows.length > q.limit ? String(page.at(-1)!.seq) : null,
  };
}

/**
 * `POST /sign_ins`: the dashboard says a person signed in with this credential; the audit trail records it
 * (`dashboard.sign_in`). Answers who the credential is.
 */
export async function signIn({ db }: ControlPlaneDeps, { caller }: Input) {
  const workspace = await db.workspace.findUniqueOrThrow({
    where: { id: caller.workspaceId },
    select: { id: true, name: true },
  });
  return {
    workspace,
    scopes: caller.scopes,
    keyId: caller.keyId ?? null,
    subject: caller.subject ?? null,
  };
}
