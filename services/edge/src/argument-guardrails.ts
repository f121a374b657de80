import { toolResultValue, type GuardrailFinding, type ToolOutcome, type ToolResultPayload } from '@toolplane/contracts';
import { applyGuardrails, type CompiledGuardrail } from '@toolplane/guardrails';
import { annotateActiveSpan, guardrailAttributes } from '@toolplane/telemetry';
import type { ToolCall, ToolCallDeps } from './call-types.ts';
import { guardrailArgumentsEvent } from './call-audit.ts';
import { budgetCaller } from './shadow-decisions.ts';

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

/** What the guardrails made of a call: refused (its result), or the call to run (arguments redacted, or as sent). */
export type GuardedArguments = { refused: ToolResultPayload } | { call: ToolCall };

/** Rejects a call with its record (`rejectCall`, passed in to keep this module below the checks). */
type Reject = (rejection: { errorCode: string; message: string; guardrails: GuardrailFinding[] }) => ToolResultPayload;

/**
 * Scans a call's arguments with its tool's guardrails: the call as it goes on (a new value when enforced guardrails
 * redacted or flagged something: it carries their findings), or its refusal by an enforced `block`. Log-only and
 * enforced findings short of a block are audit events (`guardrail.<action>`, at most one per guardrail, caller, tool
 * and action a minute on this edge), and a log line.
 */
export function guardArguments(
  deps: ToolCallDeps,
  call: ToolCall,
  guardrails: readonly CompiledGuardrail[],
  { invocationId, reject }: { invocationId: string; reject: Reject },
): GuardedArguments {
  // Arguments are bounded by the request's size: scanned whole unless a guardrail sets its own limit.
  const out = applyGuardrails(call.arguments, guardrails, { maxScanBytes: Number.POSITIVE_INFINITY });
  if (out.findings.length === 0) return { call };
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
    return { refused: reject({ errorCode: 'guardrail.blocked', message, guardrails: findings }) };
  }
  recordFindings(deps, call, { guardrails, findings: out.findings }, invocationId);
  // The call goes on with every finding (its job carries them to the worker's record), redacted where enforced.
  const args = out.value as Readonly<Record<string, unknown>>;
  return { call: { ...call, arguments: args, argumentFindings: findings } };
}

/** One audit event per guardrail and action found in a call that goes on, within the edge's budget. */
function recordFindings(
  deps: ToolCallDeps,
  call: ToolCall,
  { guardrails, findings }: { guardrails: readonly CompiledGuardrail[]; findings: GuardrailFinding[] },
  invocationId: string,
): void {
  if (!deps.audit) return;
  const caller = budgetCaller(call.principal);
  for (const { rule } of guardrails) {
    const found = findings.filter((f) => f.guardrail === rule.name);
    if (found.length === 0) continue;
    if (deps.shadowEvents?.once(`guardrail ${rule.id} ${found[0]!.action} ${call.name} ${caller}`) ?? true)
      deps.audit.add(guardrailArgumentsEvent(call, call.name, { guardrail: rule, findings: found }, invocationId));
  }
}

/**
 * The result of a call whose arguments enforced guardrails redacted or flagged (log-only findings are not shown): `_meta["toolplane/argumentGuardrails"]`
 * lists what they did (guardrail, detector, path, action), so the model knows what was sent.
 */
export function withArgumentFindings(call: ToolCall, outcome: ToolOutcome): ToolOutcome {
  const enforced = (call.argumentFindings ?? []).filter((f) => !f.action.startsWith('would_'));
  if (enforced.length === 0) return outcome;
  const value = toolResultValue(outcome);
  const listed = enforced.map(({ guardrail, detector, path, action }) => ({ guardrail, detector, path, action }));
  return { ...value, _meta: { ...value._meta, [ARGUMENTS_META]: listed } };
}
