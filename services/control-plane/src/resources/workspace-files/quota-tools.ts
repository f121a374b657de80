import type { ProblemIssue } from '@toolplane/errors';
import type { Db } from '../../db/client.ts';
import { exposedTools } from '../quotas/handlers.ts';
import type { LiveState } from './live.ts';
import type { Change, Plan } from './plan.ts';

/** A change apply carries out with its API operation (not only apply's marker). */
const written = (c: Change) =>
  c.action === 'create' || (c.action === 'update' && c.fields.some((f) => f !== 'managed'));

/**
 * The tools named (not patterns) by the quotas a plan creates or changes, checked as the API checks them: each must be
 * a tool of one of the quota's servers (of any server of the workspace when it names none) in their live catalogs.
 * Where the same files create, change or delete one of those servers or a deployment on it, its catalog after the
 * apply is not known yet: the quota's own step checks its tools then (a server it names that no file or the workspace
 * has is a problem of the plan already).
 */
export async function quotaToolProblems(
  db: Db,
  workspaceId: string,
  plan: Plan,
  live: LiveState,
): Promise<ProblemIssue[]> {
  const serverIds = new Map(live.resources.filter((r) => r.kind === 'server').map((r) => [r.name, r.id]));
  const moving = new Set(
    plan.changes
      .filter((c) => (c.kind === 'server' || c.kind === 'workflow_deployment') && (written(c) || c.action === 'delete'))
      .map((c) => c.name),
  );
  const problems: ProblemIssue[] = [];
  for (const c of plan.changes) {
    if (c.kind !== 'quota' || !written(c)) continue;
    const { servers, tools = [] } = c.desired!.spec.match as { servers?: string[]; tools?: string[] };
    if (tools.every((t) => t.includes('*'))) continue;
    const settled = servers ? servers.every((n) => serverIds.has(n) && !moving.has(n)) : moving.size === 0;
    if (!settled) continue;
    const exposed = await exposedTools(
      db,
      workspaceId,
      servers?.map((n) => serverIds.get(n)!),
    );
    tools.forEach((t, i) => {
      if (!t.includes('*') && !exposed.has(t))
        problems.push({ path: `${c.file}#/match/tools/${i}`, message: `no server of the quota exposes a tool "${t}"` });
    });
  }
  return problems;
}
