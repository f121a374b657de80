import { AUDIT_LATE_AFTER_MS, auditEventOf } from '../../db/audit-trail.ts';
import type { Db } from '../../db/client.ts';
import type { Prisma } from '../../generated/prisma/client.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import type { ListAuditQuery } from './schemas.ts';

type Where = Prisma.AuditEventWhereInput;
/** An action filter: one action, the chain's actions a pattern names, or none (a pattern that names none). */
type ActionFilter = string | { in: string[] } | undefined | null;

/**
 * The chain's distinct actions, each found by one step of its action index (`(chain, action, seq)`, a skip scan): as
 * many steps as the chain has kinds of action, a few hundred at most, whatever the trail's length.
 */
async function chainActions(db: Db, chain: string): Promise<string[]> {
  const rows = await db.$queryRaw<{ action: string }[]>`
    WITH RECURSIVE a(action) AS (
      (SELECT action FROM audit_events WHERE chain = ${chain} ORDER BY action LIMIT 1)
      UNION ALL
      SELECT (SELECT e.action FROM audit_events e WHERE e.chain = ${chain} AND e.action > a.action
              ORDER BY e.action LIMIT 1)
        FROM a WHERE a.action IS NOT NULL
    ) SELECT action FROM a WHERE action IS NOT NULL`;
  return rows.map((r) => r.action);
}

/**
 * `server.*` and `*.would_refuse` as the list of the chain's actions they name (ADR 0105): each is then a walk of the
 * action index, where a `LIKE` would read the whole chain.
 */
async function actionFilter(db: Db, chain: string, action: string | undefined): Promise<ActionFilter> {
  if (!action?.includes('*')) return action;
  const named = (await chainActions(db, chain)).filter((a) =>
    action.endsWith('.*') ? a.startsWith(action.slice(0, -1)) : a.endsWith(action.slice(1)),
  );
  return named.length === 0 ? null : named.length === 1 ? named[0] : { in: named };
}

/**
 * The time bounds as `seq` bounds (ADR 0105), from `at_floor` (the chain's latest `at` so far less a minute, never
 * falling as `seq` grows; an event in time order has its `at` at most a minute above its floor): `from` starts at the
 * first event whose floor reached a minute before it (no earlier one can be at or after it); `to` ends the events in
 * time order at the last whose floor is before it (`inTimeUpTo`): after it only events appended late
 * (`at < at_floor`, their own small index) can be before `to`. Undefined: no such event, the list is empty.
 */
async function seqBounds(
  db: Db,
  chain: string,
  q: ListAuditQuery,
): Promise<{ from?: number; inTimeUpTo?: number } | undefined> {
  const bounds: { from?: number; inTimeUpTo?: number } = {};
  if (q.from) {
    const first = await db.auditEvent.findFirst({
      where: { chain, atFloor: { gte: new Date(q.from.getTime() - AUDIT_LATE_AFTER_MS) } },
      orderBy: [{ atFloor: 'asc' }, { seq: 'asc' }],
      select: { seq: true },
    });
    if (!first) return undefined;
    bounds.from = first.seq;
  }
  if (q.to) {
    const last = await db.auditEvent.findFirst({
      where: { chain, atFloor: { lt: q.to } },
      orderBy: [{ atFloor: 'desc' }, { seq: 'desc' }],
      select: { seq: true },
    });
    bounds.inTimeUpTo = last?.seq ?? 0;
  }
  return bounds;
}

function where(chain: string, q: ListAuditQuery, action: ActionFilter, from: number | undefined): Where {
  return {
    chain,
    ...(q.actor ? { OR: [{ actorId: q.actor }, { actorName: q.actor }] } : {}),
    ...(action ? { action } : {}),
    ...(q.resource_type ? { resourceType: q.resource_type } : {}),
    ...(q.resource_id ? { resourceId: q.resource_id } : {}),
    ...(q.outcome ? { outcome: q.outcome } : {}),
    ...(q.from || q.to ? { at: { ...(q.from ? { gte: q.from } : {}), ...(q.to ? { lt: q.to } : {}) } } : {}),
    AND: [
      ...(q.cursor !== undefined ? [{ seq: q.order === 'asc' ? { gt: q.cursor } : { lt: q.cursor } }] : []),
      ...(from !== undefined ? [{ seq: { gte: from } }] : []),
    ],
  };
}

/**
 * A page of the chain's events that match `q`, and one more. With `to`, two walks in the page's order: the events in
 * time order up to the bound and those appended late after it (oldest first: those first; newest first: these).
 */
async function auditRows(db: Db, chain: string, q: ListAuditQuery) {
  const take = q.limit + 1;
  const action = await actionFilter(db, chain, q.action);
  const bounds = action === null ? undefined : await seqBounds(db, chain, q);
  if (!bounds) return [];
  const base = where(chain, q, action, bounds.from);
  const page = (w: Where, n: number) => db.auditEvent.findMany({ where: w, orderBy: { seq: q.order }, take: n });
  if (bounds.inTimeUpTo === undefined) return page(base, take);
  const inTime: Where = { AND: [base, { seq: { lte: bounds.inTimeUpTo } }] };
  const late: Where = {
    AND: [base, { seq: { gt: bounds.inTimeUpTo } }, { at: { lt: db.auditEvent.fields.atFloor } }],
  };
  const [first, second] = q.order === 'asc' ? [inTime, late] : [late, inTime];
  const rows = await page(first, take);
  return rows.length < take ? [...rows, ...(await page(second, take - rows.length))] : rows;
}

/**
 * `GET /audit_events` (scope `audit`): the caller's workspace's trail, filtered, in pages; each event as it was hashed,
 * so that a reader can verify the chain itself (`toolplane audit verify`).
 */
export async function listAuditEvents(
  { db }: ControlPlaneDeps,
  { caller, query: q }: Input<undefined, ListAuditQuery>,
) {
  const rows = await auditRows(db, caller.workspaceId, q);
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
