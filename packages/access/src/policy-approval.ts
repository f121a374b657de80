import type { AccessPolicyRule, ApprovalRule } from '@toolplane/contracts';
import { conditionProblem, type ConditionalTool } from './call-conditions.ts';

/**
 * An access policy's `onFalse: "require_approval"` (ADR 0049): a call whose only refusal is the false condition of
 * such grants is not refused but held until someone the policy's rule names approved exactly that call. The edge
 * holds calls by this choice; the control plane's explanations say it with the same code.
 */

/** The rule of the policy whose false condition asks for approval, with the policy (named in what the agent reads). */
export interface PolicyApprovalRule extends ApprovalRule {
  readonly policy: { readonly id: string; readonly name?: string | undefined };
  /**
   * Why the call needs approval when no access policy's condition says it: a session rule's words (ADR 0078), naming
   * the earlier result whose label decided, and that label's origin (for the approval's request and the inbox).
   */
  readonly session?: { readonly reason: string; readonly origin: Readonly<Record<string, unknown>> } | undefined;
  /**
   * Why the policy's condition could not be evaluated for the call's tool (it names an argument the tool does not
   * have): the call is held for that, not for a false condition, and the agent, the record and the
   * `approval.requested` event say so.
   */
  readonly problem?: string | undefined;
  /** Why a portable rule holds the call when no policy or session rule does (a task grant's violated bound, ADR 0108). */
  readonly because?: string | undefined;
  /**
   * The task grant that holds the call (ADR 0108): its id and purpose, and what the call violates of it (a bound's
   * name, `tools`, `expiry`, `calls`), shown to its person with the request and kept on the approval's row.
   */
  readonly taskGrant?: { readonly id: string; readonly purpose: string; readonly violated: string } | undefined;
}

/**
 * The rule a call refused by these clauses (each: the policies any of which would have granted it) may run under
 * instead: every failed clause must have a policy whose false condition requires approval (the first such, in the
 * published order), and they must all require the same rule (an approval under one rule never stands in for
 * another's). Undefined: the call stays refused. With the call's `tool`, a condition that cannot be evaluated for it
 * is named as the `problem`.
 */
export function approvalInsteadOf(
  clauses: readonly (readonly AccessPolicyRule[])[],
  tool?: ConditionalTool,
): PolicyApprovalRule | undefined {
  let chosen: (AccessPolicyRule & { approval: ApprovalRule }) | undefined;
  for (const clause of clauses) {
    const rule = clause.find((r): r is AccessPolicyRule & { approval: ApprovalRule } => r.approval !== undefined);
    if (!rule || (chosen && chosen.approval.version !== rule.approval.version)) return undefined;
    chosen ??= rule;
  }
  if (!chosen) return undefined;
  const problem = tool ? conditionProblem(chosen, tool) : undefined;
  return { ...chosen.approval, policy: { id: chosen.id, name: chosen.name }, ...(problem ? { problem } : {}) };
}

/** Why a policy's rule holds a call, after "access policy … grants it only when its condition holds, and": */
export function heldBecause(rule: Pick<PolicyApprovalRule, 'problem'>): string {
  return rule.problem
    ? `its condition cannot be evaluated for this tool (${rule.problem})`
    : 'it does not for these arguments';
}

/** Who may approve under a rule, and how many of them, as the agent and explanations say it. */
export function approversText(rule: ApprovalRule): string {
  const { apiKeys = [], subjects = [], groups = [], people = [] } = rule.approvers;
  const who = [
    ...apiKeys.map((k) => `API key ${k}`),
    ...subjects.map((s) => `user ${s}`),
    ...groups.map((g) => `a member of group ${g}`),
    ...people.map((p) => `person ${p}`),
  ].join(', ');
  return `${who}; ${rule.approvals} approval${rule.approvals === 1 ? '' : 's'} needed`;
}
