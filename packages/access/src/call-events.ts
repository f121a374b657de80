import { randomUUID } from 'node:crypto';
import type { AuditActor, AuditEventInput, AuditSource, GuardrailFinding, Principal } from '@toolplane/contracts';
import type { ShadowRefusal } from './call-conditions.ts';

/**
 * The audit events of calls, one builder for every rule that decides about a call (docs/governance.md "Audit trail"),
 * shared by the edge's call pipeline and the worker's checks of workflow steps: who acted (`auditActor`), the
 * request as the trail stores it, and one event per decision: a person's confirmation, a condition's refusal, a
 * would-be refusal of a log-only policy, guardrail findings on arguments, quotas and their alerts, approvals, and code
 * mode's program runs. Each builder takes the call's `CallEventBase`, never the call itself.
 */

/** Why a confirmation state was refused (the edge's `InvalidState`). */
type InvalidState = 'malformed' | 'forged' | 'expired' | 'replayed' | 'caller';

/** Who acts: the person the call runs for, else its API key (and its name), else its OAuth subject; nobody on a public server. */
export function auditActor(p: Readonly<Principal>, keyName?: string): AuditActor {
  if (p.userId !== undefined) return { type: 'person', id: p.userId, name: p.username ?? null };
  if (p.keyId !== undefined) return { type: 'api_key', id: p.keyId, name: keyName ?? null };
  if (p.subject === undefined || p.subject === 'anonymous') return { type: 'anonymous', id: null, name: null };
  return { type: 'oauth_subject', id: p.subject, name: null };
}

/**
 * A value the caller chose (a JSON-RPC id) as the trail stores it: printable ASCII kept, anything else (control and
 * terminal escape characters, bidi overrides, other non-ASCII) written as `\u{…}`, at most `max` characters.
 */
export function printable(v: string, max: number): string {
  let out = '';
  for (const ch of v) {
    const code = ch.codePointAt(0)!;
    out += code >= 0x20 && code < 0x7f && ch !== '\\' ? ch : `\\u{${code.toString(16)}}`;
    if (out.length >= max) return out.slice(0, max);
  }
  return out;
}

/**
 * What every audit event of one call says of it, read once (the edge's `callEvents`, the worker's step base): the builders below take this, never the
 * call, so that any source of decisions about a call (a stage, a program, an event) builds the same events.
 */
export interface CallEventBase {
  readonly workspaceId: string;
  readonly serverId: string;
  readonly serverName: string;
  readonly tool: string;
  readonly actor: AuditActor;
  readonly source: AuditSource;
  /** A call a `run_code` program made: the program's invocation, named in the event's details. */
  readonly parentInvocationId?: string | undefined;
  /** A narrowed token's call (ADR 0084): the token and the chain of actors, root first, named in the event's details. */
  readonly delegation?: Principal['delegation'];
}

function toolEvent(base: CallEventBase, fields: Pick<AuditEventInput, 'action' | 'outcome' | 'details'>) {
  const event: AuditEventInput = {
    id: randomUUID(),
    at: new Date().toISOString(),
    workspaceId: base.workspaceId,
    actor: base.actor,
    action: fields.action,
    resource: { type: 'tool', id: `${base.serverId}/${base.tool}` },
    outcome: fields.outcome,
    status: null,
    source: base.source,
    changes: null,
    // A `run_code` program's call names the program (its record's id): the trail links it as the records do; a
    // narrowed token's call names its chain of actors (the key's actor above is the root).
    details:
      base.parentInvocationId || base.delegation
        ? {
            ...fields.details,
            ...(base.parentInvocationId ? { parentInvocationId: base.parentInvocationId } : {}),
            ...(base.delegation ? { delegation: base.delegation } : {}),
          }
        : fields.details,
  };
  return event;
}

/** The audit event of a call a narrowed token does not allow (ADR 0084): which of its limits refused it. */
export function delegationRefusalEvent(base: CallEventBase, reason: 'tool' | 'condition' | 'calls'): AuditEventInput {
  return toolEvent(base, {
    action: 'tool.call_refused',
    outcome: 'refused',
    details: { refusedBy: 'delegation', reason, server: base.serverName, tool: base.tool },
  });
}

/**
 * The audit event of a task's call refused when its job started: its caller no longer may call the tool
 * with these arguments under the published policies (`refusedBy: "access"`). The reason is the refusal's text (policies' names and conditions, never a value).
 */
export function taskRefusalEvent(
  base: CallEventBase,
  refusal: { refusedBy: 'access'; task: string; reason: string },
): AuditEventInput {
  return toolEvent(base, {
    action: 'tool.call_refused',
    outcome: 'refused',
    details: { ...refusal, server: base.serverName, tool: base.tool },
  });
}

/** One inner call of a `run_code` program, as its audit event lists it. */
export interface ProgramCall {
  readonly tool: string;
  /** The call's invocation id (its execution record's); absent for a call answered from an earlier round's state. */
  readonly invocationId?: string;
  readonly outcome: 'ok' | 'error' | 'replayed';
}

/**
 * The audit event of a `run_code` program that ended: its invocation (its record's id) and every inner call it made,
 * in order, each with its own record's id: the trail names each inner call, linked to the program, as the records do.
 */
export function programEvent(
  base: CallEventBase,
  program: { invocationId: string; calls: readonly ProgramCall[]; failed: boolean },
): AuditEventInput {
  return toolEvent(base, {
    action: 'tool.program_run',
    outcome: program.failed ? 'failed' : 'success',
    // Not the program's error: it may quote what tools returned, and the trail is kept long and sent to SIEMs (the
    // program's execution record has it).
    details: { invocationId: program.invocationId, calls: program.calls },
  });
}

/** What became of a confirmation: the person's answer, or `refused` when the client could not ask. */
export type ConfirmationOutcome = 'accepted' | 'declined' | 'cancelled' | 'refused';

/** The audit event of a confirmation's outcome: who decided, on which tool, with which (masked) arguments. */
export function confirmationEvent(
  base: CallEventBase,
  decision: { outcome: ConfirmationOutcome; invalidState?: InvalidState | undefined },
  masked: Record<string, unknown>,
): AuditEventInput {
  const { outcome, invalidState } = decision;
  const reason = invalidState ? `state_${invalidState}` : 'no_elicitation';
  return toolEvent(base, {
    action: 'tool.confirmation',
    outcome,
    details: {
      server: base.serverName,
      tool: base.tool,
      arguments: masked,
      ...(outcome === 'refused' ? { reason } : {}),
    },
  });
}

/** The audit event of a call an access policy's condition refused (no argument values). */
export function conditionRefusalEvent(
  base: CallEventBase,
  /** `problem`: why its condition cannot be evaluated for this tool at all, when it cannot. */
  policy: { id: string; name: string | null; problem?: string | undefined } | null,
): AuditEventInput {
  return toolEvent(base, {
    action: 'tool.call_refused',
    outcome: 'refused',
    details: { policy, server: base.serverName, tool: base.tool },
  });
}

/**
 * The audit event of a log-only policy's would-be refusal (`access.would_refuse`, success: the call went on): the
 * policy, what it would have done, and the part of its condition that was not true (the policy's text, never a
 * value of the call). The resource is the policy; the call is named by its invocation id (its execution record).
 */
export function accessWouldRefuseEvent(base: CallEventBase, r: ShadowRefusal, invocationId: string): AuditEventInput {
  const { policy } = r;
  const event = toolEvent(base, {
    action: 'access.would_refuse',
    outcome: 'success',
    details: {
      policy: { id: policy.id, name: policy.name ?? null },
      would: r.would,
      condition: { expression: policy.condition ?? null, failed: r.failed, error: r.error },
      server: base.serverName,
      tool: base.tool,
      invocationId,
    },
  });
  return { ...event, resource: { type: 'access_policy', id: policy.id } };
}

/**
 * What a guardrail found in the arguments of a call that went on (ADR 0050): `guardrail.<action>` (`redact`, `flag`,
 * `would_block`, …), outcome success, on the guardrail; the detectors and JSON paths, never a value. The call is named
 * by its invocation id.
 */
function guardrailArgumentsEvent(
  base: CallEventBase,
  { guardrail, findings }: { guardrail: { id: string; name: string }; findings: readonly GuardrailFinding[] },
  invocationId: string,
): AuditEventInput {
  const event = toolEvent(base, {
    action: `guardrail.${findings[0]!.action}`,
    outcome: 'success',
    details: {
      guardrail: { id: guardrail.id, name: guardrail.name },
      on: 'arguments',
      findings: findings.map((f) => ({ detector: f.detector, path: f.path })),
      server: base.serverName,
      tool: base.tool,
      invocationId,
    },
  });
  return { ...event, resource: { type: 'guardrail', id: guardrail.id } };
}

/**
 * The audit events of what guardrails found in the arguments of a call that went on (a call at the edge, a workflow's
 * step in the worker): one per guardrail that found something, in the guardrails' order, its findings' first action
 * naming it. `admit` (the edge's budget of events) may leave one out.
 */
export function guardrailFindingEvents(
  base: CallEventBase,
  found: { guardrails: readonly { rule: { id: string; name: string } }[]; findings: readonly GuardrailFinding[] },
  invocationId: string,
  admit?: (guardrail: { id: string; name: string }, action: string) => boolean,
): AuditEventInput[] {
  const events: AuditEventInput[] = [];
  for (const { rule } of found.guardrails) {
    const mine = found.findings.filter((f) => f.guardrail === rule.name);
    if (mine.length === 0 || (admit && !admit(rule, mine[0]!.action))) continue;
    events.push(guardrailArgumentsEvent(base, { guardrail: rule, findings: mine }, invocationId));
  }
  return events;
}

/**
 * The audit event of a quota (ADR 0048): a call it refused (`tool.quota_exceeded`, refused), or one a log-only quota
 * would have refused (`quota.would_refuse`, success: the call went on; the resource is the quota, the call is named
 * by its invocation id).
 */
export function quotaEvent(
  base: CallEventBase,
  r: {
    rule: { id: string; name: string; limit: number; counts: string; enforce: boolean };
    used: number;
    retryAfterSeconds: number;
  },
  outcome: { kind: 'refused' } | { kind: 'would_refuse'; invocationId: string },
): AuditEventInput {
  const quota = {
    id: r.rule.id,
    name: r.rule.name,
    counts: r.rule.counts,
    limit: r.rule.limit,
    enforce: r.rule.enforce,
  };
  const details = {
    quota,
    used: r.used,
    retryAfterSeconds: r.retryAfterSeconds,
    server: base.serverName,
    tool: base.tool,
  };
  if (outcome.kind === 'refused')
    return toolEvent(base, { action: 'tool.quota_exceeded', outcome: 'refused', details });
  const event = toolEvent(base, {
    action: 'quota.would_refuse',
    outcome: 'success',
    details: { ...details, invocationId: outcome.invocationId },
  });
  return { ...event, resource: { type: 'quota', id: r.rule.id } };
}

/**
 * The audit event of a quota's counter reaching 80 or 100 % of its limit, the first time in its window (ADR 0048):
 * `quota.alert` on the quota, by the call that brought it there. Of `per`, only its kind, and the person's name for a
 * quota per person (an API key's or subject's counter is named by its kind alone; the actor says who called).
 */
export function quotaAlertEvent(
  base: CallEventBase,
  a: {
    rule: { id: string; name: string; limit: number; counts: string; enforce: boolean; per?: string | undefined };
    threshold: number;
    used: number;
    period: string;
  },
  person: string | undefined,
): AuditEventInput {
  const { rule } = a;
  const event = toolEvent(base, {
    action: 'quota.alert',
    outcome: 'success',
    details: {
      quota: { id: rule.id, name: rule.name, counts: rule.counts, limit: rule.limit, enforce: rule.enforce },
      threshold: a.threshold,
      used: a.used,
      period: a.period,
      ...(rule.per ? { per: rule.per } : {}),
      ...(rule.per === 'person' && person !== undefined ? { person } : {}),
      server: base.serverName,
      tool: base.tool,
    },
  });
  return { ...event, resource: { type: 'quota', id: rule.id } };
}

/**
 * An approval request's audit event (ADR 0049): `approval.requested` (the call's masked arguments and what the
 * control plane makes its row of, in `details`), `approval.executed` (its approval spent on this call) or
 * `approval.expired` (a retry found it past its time). The resource is the request.
 */
export function approvalEvent(
  base: CallEventBase,
  approval: { id: string; action: 'requested' | 'executed' | 'expired' },
  details: Record<string, unknown> = {},
): AuditEventInput {
  const event = toolEvent(base, {
    action: `approval.${approval.action}`,
    outcome: 'success',
    details: { server: { id: base.serverId, name: base.serverName }, tool: base.tool, ...details },
  });
  return { ...event, resource: { type: 'approval', id: approval.id } };
}

/** A session rule's decision on a call (ADR 0078), as its audit event and the refusal say it. */
export interface SessionDecisionFacts {
  readonly rule: { readonly id: string; readonly name?: string | undefined };
  /** `refused`, `held` (approval asked), or log only: `would_refuse`, `would_hold`. */
  readonly decision: 'refused' | 'held' | 'would_refuse' | 'would_hold';
  /** The label that decided and the result that brought it into the session. */
  readonly origin: LabelOriginFacts;
  readonly invocationId: string;
}

/** Where a session's label came from, as events and refusals name it (never a value of the result). */
interface LabelOriginFacts {
  readonly label: string;
  readonly source: string;
  readonly tool: string;
  readonly serverId: string;
  readonly invocationId: string;
  readonly at: number;
  readonly detector?: string | undefined;
  readonly via?: string | undefined;
}

/**
 * The audit event of a session rule's decision (`session.refused`, `session.held`, `session.would_refuse`,
 * `session.would_hold`): the rule, and the label that decided with the earlier result that brought it (tool, record
 * id, time, how it was found). The resource is the rule; the call is named by its invocation id.
 */
export function sessionDecisionEvent(base: CallEventBase, d: SessionDecisionFacts): AuditEventInput {
  const refusing = d.decision === 'refused';
  const event = toolEvent(base, {
    action: `session.${d.decision}`,
    outcome: refusing ? 'refused' : 'success',
    details: {
      rule: { id: d.rule.id, name: d.rule.name ?? null },
      label: {
        label: d.origin.label,
        source: d.origin.source,
        tool: d.origin.tool,
        serverId: d.origin.serverId,
        invocationId: d.origin.invocationId,
        at: new Date(d.origin.at).toISOString(),
        detector: d.origin.detector ?? null,
        via: d.origin.via ?? null,
      },
      server: base.serverName,
      tool: base.tool,
      invocationId: d.invocationId,
    },
  });
  return { ...event, resource: { type: 'session_rule', id: d.rule.id } };
}

/**
 * The audit event of a portable rule's decision (ADR 0101): a refusal (`tool.call_refused`, `refusedBy` the rule), or
 * a log-only rule's would-be refusal (`rule.would_refuse`, success: the call went on, named by its invocation id). The
 * rule and its code, never the message (it may quote a value of the call).
 */
export function ruleDecisionEvent(
  base: CallEventBase,
  decision: { rule: string; code: string; kind: 'refused' | 'would_refuse'; invocationId: string; violated?: string },
): AuditEventInput {
  const { rule, code, kind, invocationId } = decision;
  // What the call broke, in the rule's own words (a task grant's bound by name), never an argument.
  const violated = decision.violated !== undefined ? { violated: decision.violated } : {};
  if (kind === 'refused')
    return toolEvent(base, {
      action: 'tool.call_refused',
      outcome: 'refused',
      details: { refusedBy: rule, code, ...violated, server: base.serverName, tool: base.tool, invocationId },
    });
  return toolEvent(base, {
    action: 'rule.would_refuse',
    outcome: 'success',
    details: { rule, code, ...violated, server: base.serverName, tool: base.tool, invocationId },
  });
}
