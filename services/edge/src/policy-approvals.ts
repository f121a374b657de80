import type { AccessPolicyRule, ApprovalRule } from '@toolplane/contracts';
import { conditionRefusal, failedClauses, type CallConditions } from './access-conditions.ts';
import { argumentsAsSent } from './call-arguments.ts';
import type { LoadedCatalog, LoadedTool } from './catalogs.ts';

/**
 * An access policy's `onFalse: "require_approval"` on the edge (ADR 0049): a call whose only refusal is the false
 * condition of such grants is not refused but governed by their rule, exactly as a tool of its server's
 * `approvalTools` is (the same binding, scripts and answers; `approveCall`). The checks decide it once per call
 * (`conditionCheck`); the run reads the rule back (`policyApprovalRule`).
 */

/** The rule of the policy whose false condition asks for approval, with the policy (named in what the agent reads). */
export interface PolicyApprovalRule extends ApprovalRule {
  readonly policy: { readonly id: string; readonly name?: string | undefined };
}

/**
 * The rule a call refused by these clauses (each: the policies any of which would have granted it) may run under
 * instead: every failed clause must have a policy whose false condition requires approval (the first such, in the
 * published order), and they must all require the same rule (an approval under one rule never stands in for
 * another's). Undefined: the call stays refused.
 */
export function approvalInsteadOf(clauses: readonly (readonly AccessPolicyRule[])[]): PolicyApprovalRule | undefined {
  let chosen: (AccessPolicyRule & { approval: ApprovalRule }) | undefined;
  for (const clause of clauses) {
    const rule = clause.find((r): r is AccessPolicyRule & { approval: ApprovalRule } => r.approval !== undefined);
    if (!rule || (chosen && chosen.approval.version !== rule.approval.version)) return undefined;
    chosen ??= rule;
  }
  return chosen && { ...chosen.approval, policy: { id: chosen.id, name: chosen.name } };
}

/** Per call object: the policy rule it needs (null: none), as the checks found it. */
const decided = new WeakMap<object, PolicyApprovalRule | null>();

/**
 * The conditions of the caller's grants on a call, with the arguments as sent: undefined when the call may go on
 * (every condition held, or the ones that did not require approval: remembered for `policyApprovalRule`), else the
 * refusal's message.
 */
export function conditionCheck(
  call: { readonly conditions?: CallConditions | undefined },
  loaded: LoadedCatalog,
  tool: LoadedTool,
  sent: Readonly<Record<string, unknown>>,
): string | undefined {
  const conditions = call.conditions;
  if (!conditions) return undefined;
  const refused = conditionRefusal(conditions, loaded, tool, sent);
  const failed = refused === undefined ? [] : failedClauses(conditions, loaded, tool, sent);
  const approval = failed.length > 0 ? approvalInsteadOf(failed) : undefined;
  decided.set(call, approval ?? null);
  return approval ? undefined : refused;
}

/** What `policyApprovalRule` reads of a call. */
interface ConditionedCall {
  readonly conditions?: CallConditions | undefined;
  readonly loaded: LoadedCatalog;
  readonly arguments: Readonly<Record<string, unknown>>;
}

/**
 * The access-policy rule a call must be approved under (undefined: none), as its checks decided; a call the checks
 * did not see as this object is decided again here (never run unapproved for want of a note).
 */
export function policyApprovalRule(call: ConditionedCall, tool: LoadedTool): PolicyApprovalRule | undefined {
  if (!call.conditions) return undefined;
  if (!decided.has(call)) conditionCheck(call, call.loaded, tool, argumentsAsSent(call.loaded, tool, call.arguments));
  return decided.get(call) ?? undefined;
}
