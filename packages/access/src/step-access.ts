import type { ConditionCaller } from '@toolplane/conditions';
import type { WorkspaceAccess } from '@toolplane/contracts';
import {
  conditionRefusal,
  failedClauses,
  shadowRefusals,
  type CallConditions,
  type CallServer,
  type ConditionalTool,
  type ShadowRefusal,
} from './call-conditions.ts';
import { decideAccess, hiddenToolRefusal, type CallerIdentity } from './decide.ts';
import { approvalInsteadOf } from './policy-approval.ts';

/** A hosted server's tool called as a workflow step: where it lives and what conditions read of it. */
interface StepTool {
  serverId: string;
  serverName: string;
  tool: ConditionalTool;
}

/**
 * The access decision of one workflow step calling a hosted server's tool (ADR 0045): the caller is decided on the
 * tool's server exactly as the edge decides a plain call of it (`decideAccess`: the key's servers, the policies'
 * grants), and a grant under a condition is evaluated on the step's resolved arguments (`conditionRefusal`). Undefined
 * when the step may run; else the refusal's message, naming the policy whose condition failed.
 */
export function stepRefusal(
  access: WorkspaceAccess,
  caller: { identity: CallerIdentity; condition: ConditionCaller },
  step: StepTool,
  args: Readonly<Record<string, unknown>>,
): string | undefined {
  const decision = decideAccess(access, caller.identity, step.serverId);
  if (!decision.allowed) return decision.reason;
  const name = step.tool.def.name;
  if (decision.grant !== 'all' && !decision.grant.has(name)) return hiddenToolRefusal(decision.who, name);
  if (!decision.conditions) return undefined;
  const server = { catalog: { serverId: step.serverId, name: step.serverName } };
  return conditionRefusal({ rules: decision.conditions, caller: caller.condition }, server, step.tool, args);
}

/**
 * The conditions the caller's grants put on a hosted server's tool, and its server as they read it; undefined when the
 * caller may not call it or no grant of it has a condition. What the audit of a step's (or an event occurrence's)
 * decision reads: `shadowRefusals` (log-only policies' would-be refusals), `refusingPolicy` (the policy of a refusal).
 */
export function stepConditions(
  access: WorkspaceAccess,
  caller: { identity: CallerIdentity; condition: ConditionCaller },
  step: Omit<StepTool, 'tool'>,
): { conditions: CallConditions; server: CallServer } | undefined {
  const decision = decideAccess(access, caller.identity, step.serverId);
  if (!decision.allowed || !decision.conditions) return undefined;
  const server = { catalog: { serverId: step.serverId, name: step.serverName } };
  return { conditions: { rules: decision.conditions, caller: caller.condition }, server };
}

/**
 * The would-be refusals of the caller's log-only policies on a workflow step that may run (their conditions on the
 * step's arguments): what the edge records of a plain call of the tool as `access.would_refuse`.
 */
export function stepShadowRefusals(
  access: WorkspaceAccess,
  caller: { identity: CallerIdentity; condition: ConditionCaller },
  step: StepTool,
  args: Readonly<Record<string, unknown>>,
): ShadowRefusal[] {
  const on = stepConditions(access, caller, step);
  return on ? shadowRefusals(on.conditions, on.server, step.tool, args) : [];
}

/**
 * The access decision of a task's call when its job starts: a task's job may wait in the queue (a held
 * call for hours), and it runs only if its caller may still call the tool with these arguments under the policies as
 * published then, decided as `stepRefusal` decides a step (the key's servers, the grants, the conditions on the
 * arguments as sent). A call held for an approval (`approved`, ADR 0049) is not refused by the false conditions an
 * approval stands in for (`approvalInsteadOf`): that is what the approver decided. Undefined when it may run.
 */
export function taskRefusal(
  access: WorkspaceAccess,
  caller: { identity: CallerIdentity; condition: ConditionCaller },
  call: StepTool,
  { args, approved }: { args: Readonly<Record<string, unknown>>; approved: boolean },
): string | undefined {
  const decision = decideAccess(access, caller.identity, call.serverId);
  if (!decision.allowed) return decision.reason;
  const name = call.tool.def.name;
  if (decision.grant !== 'all' && !decision.grant.has(name)) return hiddenToolRefusal(decision.who, name);
  if (!decision.conditions) return undefined;
  const conditions = { rules: decision.conditions, caller: caller.condition };
  const server = { catalog: { serverId: call.serverId, name: call.serverName } };
  if (approved) {
    const failed = failedClauses(conditions, server, call.tool, args);
    if (failed.length === 0 || approvalInsteadOf(failed) !== undefined) return undefined;
  }
  return conditionRefusal(conditions, server, call.tool, args);
}
