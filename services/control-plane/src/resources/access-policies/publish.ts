import { TaskGrant, type PolicyPrincipal, type QuotaRule, type WorkspaceAccess } from '@toolplane/contracts';
import type { Db } from '../../db/client.ts';
import { publicationResources, type RuntimePublisher } from '../../publication/publisher.ts';
import { enterpriseIdpRules } from '../enterprise-idps/rules.ts';
import { sessionSettingsOf } from '../sessions/settings.ts';
import { policyApproval } from './approval.ts';

/** The workspace's policies as the edges get them (the document `publishWorkspaceAccess` writes), oldest first. */
export async function workspaceAccess(db: Db, workspaceId: string): Promise<WorkspaceAccess> {
  const rows = await db.accessPolicy.findMany({
    where: { workspaceId },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
  });
  const quotas = await db.quota.findMany({ where: { workspaceId }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
  const groups = await namedGroups(db, workspaceId, rows);
  const session = await sessionSettingsOf(db, workspaceId);
  const idps = await enterpriseIdpRules(db, workspaceId);
  const grants = await publishedGrants(db, workspaceId);
  return {
    v: 1,
    workspaceId,
    policies: rows.map((r) => ({
      id: r.id,
      name: r.name,
      principals: r.principals as PolicyPrincipal[],
      servers: r.servers,
      tools: r.tools,
      ...(r.condition !== null ? { condition: r.condition } : {}),
      ...approvalOf(r),
      // Published only when false: a document of enforced policies reads as before.
      ...(r.enforce ? {} : { enforce: false }),
    })),
    // Quotas travel with the policies (ADR 0048): one document per workspace, one read per request on the edge.
    ...(quotas.length > 0 ? { quotas: quotas.map(quotaRule) } : {}),
    ...(groups ? { groups } : {}),
    // Session settings too (ADR 0078): the edges judge calls by them, the workers keep the labels for their lifetime.
    ...(session ? { session } : {}),
    // Enterprise IdPs too (ADR 0082): the edges' authorization server decides a grant with the policies it redeems under.
    ...(idps.length > 0 ? { enterpriseIdps: idps } : {}),
    // Task grants too (ADR 0108): the edges hold each call of a token redeemed from one to it.
    ...(grants.length > 0 ? { taskGrants: grants } : {}),
  };
}

/** How long an expired task grant stays published: its tokens' calls are still told it expired, not that it is unknown. */
const EXPIRED_GRANTS_KEPT_MS = 86_400_000;

/** The workspace's task grants as the edges judge calls by them: live, revoked, or expired within the last day. */
async function publishedGrants(db: Db, workspaceId: string): Promise<TaskGrant[]> {
  const since = new Date(Date.now() - EXPIRED_GRANTS_KEPT_MS);
  const rows = await db.taskGrant.findMany({
    where: { workspaceId, expiresAt: { gt: since } },
    orderBy: { createdAt: 'asc' },
  });
  const parentOf = new Map(rows.map((r) => [r.id, r.parentId]));
  // The published form keeps its own fields only (zod drops the row's others).
  return rows.map(({ expiresAt, revokedAt, ...row }) => {
    const parents = ancestors(parentOf, row.id);
    return TaskGrant.parse({
      ...row,
      expiresAt: expiresAt.toISOString(),
      ...(revokedAt ? { revokedAt: revokedAt.toISOString() } : {}),
      ...(parents.length > 0 ? { parents } : {}),
    });
  });
}

/**
 * A sub-grant's ancestors among the published grants, nearest first (ADR 0113). Each expires no later than its
 * parent, so a published grant's ancestors are published too.
 */
function ancestors(parentOf: ReadonlyMap<string, string | null>, id: string): string[] {
  const found: string[] = [];
  for (let p = parentOf.get(id); p && !found.includes(p); p = parentOf.get(p)) found.push(p);
  return found;
}

/**
 * The SCIM groups the policies name (`external_group`; `*`: every group), each with its active members' names: what
 * the edge matches a person's calls against (ADR 0062). Undefined when no policy names a group.
 */
async function namedGroups(db: Db, workspaceId: string, rows: { principals: unknown }[]) {
  const named = new Set(
    rows
      .flatMap((r) => (r.principals as PolicyPrincipal[]).filter((p) => p.type === 'external_group'))
      .map((p) => p.value),
  );
  if (named.size === 0) return undefined;
  const found = await db.scimGroup.findMany({
    where: { workspaceId, ...(named.has('*') ? {} : { displayName: { in: [...named] } }) },
    select: {
      displayName: true,
      members: { where: { user: { active: true } }, select: { user: { select: { name: true } } } },
    },
  });
  return Object.fromEntries(found.map((g) => [g.displayName, g.members.map((m) => m.user.name).sort()]));
}

/** A policy's `require_approval` outcome, published beside its condition (absent: a false condition refuses). */
function approvalOf(r: Parameters<typeof policyApproval>[0]) {
  const approval = policyApproval(r);
  return approval ? { approval } : {};
}

/** A quota as the edges enforce it. */
function quotaRule(q: Awaited<ReturnType<Db['quota']['findMany']>>[number]): QuotaRule {
  return {
    id: q.id,
    name: q.name,
    match: q.match as QuotaRule['match'],
    counts: q.counts as QuotaRule['counts'],
    limit: q.limit,
    ...(q.window ? { window: q.window as NonNullable<QuotaRule['window']> } : {}),
    ...(q.timeZone ? { timeZone: q.timeZone } : {}),
    ...(q.per ? { per: q.per as NonNullable<QuotaRule['per']> } : {}),
    enforce: q.enforce,
  };
}

/** Publishes one workspace's policies for the edges (replacing the previous set as a whole). */
export function publishWorkspaceAccess(db: Db, publisher: RuntimePublisher, workspaceId: string): Promise<void> {
  // Read and written under the workspace's publication lock: an older read never overwrites a newer one (ADR 0017).
  return publisher.exclusive(publicationResources.access(workspaceId), async () => {
    await publisher.publishAccess(await workspaceAccess(db, workspaceId));
  });
}

/** At start: every workspace's policies (Redis may have restarted empty). */
export async function republishAccess(db: Db, publisher: RuntimePublisher): Promise<number> {
  const workspaces = await db.workspace.findMany({ select: { id: true } });
  for (const w of workspaces) await publishWorkspaceAccess(db, publisher, w.id);
  return workspaces.length;
}
