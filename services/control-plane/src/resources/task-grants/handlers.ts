import { compileCondition, usesSession } from '@toolplane/conditions';
import { NotFoundError, ValidationError, type ProblemIssue } from '@toolplane/errors';
import type { Db } from '../../db/client.ts';
import { isUuid } from '../../db/ids.ts';
import type { TaskGrant as TaskGrantRow } from '../../generated/prisma/client.ts';
import { publishWorkspaceAccess } from '../access-policies/publish.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import { exposedTools } from '../quotas/handlers.ts';
import { MAX_TASK_GRANT_SECONDS, type CreateTaskGrantBody } from './schemas.ts';
import { wideningProblems } from './sub-grants.ts';

type Bound = { name: string; condition: string };

function present(row: TaskGrantRow) {
  return {
    id: row.id,
    purpose: row.purpose,
    person: row.person,
    tools: row.tools,
    bounds: row.bounds as Bound[],
    calls: row.calls,
    expiresAt: row.expiresAt.toISOString(),
    offGrant: row.offGrant as 'hold' | 'refuse',
    mode: row.mode as 'enforced' | 'log_only',
    revokedAt: row.revokedAt?.toISOString() ?? null,
    parent: row.parentId,
    createdAt: row.createdAt.toISOString(),
  };
}

/** The workspace's grant `id`, else 404 (another workspace's too). */
async function byId(db: Db, workspaceId: string, id: string): Promise<TaskGrantRow> {
  const found = isUuid(id) && (await db.taskGrant.findFirst({ where: { workspaceId, id } }));
  if (found) return found;
  throw new NotFoundError('task grant', id);
}

/** Each bound's condition compiled (never one that reads the session): every problem at its own path. */
function boundProblems(bounds: CreateTaskGrantBody['bounds']): ProblemIssue[] {
  return bounds.flatMap((b, i) => {
    const compiled = compileCondition(b.condition);
    if (!compiled.ok) return compiled.problems.map((p) => ({ path: `/bounds/${i}/condition`, message: p.message }));
    if (usesSession(compiled))
      return [{ path: `/bounds/${i}/condition`, message: 'a task grant’s bound cannot read the session' }];
    return [];
  });
}

/** Everything wrong with a new grant beyond its shape: an unknown person or tool, bad bounds, the wrong expiry. */
async function grantProblems(db: Db, workspaceId: string, body: CreateTaskGrantBody): Promise<ProblemIssue[]> {
  const problems = boundProblems(body.bounds);
  const person = await db.externalUser.findFirst({ where: { workspaceId, name: body.person }, select: { id: true } });
  if (!person) problems.push({ path: '/person', message: `no external user "${body.person}" in this workspace` });
  const exposed = await exposedTools(db, workspaceId, undefined);
  body.tools.forEach((t, i) => {
    if (!exposed.has(t)) problems.push({ path: `/tools/${i}`, message: `no server of the workspace exposes "${t}"` });
  });
  const ends = Date.parse(body.expiresAt);
  if (ends <= Date.now()) problems.push({ path: '/expiresAt', message: 'is not in the future' });
  else if (ends > Date.now() + MAX_TASK_GRANT_SECONDS * 1000)
    problems.push({ path: '/expiresAt', message: `is more than ${MAX_TASK_GRANT_SECONDS / 86_400} days ahead` });
  return problems;
}

/** A sub-grant's parent (ADR 0113) and what the sub-grant would widen of it; an unknown parent is the problem. */
async function parentOf(db: Db, workspaceId: string, body: CreateTaskGrantBody) {
  if (body.parent === undefined) return { parent: undefined, problems: [] };
  const parent = await db.taskGrant.findFirst({ where: { workspaceId, id: body.parent } });
  if (!parent) return { parent, problems: [{ path: '/parent', message: `no task grant ${body.parent} here` }] };
  return { parent, problems: wideningProblems(parent, body) };
}

/**
 * `POST /task_grants`: a grant, published to every edge with the workspace's access (ADR 0108). A sub-grant keeps its
 * parent's bounds before its own (ADR 0113): a call is held to both, so its own can never widen the parent's.
 */
export async function createTaskGrant(
  { db, publisher }: ControlPlaneDeps,
  { body, caller }: Input<CreateTaskGrantBody>,
) {
  const { workspaceId } = caller;
  const { parent, problems: widening } = await parentOf(db, workspaceId, body);
  const problems = [...(await grantProblems(db, workspaceId, body)), ...widening];
  if (problems.length > 0) throw new ValidationError('the task grant is invalid', problems);
  const own = body.bounds.map((b) => ({ name: b.name ?? b.condition, condition: b.condition }));
  const row = await db.taskGrant.create({
    data: {
      workspaceId,
      ...(parent ? { parentId: parent.id } : {}),
      purpose: body.purpose,
      person: body.person,
      tools: [...new Set(body.tools)],
      bounds: [...((parent?.bounds as Bound[] | undefined) ?? []), ...own],
      calls: body.calls,
      expiresAt: new Date(body.expiresAt),
      offGrant: body.offGrant,
      mode: body.mode,
    },
  });
  await publishWorkspaceAccess(db, publisher, workspaceId);
  return present(row);
}

/** `GET /task_grants`: the workspace's grants, newest first. */
export async function listTaskGrants({ db }: ControlPlaneDeps, { caller }: Input) {
  const order = { createdAt: 'desc' as const };
  return {
    data: (await db.taskGrant.findMany({ orderBy: order, where: { workspaceId: caller.workspaceId } })).map(present),
  };
}

/** `GET /task_grants/{id}`. */
export async function getTaskGrant({ db }: ControlPlaneDeps, { params, caller }: Input) {
  return present(await byId(db, caller.workspaceId, params.id!));
}

/** The ids of every grant derived from `id`, at any depth (ADR 0113). */
async function derivedFrom(db: Db, workspaceId: string, id: string): Promise<string[]> {
  const found: string[] = [];
  for (let frontier = [id]; frontier.length > 0;) {
    const children = await db.taskGrant.findMany({
      where: { workspaceId, parentId: { in: frontier } },
      select: { id: true },
    });
    frontier = children.map((c) => c.id).filter((c) => !found.includes(c));
    found.push(...frontier);
  }
  return found;
}

/**
 * `POST /task_grants/{id}/revoke`: every call of its tokens is off-grant from now on, on every edge; so are the calls
 * of every grant derived from it, revoked with it (ADR 0113).
 */
export async function revokeTaskGrant({ db, publisher }: ControlPlaneDeps, { params, caller }: Input) {
  const row = await byId(db, caller.workspaceId, params.id!);
  const revoked = row.revokedAt
    ? row
    : await db.taskGrant.update({ where: { id: row.id }, data: { revokedAt: new Date() } });
  const derived = await derivedFrom(db, caller.workspaceId, row.id);
  if (derived.length > 0)
    await db.taskGrant.updateMany({
      where: { id: { in: derived }, revokedAt: null },
      data: { revokedAt: revoked.revokedAt },
    });
  await publishWorkspaceAccess(db, publisher, caller.workspaceId);
  return present(revoked);
}
