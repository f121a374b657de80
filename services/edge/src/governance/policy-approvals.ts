import {
  approvalInsteadOf,
  conditionRefusal,
  failedClauses,
  type CallConditions,
  type PolicyApprovalRule,
} from '@toolplane/access';
import type { LoadedCatalog, LoadedTool } from '../state/catalogs.ts';

/**
 * An access policy's `onFalse: "require_approval"` on the edge (ADR 0049): a call whose only refusal is the false
 * condition of such grants is not refused but governed by their rule, exactly as a tool of its server's
 * `approvalTools` is (the same binding, scripts and answers). The access stage decides it once per call
 * (`conditionCheck`) and leaves the rule in the call's state for the approval stage. Which rule stands in for a refusal is
 * `approvalInsteadOf` of `@toolplane/access`, as the control plane's explanations say it.
 */

/**
 * The conditions of the caller's grants on a call, with the arguments as sent: nothing when the call may go on, the
 * refusal's message, or the rule it must be approved under instead (a false condition whose grants require approval).
 */
export function conditionCheck(
  conditions: CallConditions,
  loaded: LoadedCatalog,
  tool: LoadedTool,
  sent: Readonly<Record<string, unknown>>,
): { refused?: string; approval?: PolicyApprovalRule } {
  const refused = conditionRefusal(conditions, loaded, tool, sent);
  if (refused === undefined) return {};
  const failed = failedClauses(conditions, loaded, tool, sent);
  const approval = failed.length > 0 ? approvalInsteadOf(failed, tool) : undefined;
  return approval ? { approval } : { refused };
}
