import { recordDenied } from '@toolplane/telemetry';
import { callEvents } from '../calls/call-audit.ts';
import { argumentsAsSent } from '../calls/call-arguments.ts';
import {
  accessWouldRefuseEvent,
  conditionRefusalEvent,
  conditionSession,
  conditionsReadSession,
  refusingPolicy,
  shadowRefusals,
  type CallConditions,
  type CallEventBase,
} from '@toolplane/access';
import { conditionCheck } from '../governance/policy-approvals.ts';
import { budgetCaller } from '../governance/shadow-decisions.ts';
import { refuse } from './refusal.ts';
import { readCallSession } from './session.ts';
import type { CallState, Stage, Verdict } from './stage.ts';

/**
 * The conditions of the caller's grants (ADR 0046), on the arguments as they will be sent (after guardrails, with the
 * defaults the worker fills in): a false one refuses the call (`access.condition`, an audit event), unless it requires
 * approval instead (the approval stage then asks for it, governance/policy-approvals.ts). Log-only policies: their would-be
 * refusals are `access.would_refuse` audit events and the call goes on. Tools hidden from the caller never get here
 * (access.ts refuses them by name). Only callers some applicable grant has a condition for pay for this stage.
 */
export const accessStage: Stage = {
  name: 'access',
  appliesTo: () => true,
  run(s) {
    const { access: conditions } = s.call.facts;
    if (!conditions) return undefined;
    // A condition on the caller's session (ADR 0078) is judged with the session read from Redis first.
    if (conditionsReadSession(conditions, s.tool)) return withSession(s, conditions).then((c) => check(s, c));
    return check(s, conditions);
  },
};

/** The conditions with the caller's session as they see it; without it (none kept, Redis unreachable) they read none. */
async function withSession(s: CallState, conditions: CallConditions): Promise<CallConditions> {
  const { deps, call } = s;
  const session = call.facts.session;
  if (!session) return conditions;
  try {
    const view = await readCallSession(s, session);
    return { ...conditions, session: conditionSession(view, Date.now()) };
  } catch (err) {
    // A condition that reads an absent session is false: the call is refused (or asked for approval), never let through.
    deps.log.warn({ err, tool: s.tool.def.name }, 'a session could not be read for a condition');
    return conditions;
  }
}

function check(s: CallState, conditions: CallConditions): Verdict {
  const { call, tool, deps } = s;
  const { loaded } = call;
  const sent = argumentsAsSent(loaded, tool, call.arguments);
  const { refused, approval } = conditionCheck(conditions, loaded, tool, sent);
  // A call past its task grant's budget is held for the grant's person already (ADR 0113): one approval cannot stand
  // for both, so a policy's hold on top of it refuses.
  if (approval && s.policyApproval) return refuse(s, { errorCode: 'access.condition', message: twoHolds(s) });
  if (approval) s.policyApproval = approval;
  if (refused) {
    recordDenied('condition');
    deps.audit?.add(
      conditionRefusalEvent(callEvents(call, tool.def.name), refusingPolicy(conditions, loaded, tool, sent)),
    );
    return refuse(s, { errorCode: 'access.condition', message: refused });
  }
  if (!conditions.rules.logOnly) return undefined;
  // The would-be refusals of the caller's log-only policies: audit events within the edge's budget, each counted.
  let events: CallEventBase | undefined;
  for (const r of shadowRefusals(conditions, loaded, tool, sent))
    if (deps.shadowEvents?.take('access', r.policy.id, budgetCaller(call.principal), tool.def.name) ?? true)
      deps.audit?.add(accessWouldRefuseEvent((events ??= callEvents(call, tool.def.name)), r, s.invocationId));
  return undefined;
}

const twoHolds = (s: CallState) =>
  `This call of "${s.tool.def.name}" is past its task grant's budget (${s.policyApproval?.because ?? 'held'}) and ` +
  'an access policy requires another approval of it: one approval cannot stand for both, so it was refused. Nothing ' +
  'was sent.';
