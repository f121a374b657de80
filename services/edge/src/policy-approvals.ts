import { approvalInsteadOf, type PolicyApprovalRule } from '@toolplane/access';
import { conditionRefusal, failedClauses, type CallConditions } from './access-conditions.ts';
import { argumentsAsSent } from './call-arguments.ts';
import type { LoadedCatalog, LoadedTool } from './catalogs.ts';

/**
 * An access policy's `onFalse: "require_approval"` on the edge (ADR 0049): a call whose only refusal is the false
 * condition of such grants is not refused but governed by their rule, exactly as a tool of its server's
 * `approvalTools` is (the same binding, scripts and answers; `approveCall`). The checks decide it once per call
 * (`conditionCheck`); the run reads the rule back (`policyApprovalRule`). Which rule stands in for a refusal is
 * `approvalInsteadOf` of `@toolplane/access`, as the control plane's explanations say it.
 */

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
