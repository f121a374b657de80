import { toolResultValue } from '@toolplane/contracts';
import { recordQuotaCharged, recordQuotaRefused, recordQuotaUse } from '@toolplane/telemetry';
import { quotaAlertEvent, quotaEvent, type CallEventBase } from '@toolplane/access';
import { callEvents } from '../calls/call-audit.ts';
import type { ToolCall, ToolCallDeps } from '../calls/call-types.ts';
import { quotaRefusalFacts, quotaRefusalMessage } from '@toolplane/queue';
import {
  jobCharge,
  quotasOfTool,
  type CallQuotas,
  type ChargeOutcome,
  type QuotaCharge,
} from '../governance/quotas.ts';
import { budgetCaller } from '../governance/shadow-decisions.ts';
import { errorResult, refuse } from './refusal.ts';
import type { CallState, Ending, Stage, Verdict } from './stage.ts';

/**
 * The call's quotas (ADR 0048), after every other check that can refuse it, so that a refused call is never charged:
 * one script charges all of them, or refuses the call (nothing enqueued, an execution record `quota.exceeded`, an audit
 * event) with a tool error naming the quota, its limit and when to retry (also in `_meta`). Log-only quotas with no room
 * are `quota.would_refuse` audit events; the call goes on. Redis unreachable: refused (`quota.unavailable`) unless the
 * edge is set to let calls through. The charge ends with the call (`releaseCharge`). A caller no quota applies to pays
 * one test.
 */
export const quotaStage: Stage = {
  name: 'quota',
  appliesTo: () => true,
  run: (s) => (s.call.facts.quota && s.deps.quotas ? chargeQuotas(s, s.call.facts.quota) : undefined),
};

async function chargeQuotas(s: CallState, callerQuotas: CallQuotas): Promise<Verdict> {
  const { deps, call, tool } = s;
  const rules = quotasOfTool(callerQuotas, tool.def.name);
  const quotas = deps.quotas!;
  if (rules.length === 0) return undefined;
  let outcome;
  try {
    // A twin call counts in the twin's own counters (ADR 0112).
    outcome = await quotas.meter.charge(callerQuotas, rules, tool.rules.cost ?? 1, call.principal.twin === true);
  } catch (err) {
    deps.log.warn({ tool: tool.def.name, err: String(err) }, 'quotas could not be checked');
    if (quotas.failOpen) return undefined;
    const message =
      `The quotas of this call of "${tool.def.name}" could not be checked (the edge cannot reach Redis): the call ` +
      'was not made, nothing was sent. Retry in a few seconds.';
    return refuse(s, { errorCode: 'quota.unavailable', message });
  }
  // The call's audit facts, read only if an event is written (most charges write none).
  let events: CallEventBase | undefined;
  const who = {
    tool: tool.def.name,
    events: () => (events ??= callEvents(call, tool.def.name)),
    principal: call.principal,
    person: callerQuotas.caller.person,
  };
  observeQuotas(deps, who, outcome, s.invocationId);
  if (outcome.refused) {
    const message = quotaRefusalMessage(tool.def.name, outcome.refused, 'call');
    const result = { ...errorResult(message), _meta: { 'toolplane/quota': quotaRefusalFacts(outcome.refused) } };
    return refuse(s, { errorCode: 'quota.exceeded', message, result });
  }
  const { charge } = outcome;
  s.rules.quota = jobCharge(charge, s.held);
  const held = s.held === true;
  return { settle: { ended: (end) => releaseCharge(deps, charge, { held, invocationId: s.invocationId }, end) } };
}

/**
 * The charge as the call ends. Nothing ran when no job was added (refused by a later stage, the queue did not take it),
 * or in an external server's `input_required` round: the units come back (a retry is charged). Any other outcome,
 * unknown ones too, stays charged. Calls in flight end with the job: its worker releases them when it ends (however the
 * caller went away); the edge only when no job runs now (none added, a cached answer, a job held for approval).
 */
function releaseCharge(
  deps: ToolCallDeps,
  charge: QuotaCharge,
  call: { held: boolean; invocationId: string },
  end: Ending,
): Promise<void> {
  const inputRequired = end.outcome !== undefined && toolResultValue(end.outcome).resultType === 'input_required';
  const windowed = end.added === false || inputRequired;
  const inFlight = call.held || end.added !== true;
  return deps
    .quotas!.meter.release(charge, { windowed, inFlight })
    .catch((err: unknown) =>
      deps.log.warn({ invocationId: call.invocationId, err: String(err) }, 'a quota charge was not released'),
    );
}

/**
 * What a charge tells besides its answer: metrics (units charged, refusals, how full each quota is), the log-only
 * quotas' would-be refusals (within the edge's budget of events), the refusal and each alert, as audit events.
 */
function observeQuotas(
  deps: ToolCallDeps,
  who: { tool: string; events: () => CallEventBase; principal: ToolCall['principal']; person: string | undefined },
  outcome: ChargeOutcome,
  invocationId: string,
): void {
  const { events } = who;
  for (const u of outcome.uses) recordQuotaUse(u.rule.id, u.fraction);
  for (const w of outcome.shadow) {
    recordQuotaRefused(w.rule.id, false);
    if (deps.shadowEvents?.take('quota', w.rule.id, budgetCaller(who.principal), who.tool) ?? true)
      deps.audit?.add(quotaEvent(events(), w, { kind: 'would_refuse', invocationId }));
  }
  if (outcome.refused) {
    recordQuotaRefused(outcome.refused.rule.id, outcome.refused.rule.enforce);
    deps.audit?.add(quotaEvent(events(), outcome.refused, { kind: 'refused' }));
    return;
  }
  outcome.charge.amounts.forEach((amount, i) => {
    const rule = outcome.uses[i]!.rule;
    recordQuotaCharged(rule.id, rule.counts, amount);
  });
  for (const a of outcome.alerts) deps.audit?.add(quotaAlertEvent(events(), a, who.person));
}
