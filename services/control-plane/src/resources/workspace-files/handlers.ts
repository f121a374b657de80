import { ValidationError } from '@toolplane/errors';
import type { Caller } from '../../http/auth.ts';
import { mayGrant } from '../../http/access.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import { applyPlan, reported } from './apply.ts';
import { exportFiles } from './export.ts';
import { confirmToolProblems } from './confirm-tools.ts';
import { readLive } from './live.ts';
import { planChanges, type Plan } from './plan.ts';
import { markerOnly } from './kind.ts';
import { readFiles, type WorkspaceFile } from './read-files.ts';
import { kinds } from './specs.ts';
import type { ApplyBody, PlanBody } from './schemas.ts';

/** `GET /workspace_files`: the workspace as files (export); 409 when two resources of a kind share a name. */
export async function exportWorkspaceFiles(deps: ControlPlaneDeps, { caller }: Input) {
  const live = await readLive(deps, caller.workspaceId);
  if (live.ambiguous.length > 0)
    throw new ValidationError('the workspace cannot be exported as files', live.ambiguous, 'resource.conflict', 409);
  return { files: exportFiles(live) };
}

/** The plan of `files` against the caller's workspace; a 422 listing every problem (file#path) when there is one. */
async function planOf(
  deps: ControlPlaneDeps,
  me: Caller,
  input: { files: WorkspaceFile[]; prune: boolean; provided: string[] },
) {
  const desired = await readFiles(input.files, deps);
  const live = await readLive(deps, me.workspaceId);
  const plan = planChanges(desired, live, {
    prune: input.prune,
    provided: new Set(input.provided),
    callerKeyId: me.keyId,
    mayGrant: (scope) => mayGrant(me, scope),
  });
  plan.problems.push(...(await confirmToolProblems(deps, me.workspaceId, plan)));
  for (const kind of kinds)
    if (kind.check)
      plan.problems.push(...(await kind.check({ deps, workspaceId: me.workspaceId, changes: plan.changes, live })));
  if (plan.problems.length > 0) throw new ValidationError('the workspace files are invalid', plan.problems);
  return plan;
}

/**
 * The counts of a plan. An update that only adopts a resource already matching its file (apply's marker, `fields:
 * ["managed"]`) changes nothing in the workspace: counted as `adopt`, not `update`, so a fresh export plans as no
 * changes; apply still adopts it.
 */
function summary(plan: Plan) {
  const count = (action: string) => plan.changes.filter((c) => c.action === action && !markerOnly(c)).length;
  return {
    create: count('create'),
    update: count('update'),
    adopt: plan.changes.filter(markerOnly).length,
    delete: count('delete'),
    unchanged: count('unchanged'),
    unmanaged: count('unmanaged'),
  };
}

/** `POST /workspace_files/plan`: what apply would do, resource by resource; changes nothing. */
export async function planWorkspaceFiles(deps: ControlPlaneDeps, { caller, body }: Input<PlanBody>) {
  const plan = await planOf(deps, caller, body);
  return { changes: plan.changes.map(reported), summary: summary(plan) };
}

/**
 * `POST /workspace_files/apply`: the plan, then its changes (none when the plan has a problem). Each change is its API
 * operation, in dependency order, run in-process with the request's caller and audit source; the answer says what
 * was applied and, after a failure, what was not.
 */
export async function applyWorkspaceFiles(deps: ControlPlaneDeps, { caller, source, body }: Input<ApplyBody>) {
  const plan = await planOf(deps, caller, { ...body, provided: Object.keys(body.values) });
  const ids = new Map(plan.changes.flatMap((c) => (c.live ? [[`${c.kind}/${c.name}`, c.live.id] as const] : [])));
  // A deployment's id is not its server's: the server is found by name.
  for (const c of plan.changes) if (c.kind === 'workflow_deployment') ids.delete(`${c.kind}/${c.name}`);
  const result = await applyPlan(
    deps,
    { caller, source },
    { changes: plan.changes, ctx: { ids, values: body.values } },
  );
  return { ...result, summary: summary(plan) };
}

/** `GET /workspace_files/managed`: the resources apply manages (the dashboard's "managed by files"). */
export async function listManagedResources({ db }: ControlPlaneDeps, { caller }: Input) {
  const rows = await db.managedResource.findMany({
    where: { workspaceId: caller.workspaceId },
    orderBy: [{ kind: 'asc' }, { name: 'asc' }],
  });
  return {
    data: rows.map((r) => ({ kind: r.kind, name: r.name, file: r.file, appliedAt: r.appliedAt.toISOString() })),
  };
}
