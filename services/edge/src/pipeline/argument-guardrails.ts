import { toolResultValue, type GuardrailFinding, type ToolOutcome } from '@toolplane/contracts';
import { applyGuardrails, type CompiledGuardrail } from '@toolplane/guardrails';
import { annotateActiveSpan, guardrailAttributes } from '@toolplane/telemetry';
import type { ToolCallDeps } from '../calls/call-types.ts';
import { guardrailArgumentsEvent, type CallEventBase } from '@toolplane/access';
import { callEvents } from '../calls/call-audit.ts';
import { budgetCaller } from '../governance/shadow-decisions.ts';
import { refuse } from './refusal.ts';
import type { CallState, Stage, Verdict } from './stage.ts';

/**
 * Guardrails on a call's arguments (ADR 0050, `on: ["arguments"]`): the detectors of the guardrails on results, run at
 * the edge on the arguments as the caller sent them, after the input schema and before anything else looks at them.
 * `block` refuses the call (nothing is enqueued; a rejected execution record), `redact` sends the arguments with each
 * match replaced, `flag` sends them as they are; `enforce: false` changes nothing. The call's own credentials are not
 * known here (only the worker has them): `secrets:own` finds nothing at the edge. Matched values are never logged,
 * recorded or put in events: the guardrail, the detector, the JSON path and the action only.
 */

/** The key of a result's `_meta` listing what enforced guardrails did to the call's arguments. */
const ARGUMENTS_META = 'toolplane/argumentGuardrails';

/**
 * The stage (ADR 0050, `on: ["arguments"]`): scans a call's arguments with its tool's guardrails; an enforced `block`
 * refuses it, else the call goes on (a new call value when enforced guardrails redacted or flagged something; the job
 * carries every finding to the worker's record). Log-only and enforced findings short of a block are audit events
 * (`guardrail.<action>`, at most one per guardrail, caller, tool and action a minute on this edge), and a log line.
 * Only tools some guardrail on arguments applies to have this stage.
 */
export const argumentGuardrailsStage: Stage = {
  name: 'argument-guardrails',
  appliesTo: (tool) => tool.rules.argumentGuardrails !== undefined,
  run: guardArguments,
};

function guardArguments(s: CallState): Verdict {
  const { deps, call, invocationId } = s;
  const guardrails = s.tool.rules.argumentGuardrails!;
  // Arguments are bounded by the request's size: scanned whole unless a guardrail sets its own limit.
  const out = applyGuardrails(call.arguments, guardrails, { maxScanBytes: Number.POSITIVE_INFINITY });
  if (out.findings.length === 0) return undefined;
  const ids = new Map(guardrails.map(({ rule }) => [rule.name, rule.id]));
  const findings = out.findings.map((f) => {
    const id = ids.get(f.guardrail);
    return { ...f, on: 'arguments' as const, ...(id !== undefined ? { guardrailId: id } : {}) };
  });
  annotateActiveSpan(guardrailAttributes(findings));
  deps.log.info(
    { invocationId, tool: call.name, findings: out.findings, more: out.more },
    out.withheld ? 'guardrail refused a call' : 'guardrail findings in arguments',
  );
  if (out.withheld) {
    const { detector, path } = out.withheld;
    const message = `A guardrail withheld this call: ${detector} found at ${path} in its arguments; nothing was sent.`;
    return refuse(s, { errorCode: 'guardrail.blocked', message, guardrails: findings });
  }
  if (deps.audit) {
    const who = { events: callEvents(call, call.name), caller: budgetCaller(call.principal) };
    recordFindings(deps, who, { guardrails, findings: out.findings }, invocationId);
  }
  s.call = { ...call, arguments: out.value as Readonly<Record<string, unknown>> };
  s.rules.guardrails = { arguments: findings };
  const enforced = findings.filter((f) => !f.action.startsWith('would_'));
  return enforced.length > 0 ? { settle: { finish: (outcome) => withArgumentFindings(enforced, outcome) } } : undefined;
}

/** One audit event per guardrail and action found in a call that goes on, within the edge's budget. */
function recordFindings(
  deps: ToolCallDeps,
  who: { events: CallEventBase; caller: string },
  { guardrails, findings }: { guardrails: readonly CompiledGuardrail[]; findings: GuardrailFinding[] },
  invocationId: string,
): void {
  for (const { rule } of guardrails) {
    const found = findings.filter((f) => f.guardrail === rule.name);
    if (found.length === 0) continue;
    if (deps.shadowEvents?.once(`guardrail ${rule.id} ${found[0]!.action} ${who.events.tool} ${who.caller}`) ?? true)
      deps.audit!.add(guardrailArgumentsEvent(who.events, { guardrail: rule, findings: found }, invocationId));
  }
}

/**
 * The result of a call whose arguments enforced guardrails redacted or flagged (log-only findings are not shown):
 * `_meta["toolplane/argumentGuardrails"]` lists what they did (guardrail, detector, path, action), so the model knows
 * what was sent.
 */
function withArgumentFindings(enforced: readonly GuardrailFinding[], outcome: ToolOutcome): ToolOutcome {
  const value = toolResultValue(outcome);
  const listed = enforced.map(({ guardrail, detector, path, action }) => ({ guardrail, detector, path, action }));
  return { ...value, _meta: { ...value._meta, [ARGUMENTS_META]: listed } };
}
