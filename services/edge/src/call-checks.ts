import { recordCaller, type GuardrailFinding, type ToolOutcome, type ToolResultPayload } from '@toolplane/contracts';
import type { ErrorCode } from '@toolplane/errors';
import {
  currentTraceIds,
  recordDenied,
  recordQuotaCharged,
  recordQuotaRefused,
  recordQuotaUse,
  recordToolCall,
} from '@toolplane/telemetry';
import { conditionRefusal, shadowRefusals, type CallConditions } from './access-conditions.ts';
import { guardArguments } from './argument-guardrails.ts';
import { argumentsAsSent, nonFiniteNumberPath } from './call-arguments.ts';
import type { ToolCall, ToolCallDeps } from './call-types.ts';
import { describeArgumentErrors, type LoadedCatalog, type LoadedTool } from './catalogs.ts';
import { conditionCheck } from './policy-approvals.ts';
import { quotasOfTool, type ChargeOutcome, type QuotaCharge, type QuotaRefusal } from './quotas.ts';
import { budgetCaller } from './shadow-decisions.ts';
import { confirmationPrompt, type Confirmation } from './confirmation.ts';
import {
  accessWouldRefuseEvent,
  conditionRefusalEvent,
  quotaAlertEvent,
  quotaEvent,
  confirmationEvent,
  type ConfirmationOutcome,
} from './call-audit.ts';

/**
 * Every check a `tools/call` passes before anything is enqueued, in one place and in this order: its arguments
 * (finite numbers, the input schema), the guardrails on arguments (which may refuse the call or redact what is
 * sent, argument-guardrails.ts), the conditions of the caller's grants (on the arguments as they will be sent),
 * a per-request credential the server must accept, a tool that runs only as a task, then a person's confirmation of a
 * tool marked `confirm` (ADR 0038). Then, for a caller some quota applies to, `chargeQuotas` (ADR 0048): the last
 * check, the one that charges, so that a call refused by any other is never charged. `checkCall` is synchronous
 * unless a person is asked: the hot path pays no promise for it.
 */

/** A call that passed every check with its arguments changed by a guardrail: the call to run instead of the caller's. */
export class GuardedCall {
  readonly call: ToolCall;
  constructor(call: ToolCall) {
    this.call = call;
  }
}

/** What the checks make of a call: undefined when it may be enqueued as it is, its result, or the call to run. */
export type Checked = ToolOutcome | GuardedCall | undefined;

/** Runs every check of a call: undefined when it may be enqueued, else its result (recorded when refused). */
export function checkCall(
  deps: ToolCallDeps,
  sent: ToolCall,
  tool: LoadedTool,
  invocationId: string,
): Checked | Promise<Checked> {
  const invalid = argumentRefusal(deps, sent, tool, invocationId);
  if (invalid) return invalid;
  // Guardrails on arguments (argument-guardrails.ts): every later check sees the arguments as they will be sent.
  let guarded: ToolCall | undefined;
  if (tool.argumentGuardrails) {
    const reject = (r: { errorCode: string; message: string; guardrails: GuardrailFinding[] }) =>
      rejectCall(deps, sent, invocationId, { ...r, result: errorResult(r.message) });
    const out = guardArguments(deps, sent, tool.argumentGuardrails, { invocationId, reject });
    if ('refused' in out) return out.refused;
    if (out.call !== sent) guarded = out.call;
  }
  const call = guarded ?? sent;
  const refused = edgeRefusal(deps, call, tool, invocationId);
  if (refused) return refused;
  // A tool that runs only as a task, called plainly: 2025-11-25 says -32601 (2026-07-28 callers got -32021 before).
  if (tool.taskOnly && !call.task) return taskRequired(tool.def.name);
  const passed = guarded && new GuardedCall(guarded);
  // A person accepts first (nothing is enqueued before); a tool not marked `confirm` pays this check only.
  if (!tool.confirm) return passed;
  return confirmCall(deps, call, tool, invocationId).then((r) => r ?? passed);
}

/** A tool error the model reads. */
export function errorResult(text: string): ToolResultPayload {
  return { content: [{ type: 'text', text }], isError: true };
}

export function invalidArguments(tool: LoadedTool): ToolResultPayload {
  return errorResult(
    `Invalid arguments for tool "${tool.def.name}": ${describeArgumentErrors(tool.validate.errors)}. Input schema: ${JSON.stringify(tool.def.inputSchema)}`,
  );
}

/** The fields of an execution record the edge writes itself (a refusal, a `run_code` program): who called what. */
export function edgeRecordBase(call: ToolCall, invocationId: string, startedAt: Date) {
  const { loaded, principal, name } = call;
  return {
    v: 1 as const,
    invocationId,
    ...(call.parentInvocationId ? { parentInvocationId: call.parentInvocationId } : {}),
    workspaceId: principal.workspaceId,
    serverId: loaded.catalog.serverId,
    catalogVersion: loaded.catalog.version,
    tool: name,
    caller: recordCaller(principal),
    startedAt: startedAt.toISOString(),
  };
}

/** A call refused on the edge: an `isError` result, and an execution record saying why. */
export function rejectCall(
  deps: ToolCallDeps,
  call: ToolCall,
  invocationId: string,
  rejection: { errorCode: string; message: string; result: ToolResultPayload; guardrails?: GuardrailFinding[] },
): ToolResultPayload {
  const { loaded, name } = call;
  deps.records.add({
    ...edgeRecordBase(call, invocationId, new Date()),
    durationMs: 0,
    outcome: 'rejected',
    errorCode: rejection.errorCode,
    message: rejection.message,
    ...(rejection.guardrails ? { guardrails: rejection.guardrails } : {}),
    steps: [],
    ...currentTraceIds(),
  });
  recordToolCall(loaded.catalog.serverId, name, 'rejected', 0);
  return rejection.result;
}

/** Arguments the tool cannot take (a number past a double's range, the input schema): the refusal, recorded. */
function argumentRefusal(deps: ToolCallDeps, call: ToolCall, tool: LoadedTool, invocationId: string) {
  const input = call.arguments;
  const notFinite = nonFiniteNumberPath(input);
  if (notFinite !== undefined) {
    const message = `the number at ${notFinite} is not finite (a literal past the range of a double)`;
    return rejectCall(deps, call, invocationId, {
      errorCode: 'tool.invalid_arguments',
      message,
      result: errorResult(`Invalid arguments for tool "${tool.def.name}": ${message}. Nothing was sent.`),
    });
  }
  if (!tool.validate(input))
    return rejectCall(deps, call, invocationId, {
      errorCode: 'tool.invalid_arguments',
      message: describeArgumentErrors(tool.validate.errors),
      result: invalidArguments(tool),
    });
  return undefined;
}

/**
 * Why the edge refuses a call with valid arguments before anything is enqueued (a policy's condition, an upstream
 * credential the server does not take): the refusal's result, recorded; undefined when there is none.
 */
function edgeRefusal(deps: ToolCallDeps, call: ToolCall, tool: LoadedTool, invocationId: string) {
  const { loaded, arguments: input } = call;
  // Grants with a condition: only callers some applicable grant has one for pay for it. They see the arguments as
  // they will be sent (the defaults the worker fills in applied). A false condition that requires approval is not a
  // refusal: the call is then approved before it runs (policy-approvals.ts).
  const sent = call.conditions ? argumentsAsSent(loaded, tool, input) : input;
  const refused = conditionCheck(call, loaded, tool, sent);
  if (refused) {
    recordDenied('condition');
    deps.audit?.add(conditionRefusalEvent(call, tool.def.name, refusingPolicy(call.conditions!, loaded, tool, sent)));
    return rejectCall(deps, call, invocationId, {
      errorCode: 'access.condition',
      message: refused,
      result: errorResult(refused),
    });
  }
  if (call.conditions?.rules.logOnly) recordShadowAccess(deps, call, tool, { sent, invocationId });
  const refusal = call.request.upstreamAuthorization !== undefined ? upstreamRefusal(loaded, deps) : undefined;
  if (refusal)
    return rejectCall(deps, call, invocationId, {
      errorCode: refusal.code,
      message: refusal.message,
      result: errorResult(refusal.message),
    });
  return undefined;
}

/**
 * The would-be refusals of the caller's log-only policies on a call that goes on: audit events (`access.would_refuse`)
 * within the edge's budget, every one counted.
 */
function recordShadowAccess(
  deps: ToolCallDeps,
  call: ToolCall,
  tool: LoadedTool,
  { sent, invocationId }: { sent: Readonly<Record<string, unknown>>; invocationId: string },
): void {
  const name = tool.def.name;
  for (const r of shadowRefusals(call.conditions!, call.loaded, tool, sent))
    if (deps.shadowEvents?.take('access', r.policy.id, budgetCaller(call.principal), name) ?? true)
      deps.audit?.add(accessWouldRefuseEvent(call, name, r, invocationId));
}

/**
 * The first policy of the clause that refused a call (any of whose conditions would have granted it), for its audit
 * event; null when that clause has none. Only refused calls get here: a clause at a time is checked again.
 */
function refusingPolicy(
  conditions: CallConditions,
  loaded: LoadedCatalog,
  tool: LoadedTool,
  input: Readonly<Record<string, unknown>>,
): { id: string; name: string | null } | null {
  const clauses = conditions.rules.clauses(tool.def.name);
  const failed =
    clauses.length === 1
      ? clauses[0]
      : clauses.find((clause) => {
          const rules = { clauses: () => [clause] } as unknown as CallConditions['rules'];
          return conditionRefusal({ rules, caller: conditions.caller }, loaded, tool, input) !== undefined;
        });
  const first = failed?.[0];
  return first ? { id: first.id, name: first.name ?? null } : null;
}

/** What a call that was not confirmed becomes: its audit outcome, the code of its record and its tool error. */
interface Unconfirmed {
  readonly outcome: Exclude<ConfirmationOutcome, 'accepted'>;
  readonly errorCode: string;
  readonly text: (tool: string) => string;
}

const unconfirmed = {
  invalid: {
    outcome: 'refused',
    errorCode: 'confirmation.invalid_state',
    text: (tool) =>
      `The confirmation state sent with this call of "${tool}" is not valid here (altered, expired, already used, or ` +
      'made for another caller): the call was not made, nothing was sent. Call the tool again without requestState ' +
      'to ask the person.',
  },
  decline: {
    outcome: 'declined',
    errorCode: 'confirmation.declined',
    text: (tool) => `The person declined this call of "${tool}": it was not made, nothing was sent.`,
  },
  cancel: {
    outcome: 'cancelled',
    errorCode: 'confirmation.cancelled',
    text: (tool) =>
      `The confirmation of this call of "${tool}" was cancelled (or not answered in time): the call was not made, ` +
      'nothing was sent.',
  },
  unavailable: {
    outcome: 'refused',
    errorCode: 'confirmation.unavailable',
    text: (tool) =>
      `Tool "${tool}" needs a person's confirmation before each call, and this client cannot ask its user: it did ` +
      'not declare the MCP elicitation capability (form mode). Use a client that can ask its user, or ask an ' +
      'administrator of this MCP server to lift the confirmation of this tool. Nothing was sent.',
  },
} as const satisfies Record<string, Unconfirmed>;

/**
 * A tool marked `confirm` (ADR 0038): the person the client asks accepts before anything is enqueued. Undefined when
 * the call may go on; else its result: the 2026-07-28 `input_required` that asks, or the tool error of a call that
 * was declined, cancelled or could not be asked (with its execution record). Each decision is an audit event, its
 * arguments masked.
 */
async function confirmCall(
  deps: ToolCallDeps,
  call: ToolCall,
  tool: LoadedTool,
  invocationId: string,
): Promise<ToolOutcome | undefined> {
  const name = tool.def.name;
  const prompt = confirmationPrompt(call.loaded, tool, call.arguments);
  let asked: Confirmation;
  try {
    asked = call.confirmation ? await call.confirmation(prompt) : { kind: 'unavailable' };
  } catch (err) {
    deps.log.warn({ tool: name, err: String(err) }, 'a confirmation could not be asked');
    return rejectCall(deps, call, invocationId, {
      errorCode: 'confirmation.failed',
      message: 'the person could not be asked',
      result: errorResult(`The person could not be asked to confirm this call of "${name}": nothing was sent.`),
    });
  }
  if (asked.kind === 'continued') return undefined;
  if (asked.kind === 'ask') return asked.result;
  if (asked.kind === 'answered' && asked.action === 'accept') {
    deps.audit?.add(confirmationEvent(call, name, { outcome: 'accepted' }, prompt.masked));
    return undefined;
  }
  const not: Unconfirmed =
    asked.kind === 'invalid'
      ? unconfirmed.invalid
      : asked.kind !== 'answered'
        ? unconfirmed.unavailable
        : asked.action === 'decline'
          ? unconfirmed.decline
          : unconfirmed.cancel;
  const invalidState = asked.kind === 'invalid' ? asked.reason : undefined;
  deps.audit?.add(confirmationEvent(call, name, { outcome: not.outcome, invalidState }, prompt.masked));
  return rejectCall(deps, call, invocationId, {
    errorCode: not.errorCode,
    message: not.text(name),
    result: errorResult(not.text(name)),
  });
}

const taskRequired = (name: string): ToolResultPayload => ({
  content: [],
  protocolError: {
    code: -32601,
    message: `The tool "${name}" runs only as a task: call it as one (the Tasks extension)`,
  },
});

/** Why a call carrying `X-Upstream-Authorization` is refused, if it is. */
function upstreamRefusal(loaded: LoadedCatalog, deps: ToolCallDeps): { code: ErrorCode; message: string } | undefined {
  if (!loaded.catalog.perRequestAuth)
    return {
      code: 'auth.upstream_authorization_refused',
      message:
        'This MCP server does not accept the X-Upstream-Authorization header: per-request authentication is off ' +
        `(perRequestAuth). Call without the header, or enable it with PATCH /api/v1/mcp_manager/${loaded.catalog.serverId} ` +
        '{ "perRequestAuth": true }.',
    };
  if (!deps.sealUpstreamCredential)
    return {
      code: 'auth.upstream_authorization_unavailable',
      message:
        'This deployment cannot carry per-request credentials (the edge has no REQUEST_CREDENTIALS_PUBLIC_KEY_FILE): ' +
        'call without the X-Upstream-Authorization header.',
    };
  return undefined;
}

/**
 * The call's quotas (ADR 0048), after every other check: one script charges all of them, or refuses the call
 * (nothing enqueued, an execution record `quota.exceeded`, an audit event) with a tool error naming the quota, its
 * limit and when to retry (also in `_meta`). Log-only quotas with no room are `quota.would_refuse` audit events; the
 * call goes on. Redis unreachable: refused (`quota.unavailable`) unless the edge is set to let calls through.
 */
export async function chargeQuotas(
  deps: ToolCallDeps,
  call: ToolCall,
  tool: LoadedTool,
  invocationId: string,
): Promise<{ refused: ToolResultPayload } | { charge: QuotaCharge | undefined }> {
  const rules = quotasOfTool(call.quotas!, tool.def.name);
  const quotas = deps.quotas;
  if (rules.length === 0 || !quotas) return { charge: undefined };
  let outcome;
  try {
    outcome = await quotas.meter.charge(call.quotas!, rules, tool.cost ?? 1);
  } catch (err) {
    deps.log.warn({ tool: tool.def.name, err: String(err) }, 'quotas could not be checked');
    if (quotas.failOpen) return { charge: undefined };
    const message =
      `The quotas of this call of "${tool.def.name}" could not be checked (the edge cannot reach Redis): the call ` +
      'was not made, nothing was sent. Retry in a few seconds.';
    return {
      refused: rejectCall(deps, call, invocationId, {
        errorCode: 'quota.unavailable',
        message,
        result: errorResult(message),
      }),
    };
  }
  observeQuotas(deps, call, { tool: tool.def.name, invocationId }, outcome);
  if (!outcome.refused) return { charge: outcome.charge };
  const message = quotaMessage(tool.def.name, outcome.refused);
  return {
    refused: rejectCall(deps, call, invocationId, {
      errorCode: 'quota.exceeded',
      message,
      result: { ...errorResult(message), _meta: { 'toolplane/quota': quotaFacts(outcome.refused) } },
    }),
  };
}

/**
 * What a charge tells besides its answer: metrics (units charged, refusals, how full each quota is), the log-only
 * quotas' would-be refusals (within the edge's budget of events), the refusal and each alert, as audit events.
 */
function observeQuotas(
  deps: ToolCallDeps,
  call: ToolCall,
  { tool, invocationId }: { tool: string; invocationId: string },
  outcome: ChargeOutcome,
): void {
  for (const u of outcome.uses) recordQuotaUse(u.rule.id, u.fraction);
  for (const s of outcome.shadow) {
    recordQuotaRefused(s.rule.id, false);
    if (deps.shadowEvents?.take('quota', s.rule.id, budgetCaller(call.principal), tool) ?? true)
      deps.audit?.add(quotaEvent(call, tool, s, { kind: 'would_refuse', invocationId }));
  }
  if (outcome.refused) {
    recordQuotaRefused(outcome.refused.rule.id, outcome.refused.rule.enforce);
    deps.audit?.add(quotaEvent(call, tool, outcome.refused, { kind: 'refused' }));
    return;
  }
  outcome.charge.amounts.forEach((amount, i) => {
    const rule = outcome.uses[i]!.rule;
    recordQuotaCharged(rule.id, rule.counts, amount);
  });
  for (const a of outcome.alerts) deps.audit?.add(quotaAlertEvent(call, tool, a, call.quotas?.caller.person));
}

function quotaFacts(r: QuotaRefusal) {
  return {
    quota: r.rule.name,
    counts: r.rule.counts,
    limit: r.rule.limit,
    ...(r.rule.window ? { window: r.rule.window } : {}),
    retryAfterSeconds: r.retryAfterSeconds,
  };
}

function quotaMessage(tool: string, r: QuotaRefusal): string {
  const { name, limit, counts, window } = r.rule;
  const what =
    counts === 'in_flight'
      ? `${limit} call${limit === 1 ? '' : 's'} at once`
      : `${limit} ${counts === 'cost' ? 'cost units' : limit === 1 ? 'call' : 'calls'} per ${window}`;
  return (
    `Quota "${name}" (${what}) has no room for this call of "${tool}": the call was not made, nothing was sent. ` +
    `Retry after ${r.retryAfterSeconds} s.`
  );
}
