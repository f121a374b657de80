import type { Request, Response } from 'express';
import { auditEventOf } from '../../db/audit-trail.ts';
import type { Prisma } from '../../generated/prisma/client.ts';
import { caller } from '../../http/auth.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import { ListAuditQuery } from './schemas.ts';

function where(workspaceId: string, q: ListAuditQuery): Prisma.AuditEventWhereInput {
  const action = q.action?.endsWith('.*') ? { startsWith: q.action.slice(0, -1) } : q.action;
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
type ListAuditQuery = ReturnType<typeof ListAuditQuery.parse>;

/**
 * `GET /audit_events` (scope `audit`): the caller's workspace's trail, filtered, in pages; each event as it was hashed,
 * so that a reader can verify the chain itself (`toolplane audit verify`).
 */
export async function listAuditEvents({ db }: ControlPlaneDeps, req: Request, res: Response): Promise<void> {
  const q = ListAuditQuery.parse(req.query);
  const rows = await db.auditEvent.findMany({
    where: where(caller(req).workspaceId, q),
    orderBy: { seq: q.order },
    take: q.limit + 1,
  });
  const page = rows.slice(0, q.limit);
  res.json({
    data: page.map(auditEventOf),
    next_cursor: rows.length > q.limit ? String(page.at(-1)!.seq) : null,
  });
}

/**
 * `POST /sign_ins`: the dashboard says a person signed in with this credential; the audit trail records it
 * (`dashboard.sign_in`). Answers who the credential is.
 */
export async function signIn({ db }: ControlPlaneDeps, req: Request, res: Response): Promise<void> {
  const c = caller(req);
  const workspace = await db.workspace.findUniqueOrThrow({
    where: { id: c.workspaceId },
    select: { id: true, name: true },
  });
  res.status(201).json({
    workspace,
    scopes: c.scopes,
    keyId: c.keyId ?? null,
    subject: c.subject ?? null,
  });
}
