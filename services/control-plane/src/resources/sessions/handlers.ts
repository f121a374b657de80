import { clearSession, readSession } from '@toolplane/queue';
import { ValidationError, type ProblemIssue } from '@toolplane/errors';
import type { SessionRule } from '@toolplane/contracts';
import { publishWorkspaceAccess } from '../access-policies/publish.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import { approvalRuleIssues } from '../servers/approval-rule.ts';
import type { PutSessionSettingsBody } from './schemas.ts';
import { publishedRule } from './settings.ts';
import { refuseSettingsLoosening } from './field-powers.ts';

type Row = { ttlSeconds: number; rules: unknown; updatedAt: Date } | null;

/** The settings as the API shows them; a workspace without any keeps no session. */
function present(row: Row) {
  return {
    configured: row !== null,
    ttlSeconds: row?.ttlSeconds ?? null,
    rules: (row?.rules ?? []) as SessionRule[],
    updatedAt: row?.updatedAt.toISOString() ?? null,
  };
}

const select = { ttlSeconds: true, rules: true, updatedAt: true } as const;

/** `GET /session_settings`. */
export async function getSessionSettings({ db }: ControlPlaneDeps, { caller }: Input) {
  return present(await db.sessionSettings.findUnique({ where: { workspaceId: caller.workspaceId }, select }));
}

/** Approvers the workspace does not have (API keys, people), each at its rule's path. */
async function approverProblems(deps: ControlPlaneDeps, workspaceId: string, body: PutSessionSettingsBody) {
  const problems: ProblemIssue[] = [];
  for (const [i, r] of body.rules.entries())
    if (r.approval)
      problems.push(...(await approvalRuleIssues(deps.db, workspaceId, r.approval, `/rules/${i}/approval`)));
  return problems;
}

/**
 * `PUT /session_settings`: replaces the workspace's session settings and publishes them to every edge and worker with
 * the access policies (`WorkspaceAccess.session`). A policies change: only a caller who may change access policies
 * (ADR 0073). 422 lists every problem of the rules' approvers.
 */
export async function putSessionSettings(deps: ControlPlaneDeps, { caller, body }: Input<PutSessionSettingsBody>) {
  refuseSettingsLoosening(caller);
  const { workspaceId } = caller;
  const problems = await approverProblems(deps, workspaceId, body);
  if (problems.length > 0) throw new ValidationError('the session settings are invalid', problems);
  const data = { ttlSeconds: body.ttlSeconds, rules: body.rules.map(publishedRule) };
  const row = await deps.db.sessionSettings.upsert({
    where: { workspaceId },
    create: { workspaceId, ...data },
    update: data,
    select,
  });
  await publishWorkspaceAccess(deps.db, deps.publisher, workspaceId);
  return present(row);
}

/** `DELETE /session_settings`: no session kept any more (labels already kept expire with their sessions). */
export async function deleteSessionSettings(deps: ControlPlaneDeps, { caller }: Input): Promise<void> {
  refuseSettingsLoosening(caller);
  const where = { workspaceId: caller.workspaceId };
  if (!(await deps.db.sessionSettings.findUnique({ where, select: { workspaceId: true } }))) return;
  await deps.db.sessionSettings.delete({ where });
  await publishWorkspaceAccess(deps.db, deps.publisher, caller.workspaceId);
}

/**
 * `GET /sessions/{scope}`: what one session scope holds, each label with where it came from (tool, record id, time,
 * how it was found) and the calls counted. Never a value of any result, nor the MCP session or task it came through.
 */
export async function getSession({ redis, prefix }: ControlPlaneDeps, { caller, params }: Input) {
  const scope = params.scope!;
  const view = await readSession(redis, { prefix, workspaceId: caller.workspaceId, scopes: [scope] });
  return {
    scope,
    labels: [...view.labels.values()]
      .sort((a, b) => a.at - b.at)
      .map((o) => ({
        label: o.label,
        source: o.source,
        tool: o.tool,
        serverId: o.serverId,
        invocationId: o.invocationId,
        at: new Date(o.at).toISOString(),
        ...(o.detector !== undefined ? { detector: o.detector } : {}),
      })),
    calls: view.calls.map((c) => ({
      serverId: c.serverId,
      tool: c.tool,
      count: c.count,
      firstAt: new Date(c.firstAt).toISOString(),
      lastAt: new Date(c.lastAt).toISOString(),
    })),
  };
}

/** `DELETE /sessions/{scope}`: ends the session (its labels and calls dropped; audit event `session.ended`). */
export async function endSession({ redis, prefix }: ControlPlaneDeps, { caller, params }: Input): Promise<void> {
  await clearSession(redis, { prefix, workspaceId: caller.workspaceId, scopes: [params.scope!] });
}
