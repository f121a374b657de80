import type { ApprovalApprovers } from '@toolplane/contracts';
import { ValidationError, type ProblemIssue } from '@toolplane/errors';
import type { StoredApprovalRule } from '../../catalog/approvals.ts';
import type { Db } from '../../db/client.ts';
import { isUuid } from '../../db/ids.ts';

/**
 * What is wrong with a server's approvals as they will be (ADR 0049), each problem at its path: approval tools without
 * a rule, a rule naming no approver, more approvals than approvers, approvers the workspace does not have (API keys by
 * id, people by name; OAuth subjects are not known ahead). The tools themselves are checked against the catalog.
 */
async function approvalRuleProblems(
  db: Db,
  workspaceId: string,
  tools: readonly string[],
  rule: StoredApprovalRule | null,
): Promise<ProblemIssue[]> {
  if (!rule)
    return tools.length > 0
      ? [{ path: '/approvalRule', message: 'approvalTools need an approvalRule naming who approves' }]
      : [];
  const problems: ProblemIssue[] = [];
  const a: ApprovalApprovers = rule.approvers;
  // Keys and subjects decide through the API, people through their approval links: each counts.
  const count = (a.apiKeys?.length ?? 0) + (a.subjects?.length ?? 0) + (a.people?.length ?? 0);
  if (count === 0)
    problems.push({
      path: '/approvalRule/approvers',
      message: 'name at least one approver (apiKeys, subjects, people)',
    });
  else if (rule.approvals > count)
    problems.push({
      path: '/approvalRule/approvals',
      message: `${rule.approvals} approvals needed but only ${count} approver${count === 1 ? '' : 's'} can decide`,
    });
  const keys = await db.apiKey.findMany({
    where: { workspaceId, id: { in: (a.apiKeys ?? []).filter(isUuid) }, revokedAt: null },
    select: { id: true },
  });
  const found = new Set(keys.map((k) => k.id));
  (a.apiKeys ?? []).forEach((id, i) => {
    if (!found.has(id))
      problems.push({ path: `/approvalRule/approvers/apiKeys/${i}`, message: `no API key "${id}" in this workspace` });
  });
  const people = await db.externalUser.findMany({
    where: { workspaceId, name: { in: a.people ?? [] } },
    select: { name: true },
  });
  const named = new Set(people.map((p) => p.name));
  (a.people ?? []).forEach((name, i) => {
    if (!named.has(name))
      problems.push({
        path: `/approvalRule/approvers/people/${i}`,
        message: `no external user "${name}" in this workspace`,
      });
  });
  return problems;
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
