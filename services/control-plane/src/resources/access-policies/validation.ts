import { PolicyPrincipal } from '@toolplane/contracts';
import { ValidationError, type ProblemIssue } from '@toolplane/errors';
import type { z } from 'zod';
import type { Db } from '../../db/client.ts';
import { isUuid } from '../../db/ids.ts';
import { requestIssues } from '../../http/error-handler.ts';
import type { StoredApprovalRule } from '../../catalog/approvals.ts';
import { approvalRuleIssues } from '../servers/approval-rule.ts';
import { ApprovalRuleBody } from '../servers/schemas.ts';
import { conditionIssues } from './condition-check.ts';
import type { PolicyBody } from './schemas.ts';

/** A body to validate against `schema`, for the workspace; `what` names it in the 422. */
interface Validation<T> {
  workspaceId: string;
  schema: z.ZodType<T>;
  raw: unknown;
  what: string;
  /** On a change: the policy as stored (a condition is checked against the tools it will grant). */
  current?: PolicyState | undefined;
}

/** A policy as stored, as far as its validation reads it. */
export interface PolicyState {
  servers: string[];
  tools: string[];
  condition: string | null;
  onFalse: string;
  approval: unknown;
  enforce: boolean;
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
  for (const issue of [...(await outcomeIssues(db, workspaceId, raw, current)), ...enforceIssues(raw, current)])
    if (!issues.some((i) => i.path === issue.path)) issues.push(issue);
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

/**
 * What a false condition does, as the policy will have it (read from whatever of the body is readable, with the
 * stored policy): `require_approval` needs a condition and a rule naming who approves (checked as a server's
 * `approvalRule` is: approvers who can decide, the workspace's keys and people, no more approvals than approvers); a
 * rule goes only with `require_approval`. Setting `onFalse: "refuse"` drops a stored rule.
 */
async function outcomeIssues(
  db: Db,
  workspaceId: string,
  raw: unknown,
  current: PolicyState | undefined,
): Promise<ProblemIssue[]> {
  const body = (raw ?? {}) as { condition?: unknown; onFalse?: unknown; approval?: unknown };
  const sent = ApprovalRuleBody.safeParse(body.approval);
  const given = body.approval === null ? null : sent.success ? sent.data : undefined;
  const onFalse = typeof body.onFalse === 'string' ? body.onFalse : (current?.onFalse ?? 'refuse');
  if (onFalse !== 'require_approval')
    return given ? [{ path: '/approval', message: 'an approval rule goes with onFalse: "require_approval" only' }] : [];
  const issues: ProblemIssue[] = [];
  const condition = body.condition !== undefined ? body.condition : current?.condition;
  if (condition === null || condition === undefined)
    issues.push({
      path: '/onFalse',
      message: 'require_approval needs a condition: it applies to the calls the condition is false for',
    });
  const rule =
    given !== undefined || body.approval !== undefined ? given : (current?.approval as StoredApprovalRule | null);
  if (rule === null || rule === undefined) {
    // An approval sent but unreadable is already a problem of its own (the schema's).
    if (body.approval === undefined || body.approval === null)
      issues.push({ path: '/approval', message: 'require_approval needs an approval rule naming who approves' });
    return issues;
  }
  return [...issues, ...(await approvalRuleIssues(db, workspaceId, rule, '/approval'))];
}

/** Log only (`enforce: false`) is a mode of a condition: the policy must have one (as it will be stored). */
function enforceIssues(raw: unknown, current: PolicyState | undefined): ProblemIssue[] {
  const body = (raw ?? {}) as { condition?: unknown; enforce?: unknown };
  const enforce = typeof body.enforce === 'boolean' ? body.enforce : (current?.enforce ?? true);
  const condition = body.condition !== undefined ? body.condition : current?.condition;
  if (enforce || (condition !== null && condition !== undefined)) return [];
  return [
    {
      path: body.enforce === false ? '/enforce' : '/condition',
      message: 'enforce: false (log only) is a mode of a condition: the policy needs one',
    },
  ];
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
