import { delegationRefusalEvent, falseDelegationCondition, overBudgetHold } from '@toolplane/access';
import { recordDenied } from '@toolplane/telemetry';
import { callEvents } from '../calls/call-audit.ts';
import { argumentsAsSent } from '../calls/call-arguments.ts';
import type { CallDelegation } from '../identity/delegated-tokens.ts';
import { refuse } from './refusal.ts';
import type { CallState, Verdict } from './stage.ts';
import type { Stage } from './stage.ts';

/**
 * Narrowed tokens (ADR 0084): a call made with one is refused when its tool is not among the token's tools (the
 * token's catalog view hides them already; this holds on every path whatever the view), when a condition of the token
 * or of a token it was narrowed from is false on the arguments as sent, or when the calls of the token (or of an
 * ancestor) are spent. Each refusal is a `tool.call_refused` audit event naming the chain of actors. The charge is
 * given back when a later stage refuses the call or its job is not queued. Callers without a narrowed token pay one test.
 *
 * A read of an attached server (a resource, a prompt, a completion: ADR 0041) is judged like a call: what
 * it may read at all is the token's view (a token that lists tools sees the resources of the attached servers it may
 * call a tool or prompt of, and the prompts it names, as an access policy's grant does); its chain's conditions are
 * evaluated with the read's name (a URI, a prompt's name) as `tool.name` and no arguments, so a condition on arguments
 * refuses reads; and each read spends one of its calls.
 */
export const delegationStage: Stage = {
  name: 'delegation',
  appliesTo: () => true,
  run(s) {
    const d = s.call.facts.delegation;
    if (!d) return undefined;
    const name = s.tool.def.name;
    if (!s.read && d.token.tools && !d.token.tools.includes(name))
      return refused(s, d, { errorCode: 'delegation.tool', reason: 'tool', message: `may not call tool "${name}"` });
    const failed = falseCondition(s, d);
    if (failed !== undefined)
      return refused(s, d, {
        errorCode: 'delegation.condition',
        reason: 'condition',
        message: s.read
          ? `allows this read of "${name}" only when ${failed} (false for a read, which has no arguments)`
          : `allows this call only when ${failed} (false for these arguments)`,
      });
    // A workflow whose steps call hosted servers' tools: the token's narrowing goes with its job, for each step.
    if (s.tool.workflow?.hostedSteps) s.rules.delegation = stepNarrowing(d);
    if (d.token.limits.length === 0) return undefined;
    return charge(s, d);
  },
};

/** What the worker judges each step of a workflow by (never the token: its id, rights and limits). */
function stepNarrowing({ token }: CallDelegation): NonNullable<CallState['rules']['delegation']> {
  const { jti, servers, tools, conditions, limits, exp } = token;
  return { tokenId: jti, servers, tools, conditions, limits, exp };
}

async function charge(s: CallState, d: CallDelegation): Promise<Verdict> {
  if (!(await d.charge())) {
    const held = await heldPastBudget(s, d);
    if (held) return held;
    return refused(s, d, {
      errorCode: 'delegation.calls',
      reason: 'calls',
      // A task grant's budget is a limit of the chain (ADR 0108): the refusal names it.
      message: d.token.grant
        ? `has no calls left (the budget of task grant ${d.token.grant}, or a limit of its chain, is spent)`
        : 'has no calls left',
    });
  }
  return { settle: { queued: (added) => (added ? undefined : d.refund()) } };
}

/**
 * A call past its task grant's budget, held for the grant's person when the grant holds off-grant calls (ADR 0113):
 * the approval stage asks for exactly this call (the grant and `violated: "calls"` on the request), and once approved
 * it runs beyond the budget, once. It still spends the token's own limits (refused when one of those is spent, as
 * before); a call an access policy or its tool's rule already holds is refused instead. Undefined: refused.
 */
async function heldPastBudget(s: CallState, d: CallDelegation): Promise<Verdict | undefined> {
  const { grant: grantId } = d.token;
  if (grantId === undefined || s.read || s.policyApproval || s.tool.rules.approval) return undefined;
  const grants = await s.deps.taskGrants?.(s.call.principal.workspaceId);
  const hold = overBudgetHold(grants?.find((g) => g.id === grantId));
  if (!hold || !(await d.chargeBeyondGrants())) return undefined;
  s.policyApproval = hold;
  return { settle: { queued: (added) => (added ? undefined : d.refundBeyondGrants()) } };
}

/** The first condition of the token's chain that is false for this call (its text), if any. */
function falseCondition(s: CallState, d: CallDelegation): string | undefined {
  const { call, tool } = s;
  if (d.token.conditions.length === 0) return undefined;
  const { catalog } = call.loaded;
  const annotations = tool.def.annotations as Readonly<Record<string, unknown>> | undefined;
  const activation = {
    // The caller as access-policy conditions see it (its key, or its OAuth subject and claims; the user it acts as).
    caller: call.stepCaller?.().condition ?? {},
    tool: {
      name: tool.def.name,
      server_id: catalog.serverId,
      server_name: catalog.name,
      ...(annotations ? { annotations } : {}),
    },
    // A read has no arguments of a tool (nor a tool's defaults to fill in).
    args: s.read ? call.arguments : argumentsAsSent(call.loaded, tool, call.arguments),
  };
  return falseDelegationCondition(d.token.conditions, activation);
}

function refused(
  s: CallState,
  d: CallDelegation,
  why: { errorCode: string; reason: 'tool' | 'condition' | 'calls'; message: string },
): Verdict {
  recordDenied('delegation');
  s.deps.audit?.add(delegationRefusalEvent(callEvents(s.call, s.tool.def.name), why.reason));
  return refuse(s, { errorCode: why.errorCode, message: `The narrowed token ${d.token.jti} ${why.message}.` });
}
