import type { ProblemIssue } from '@toolplane/errors';
import { idsByName, type Change, type Kind, type PlanCheck } from '../workspace-files/kind.ts';
import { exposedTools } from './handlers.ts';

/** A change apply carries out with its API operation (not only apply's marker). */
const written = (c: Change) =>
  c.action === 'create' || (c.action === 'update' && c.fields.some((f) => f !== 'managed'));

/** The tools a quota or guardrail names, where they are in its file, and the servers they are of. */
interface NamedTools {
  /** Server names; undefined: every server of the workspace. */
  servers: string[] | undefined;
  /** The names to check: a quota's patterns (`create_*`) are not (a guardrail takes none: each is a name). */
  tools: { name: string; index: number }[];
  path: string;
  message: (tool: string) => string;
}

function namedTools(c: Change): NamedTools | undefined {
  const s = c.desired!.spec;
  if (c.kind === 'quota') {
    const { servers, tools = [] } = s.match as { servers?: string[]; tools?: string[] };
    return {
      servers,
      tools: tools.flatMap((name, index) => (name.includes('*') ? [] : [{ name, index }])),
      path: '/match/tools',
      message: (t) => `no server of the quota exposes a tool "${t}"`,
    };
  }
  // A guardrail's tools are of its server (a workspace's guardrail names none: the file's schema says so).
  if (c.kind === 'guardrail' && s.server !== null)
    return {
      servers: [String(s.server)],
      tools: (s.tools as string[]).map((name, index) => ({ name, index })),
      path: '/tools',
      message: (t) => `the server exposes no tool "${t}"`,
    };
  return undefined;
}

/**
 * The tools named by the quotas and guardrails a plan creates or changes, checked as the API checks
 * them: each must be a tool of one of the rule's servers (of any server of the workspace when a quota names none) in
 * their live catalogs. Where the same files create, change or delete one of those servers or a deployment on it, its
 * catalog after the apply is not known yet: the rule's own step checks its tools then (a server it names that no file
 * or the workspace has is a problem of the plan already).
 */
export async function ruleToolProblems(
  kind: Kind,
  { deps, workspaceId, changes, live }: PlanCheck,
): Promise<ProblemIssue[]> {
  const serverIds = idsByName(live, 'server');
  const moving = new Set(
    changes
      .filter((c) => (c.kind === 'server' || c.kind === 'workflow_deployment') && (written(c) || c.action === 'delete'))
      .map((c) => c.name),
  );
  const problems: ProblemIssue[] = [];
  for (const c of changes) {
    const named = c.kind === kind && c.desired && written(c) ? namedTools(c) : undefined;
    if (!named || named.tools.length === 0) continue;
    const { servers, tools } = named;
    const settled = servers ? servers.every((n) => serverIds.has(n) && !moving.has(n)) : moving.size === 0;
    if (!settled) continue;
    const exposed = await exposedTools(
      deps.db,
      workspaceId,
      servers?.map((n) => serverIds.get(n)!),
    );
    for (const { name, index } of tools)
      if (!exposed.has(name)) problems.push({ path: `${c.file}#${named.path}/${index}`, message: named.message(name) });
  }
  return problems;
}
