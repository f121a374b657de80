import type { ProblemIssue } from '@toolplane/errors';
import { idsByName, type PlanCheck } from '../workspace-files/kind.ts';
import { conditionIssues } from './condition-check.ts';

/**
 * The conditions of the policies a plan creates or changes, checked as the API checks them (ADR 0036: syntax, names,
 * types, cost, and the arguments named against the granted tools' input schemas in the live catalogs), so that a
 * plan lists their problems before anything is applied. A server the same files create has no catalog yet: its tools
 * are checked without a schema, as the API would check them right after.
 */
export async function conditionProblems({ deps, workspaceId, changes, live }: PlanCheck): Promise<ProblemIssue[]> {
  const serverIds = idsByName(live, 'server');
  const problems: ProblemIssue[] = [];
  for (const c of changes) {
    if (c.kind !== 'access_policy' || (c.action !== 'create' && c.action !== 'update')) continue;
    const spec = c.desired!.spec as { servers?: string[]; tools?: string[]; condition?: string | null };
    if (!spec.condition) continue;
    const servers = (spec.servers ?? []).flatMap((s) =>
      s === '*' ? ['*'] : serverIds.has(s) ? [serverIds.get(s)!] : [],
    );
    const issues = await conditionIssues(deps.db, workspaceId, {
      servers,
      tools: spec.tools ?? [],
      condition: spec.condition,
    });
    problems.push(...issues.map((i) => ({ path: `${c.file}#${i.path}`, message: i.message })));
  }
  return problems;
}
