import type { ProblemIssue } from '@toolplane/errors';
import type { Db } from '../../db/client.ts';
import { conditionIssues } from '../access-policies/condition-check.ts';
import { idsByName } from './live.ts';
import type { Planned } from './plan.ts';

/**
 * The conditions of the policies a plan creates or changes, checked as the API checks them (ADR 0036: syntax, names,
 * types, cost, and the arguments named against the granted tools' input schemas in the live catalogs), so that a
 * plan lists their problems before anything is applied. A server the same files create has no catalog yet: its tools
 * are checked without a schema, as the API would check them right after.
 */
export async function conditionProblems(db: Db, workspaceId: string, { plan, live }: Planned): Promise<ProblemIssue[]> {
  const serverIds = idsByName(live, 'server');
  const problems: ProblemIssue[] = [];
  for (const c of plan.changes) {
    if (c.kind !== 'access_policy' || (c.action !== 'create' && c.action !== 'update')) continue;
    const spec = c.desired!.spec as { servers?: string[]; tools?: string[]; condition?: string | null };
    if (!spec.condition) continue;
    const servers = (spec.servers ?? []).flatMap((s) =>
      s === '*' ? ['*'] : serverIds.has(s) ? [serverIds.get(s)!] : [],
    );
    const issues = await conditionIssues(db, workspaceId, {
      servers,
      tools: spec.tools ?? [],
      condition: spec.condition,
    });
    problems.push(...issues.map((i) => ({ path: `${c.file}#${i.path}`, message: i.message })));
  }
  return problems;
}
