import { PolicyPrincipal } from '@toolplane/contracts';
import { ValidationError, type ProblemIssue } from '@toolplane/errors';
import type { z } from 'zod';
import type { Db } from '../../db/client.ts';
import { isUuid } from '../../db/ids.ts';
import { requestIssues } from '../../http/error-handler.ts';
import { conditionIssues } from './condition-check.ts';
import type { PolicyBody } from './schemas.ts';

/** A body to validate against `schema`, for the workspace; `what` names it in the 422. */
interface Validation<T> {
  workspaceId: string;
  schema: z.ZodType<T>;
  raw: unknown;
  what: string;
  /** On a change: the policy as stored (a condition is checked against the tools it will grant). */
  current?: { servers: string[]; tools: string[]; condition: string | null } | undefined;
}

/**
 * Validates a body (all of `schema`'s problems and the references to keys and servers together, so
 * that one 422 lists every problem) and returns it.
 */
export async function validate<T extends Partial<z.infer<typeof PolicyBody>>>(
  db: Db,
  { workspaceId, schema, raw, what, current }: Validation<T>,
): Promise<T> {
  const parsed = schema.safeParse(raw ?? {});
  const issues: ProblemIssue[] = parsed.success ? [] : requestIssues(parsed.error);
  // References are checked on whatever is readable, even when other fields are invalid.
  const lenient = (raw ?? {}) as { principals?: unknown; servers?: unknown; tools?: unknown };
  const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined);
  const readable = {
    servers:
      Array.isArray(lenient.servers) && lenient.servers.every((x) => typeof x === 'string')
        ? strings(lenient.servers)
        : undefined,
    tools: strings(lenient.tools),
    principals: Array.isArray(lenient.principals)
      ? lenient.principals.map((p) =>
          PolicyPrincipal.safeParse(p).success ? (p as PolicyPrincipal) : { type: 'invalid' as never, value: '' },
        )
      : undefined,
  };
  const refs = await referenceIssues(db, workspaceId, readable);
  for (const issue of refs) if (!issues.some((i) => i.path === issue.path)) issues.push(issue);
  if (parsed.success) issues.push(...(await conditionCheck(db, workspaceId, parsed.data, current)));
  if (issues.length > 0 || !parsed.success)
    throw new ValidationError(`the ${what} is invalid`, issues, 'request.invalid');
  return parsed.data;
}

/** The condition the policy will have, checked against the tools it will grant (none: nothing to check). */
function conditionCheck(
  db: Db,
  workspaceId: string,
  body: Partial<z.infer<typeof PolicyBody>>,
  current: Validation<unknown>['current'],
): Promise<ProblemIssue[]> {
  const condition = body.condition === undefined ? current?.condition : body.condition;
  const servers = body.servers ?? current?.servers;
  const tools = body.tools ?? current?.tools;
  if (typeof condition !== 'string' || !servers || !tools) return Promise.resolve([]);
  return conditionIssues(db, workspaceId, { servers, tools, condition });
}

/** Checks that need the database, listing every problem: keys and servers of this workspace, "*" alone. */
async function referenceIssues(
  db: Db,
  workspaceId: string,
  body: { principals?: PolicyPrincipal[] | undefined; servers?: string[] | undefined; tools?: string[] | undefined },
): Promise<ProblemIssue[]> {
  const issues: ProblemIssue[] = [];
  const wildcardAlone = (list: string[] | undefined, path: string) => {
    if (list && list.includes('*') && list.length > 1) issues.push({ path, message: '"*" must be the only entry' });
  };
  wildcardAlone(body.servers, '/servers');
  wildcardAlone(body.tools, '/tools');
  const keyIds = (body.principals ?? []).map((p, i) => ({ p, i })).filter(({ p }) => p.type === 'api_key');
  const candidates = keyIds.map(({ p }) => p.value).filter(isUuid);
  const keys = new Set(
    (await db.apiKey.findMany({ where: { workspaceId, id: { in: candidates } }, select: { id: true } })).map(
      (k) => k.id,
    ),
  );
  for (const { p, i } of keyIds) {
    if (p.value === '*')
      issues.push({
        path: `/principals/${i}/value`,
        message: 'api_key principals name one key id ("*" is implicit: unnamed keys keep workspace-wide access)',
      });
    else if (!keys.has(p.value))
      issues.push({ path: `/principals/${i}/value`, message: `no API key ${p.value} in this workspace` });
  }
  const serverIds = (body.servers ?? []).filter((s) => s !== '*');
  const servers = new Set(
    (
      await db.mcpServer.findMany({
        where: { workspaceId, id: { in: serverIds.filter(isUuid) } },
        select: { id: true },
      })
    ).map((s) => s.id),
  );
  (body.servers ?? []).forEach((s, i) => {
    if (s !== '*' && !servers.has(s))
      issues.push({ path: `/servers/${i}`, message: `no MCP server ${s} in this workspace` });
  });
  return issues;
}
