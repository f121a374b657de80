import type { ApprovalApprovers } from '@toolplane/contracts';
import { ValidationError, type ProblemIssue } from '@toolplane/errors';
import type { StoredApprovalRule } from '../../catalog/approvals.ts';
import type { Db } from '../../db/client.ts';
import { isUuid } from '../../db/ids.ts';

/** A rule's webhooks: each URL once per format (a request would be announced twice to the same place). */
function notifyProblems(rule: StoredApprovalRule, base: string): ProblemIssue[] {
  const seen = new Set<string>();
  return (rule.notify ?? []).flatMap((target, i) => {
    const key = `${target.format} ${target.url}`;
    if (!seen.has(key)) {
      seen.add(key);
      return [];
    }
    return [{ path: `${base}/notify/${i}`, message: `${target.url} is notified in ${target.format} already` }];
  });
}

/**
 * What is wrong with an approval rule whatever the workspace holds, each problem under `base`: no approver (API keys,
 * subjects, people), more approvals than approvers, a webhook named twice.
 */
function ruleShapeProblems(rule: StoredApprovalRule, base: string): ProblemIssue[] {
  const problems: ProblemIssue[] = [];
  const a: ApprovalApprovers = rule.approvers;
  // Keys and subjects decide through the API, people through their approval links: each counts. A group may hold any
  // number of users: with one, the approvals needed are not bounded here.
  const count = (a.apiKeys?.length ?? 0) + (a.subjects?.length ?? 0) + (a.people?.length ?? 0);
  const groups = a.groups?.length ?? 0;
  if (count + groups === 0)
    problems.push({
      path: `${base}/approvers`,
      message: 'name at least one approver (apiKeys, subjects, groups, people)',
    });
  else if (groups === 0 && rule.approvals > count)
    problems.push({
      path: `${base}/approvals`,
      message: `${rule.approvals} approvals needed but only ${count} approver${count === 1 ? '' : 's'} can decide`,
    });
  return [...problems, ...notifyProblems(rule, base)];
}

/**
 * What is wrong with a server's approvals as they will be, whatever the workspace holds (ADR 0049), each problem at its
 * path: approval tools without a rule, and the rule's shape (`ruleShapeProblems`). Workspace files check their servers
 * with it before an apply.
 */
export function approvalRuleShapeProblems(tools: readonly string[], rule: StoredApprovalRule | null): ProblemIssue[] {
  if (!rule)
    return tools.length > 0
      ? [{ path: '/approvalRule', message: 'approvalTools need an approvalRule naming who approves' }]
      : [];
  return ruleShapeProblems(rule, '/approvalRule');
}

/**
 * What is wrong with an approval rule (a server's, or an access policy's outcome), each problem under `base`: its shape
 * (`ruleShapeProblems`), and approvers the workspace does not have (API keys by id, people by name; OAuth subjects are
 * not known ahead).
 */
export async function approvalRuleIssues(
  db: Db,
  workspaceId: string,
  rule: StoredApprovalRule,
  base: string,
): Promise<ProblemIssue[]> {
  const problems = ruleShapeProblems(rule, base);
  const a: ApprovalApprovers = rule.approvers;
  const keys = await db.apiKey.findMany({
    where: { workspaceId, id: { in: (a.apiKeys ?? []).filter(isUuid) }, revokedAt: null },
    select: { id: true },
  });
  const found = new Set(keys.map((k) => k.id));
  (a.apiKeys ?? []).forEach((id, i) => {
    if (!found.has(id))
      problems.push({ path: `${base}/approvers/apiKeys/${i}`, message: `no API key "${id}" in this workspace` });
  });
  const people = await db.externalUser.findMany({
    where: { workspaceId, name: { in: a.people ?? [] } },
    select: { name: true },
  });
  const named = new Set(people.map((p) => p.name));
  (a.people ?? []).forEach((name, i) => {
    if (!named.has(name))
      problems.push({
        path: `${base}/approvers/people/${i}`,
        message: `no external user "${name}" in this workspace`,
      });
  });
  return problems;
}

/**
 * What is wrong with a server's approvals as they will be (ADR 0049): approval tools without a rule, and what
 * `approvalRuleIssues` finds in the rule. The tools themselves are checked against the catalog.
 */
async function approvalRuleProblems(
  db: Db,
  workspaceId: string,
  tools: readonly string[],
  rule: StoredApprovalRule | null,
): Promise<ProblemIssue[]> {
  if (!rule) return approvalRuleShapeProblems(tools, rule);
  return approvalRuleIssues(db, workspaceId, rule, '/approvalRule');
}

/** Refuses (422, every problem listed) a create or an update whose approvals would be as `approvalRuleProblems` says. */
export async function refuseBadApprovals(
  db: Db,
  workspaceId: string,
  set: { approvalTools?: string[] | undefined; approvalRule?: StoredApprovalRule | null | undefined },
  stored: { approvalTools?: string[] | undefined; approvalRule?: unknown } = {},
): Promise<void> {
  if (set.approvalTools === undefined && set.approvalRule === undefined) return;
  const tools = set.approvalTools ?? stored.approvalTools ?? [];
  const rule =
    set.approvalRule !== undefined ? set.approvalRule : ((stored.approvalRule ?? null) as StoredApprovalRule | null);
  const problems = await approvalRuleProblems(db, workspaceId, tools, rule);
  if (problems.length > 0) throw new ValidationError('the approval rule is invalid', problems);
}
