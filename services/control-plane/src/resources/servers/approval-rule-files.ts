import type { ProblemIssue } from '@toolplane/errors';
import { ApprovalApprovers } from '@toolplane/contracts';
import { z } from 'zod';
import type { StoredApprovalRule } from '../../catalog/approvals.ts';
import type { Change, Kind } from '../workspace-files/kind.ts';
import { approvalRuleShapeProblems } from './approval-rule.ts';
import { ApprovalNotifyTarget, ApprovalRuleBody } from './schemas.ts';

/**
 * A rule of approvals in its file (ADR 0049: a server's `approvalRule`, a policy's `approval`): the API's rule with its
 * approving API keys by name, as every reference in the files is, and each optional field written out (a file that
 * leaves one out means the API's default, and a change of it made elsewhere shows in the plan). Apply gives the API
 * the keys' ids.
 */
export const ApprovalRuleSpec = z.strictObject({
  approvers: z.strictObject({
    apiKeys: ApprovalApprovers.shape.apiKeys.unwrap().default([]),
    subjects: ApprovalApprovers.shape.subjects.unwrap().default([]),
    groups: ApprovalApprovers.shape.groups,
    people: ApprovalApprovers.shape.people.unwrap().default([]),
  }),
  approvals: ApprovalRuleBody.shape.approvals,
  expiresInSeconds: ApprovalRuleBody.shape.expiresInSeconds,
  notify: z.array(ApprovalNotifyTarget).max(5).default([]),
});

type RuleFile = z.output<typeof ApprovalRuleSpec>;

/** A stored rule as its file holds it: keys by name (an unknown id stays as it is), every field written out. */
export function approvalRuleFile(stored: unknown, keyNames: Map<string, string>): RuleFile | null {
  const rule = (stored ?? null) as StoredApprovalRule | null;
  if (!rule) return null;
  const a = rule.approvers;
  return {
    approvers: {
      apiKeys: (a.apiKeys ?? []).map((id) => keyNames.get(id) ?? id),
      subjects: a.subjects ?? [],
      ...(a.groups?.length ? { groups: a.groups } : {}),
      people: a.people ?? [],
    },
    approvals: rule.approvals,
    expiresInSeconds: rule.expiresInSeconds,
    notify: (rule.notify ?? []).map(({ url, format }) => ({ url, format })),
  };
}

/** A file's rule as the API takes it (`approvalRule`): keys by their ids (`idOf`). */
export function approvalRuleBody(spec: unknown, idOf: (key: string) => string): StoredApprovalRule | null {
  const rule = (spec ?? null) as RuleFile | null;
  if (!rule) return null;
  return { ...rule, approvers: { ...rule.approvers, apiKeys: rule.approvers.apiKeys.map(idOf) } };
}

const ruleOf = (c: Change) => (c.desired?.spec.approvalRule ?? null) as RuleFile | null;

/** Whether apply writes a server's approval fields (created with them, or changed). */
function writesApproval(c: Change): boolean {
  if (c.kind !== 'server' || !c.desired) return false;
  if (c.action === 'create') return ruleOf(c) !== null || (c.desired.spec.approvalTools as string[]).length > 0;
  return c.action === 'update' && (c.fields.includes('approvalTools') || c.fields.includes('approvalRule'));
}

/**
 * Whether a server's approval fields wait for a later step: its rule names API keys or people the same apply creates
 * (their kinds are applied after servers, which keys name). Its step then writes the rest, and a step after every
 * other creation and update writes its approvals.
 */
export function approvalWaits(c: Change, changes: readonly Change[]): boolean {
  const rule = ruleOf(c);
  if (!rule || !writesApproval(c)) return false;
  const created = (kind: Kind, name: string) =>
    changes.some((o) => o.kind === kind && o.name === name && o.action === 'create');
  return (
    rule.approvers.apiKeys.some((n) => created('api_key', n)) ||
    rule.approvers.people.some((n) => created('external_user', n))
  );
}

/**
 * What plan finds wrong with a server's approvals before any change, as its step would: the rule's own problems
 * (`approvalRuleShapeProblems`) and approvers by name that no file or the workspace has.
 */
export function approvalFileProblems(c: Change, exists: (kind: Kind, name: string) => boolean): ProblemIssue[] {
  if (!writesApproval(c)) return [];
  const rule = ruleOf(c);
  const at = (path: string, message: string) => ({ path: `${c.file}#${path}`, message });
  const problems = approvalRuleShapeProblems(c.desired!.spec.approvalTools as string[], rule).map((p) =>
    at(p.path, p.message),
  );
  if (!rule) return problems;
  rule.approvers.apiKeys.forEach((n, i) => {
    if (!exists('api_key', n))
      problems.push(at(`/approvalRule/approvers/apiKeys/${i}`, `no API key "${n}" in the files or the workspace`));
  });
  rule.approvers.people.forEach((n, i) => {
    if (!exists('external_user', n))
      problems.push(at(`/approvalRule/approvers/people/${i}`, `no external user "${n}" in the files or the workspace`));
  });
  return problems;
}
