import { argumentsAsSent, decideAccess, decideCall, type CallerIdentity } from '@toolplane/access';
import type { ConditionCaller } from '@toolplane/conditions';
import { quotaTakesCaller, type CatalogTool, type GuardrailFinding } from '@toolplane/contracts';
import { applyGuardrails, compileGuardrails, guardrailsFor, type CompiledGuardrail } from '@toolplane/guardrails';
import type { QuotaReplay } from '@toolplane/queue';
import type { Rules } from './rules.ts';

/**
 * One recorded call judged by one set of rules, in the edge's order (ADR 0077, ADR 0080): the access decision on the
 * server and the tool (authentication), the guardrails on arguments, the conditions of the caller's grants (on the
 * arguments as sent), then the quotas, replayed in time order. The same functions as the edge's stages
 * (`@toolplane/access`, `@toolplane/guardrails`, the quota meter's rule in `QuotaReplay`); nothing is sent anywhere.
 */

/** A recorded call as the judgement reads it. */
export interface RecordedCall {
  readonly id: string;
  readonly serverId: string;
  readonly serverName: string;
  readonly at: number;
  readonly entry: CatalogTool;
  /** The tool as conditions read it: one object per catalog entry (compiled conditions are kept per object). */
  readonly tool: { readonly def: CatalogTool['tool'] };
  readonly identity: CallerIdentity;
  readonly caller: ConditionCaller;
  /**
   * A refusal recorded by an edge stage the replay does not judge (the input schema, a confirmation, the session
   * rules, …): the call stays refused, as recorded, under both sets of rules (never charged).
   */
  readonly refused?: string | undefined;
  /** The arguments the record kept (opened); undefined when it kept none. */
  readonly args: Readonly<Record<string, unknown>> | undefined;
}

export interface Verdict {
  readonly outcome: 'allowed' | 'refused' | 'held';
  /** A refusal's code, as the edge records it (`access.denied`, `guardrail.blocked`, `access.condition`, `quota.exceeded`). */
  readonly code?: string;
  /** The rule that refused or held the call, by name. */
  readonly rule?: string;
  /** The quotas charged (`id:amount`, sorted), for an allowed call. */
  readonly charged: string;
  /** What the guardrails on arguments found (log-only ones as `would_*`). */
  readonly findings: readonly GuardrailFinding[];
  /** Some condition or guardrail read the arguments. */
  readonly readArguments: boolean;
}

/** One set of rules with its quota counters and compiled guardrails, for one replay. */
export interface Judge {
  readonly rules: Rules;
  readonly quotas: QuotaReplay;
  /** Compiled guardrails on arguments per server and tool. */
  readonly guardrails: Map<string, CompiledGuardrail[]>;
}

function argumentGuardrails(judge: Judge, call: RecordedCall): CompiledGuardrail[] {
  const key = `${call.serverId}\n${call.entry.tool.name}`;
  let found = judge.guardrails.get(key);
  if (!found) {
    const rules = judge.rules.guardrails.filter((g) => g.serverId === null || g.serverId === call.serverId);
    found = guardrailsFor(
      compileGuardrails(
        rules.map((g) => g.rule),
        'arguments',
      ),
      call.entry.tool.name,
    );
    judge.guardrails.set(key, found);
  }
  return found;
}

const verdict = (v: Omit<Verdict, 'charged' | 'findings' | 'readArguments'> & Partial<Verdict>): Verdict => ({
  charged: '',
  findings: [],
  readArguments: false,
  ...v,
});

/** The guardrails on arguments: a block refuses, the rest go on with the arguments as the guardrails left them. */
function guardArguments(judge: Judge, call: RecordedCall) {
  const guardrails = argumentGuardrails(judge, call);
  const args = call.args ?? {};
  if (guardrails.length === 0) return { args, findings: [] as GuardrailFinding[], read: false };
  const out = applyGuardrails(args, guardrails, { maxScanBytes: Number.POSITIVE_INFINITY });
  const findings = out.findings.map((f) => ({ ...f, on: 'arguments' as const }));
  const value = out.value as Readonly<Record<string, unknown>>;
  // The guardrail that withheld the call: the one whose enforced `block` found something.
  const blocked = out.withheld ? (findings.find((f) => f.action === 'block')?.guardrail ?? 'guardrail') : undefined;
  return { args: value, findings, read: true, blocked };
}

/** The quotas the call falls under, charged in time order; refused when an enforced one has no room. */
function chargeQuotas(judge: Judge, call: RecordedCall) {
  const { access } = judge.rules;
  const who = {
    keyId: call.identity.keyId,
    person: call.identity.username,
    subject: call.identity.subject,
    claims: call.caller.claims,
  };
  const rules = (access.quotas ?? []).filter((q) => quotaTakesCaller(q, who, call.serverId));
  if (rules.length === 0) return { charged: '' };
  const quotas = { workspaceId: access.workspaceId, rules, caller: who };
  const out = judge.quotas.charge(quotas, call.entry.tool.name, call.entry.cost ?? 1, call.at);
  if (out.refused) return { refused: out.refused.name };
  return {
    charged: out.charged
      .map((c) => `${c.id}:${c.amount}`)
      .sort()
      .join(','),
  };
}

/** The judgement of one call by one set of rules. */
export function judgeCall(judge: Judge, call: RecordedCall): Verdict {
  const { access } = judge.rules;
  const name = call.entry.tool.name;
  if (call.refused !== undefined) return verdict({ outcome: 'refused', code: call.refused });
  const decision = decideAccess(access, call.identity, call.serverId);
  if (!decision.allowed || (decision.grant !== 'all' && !decision.grant.has(name)))
    return verdict({ outcome: 'refused', code: 'access.denied' });
  const guarded = guardArguments(judge, call);
  if (guarded.blocked)
    return verdict({
      outcome: 'refused',
      code: 'guardrail.blocked',
      rule: guarded.blocked,
      findings: guarded.findings,
      readArguments: true,
    });
  const readConditions = decision.conditions !== undefined && decision.conditions.clauses(name).length > 0;
  const read = guarded.read || readConditions;
  const base = { findings: guarded.findings, readArguments: read };
  if (readConditions) {
    const sent = argumentsAsSent(call.entry, guarded.args);
    const server = { catalog: { serverId: call.serverId, name: call.serverName } };
    const decided = decideCall(
      access,
      { identity: call.identity, caller: call.caller, server, tool: call.tool, args: sent },
      'the caller',
    );
    if (!decided.allowed && 'approval' in decided)
      return verdict({ outcome: 'held', code: 'approval.required', rule: decided.approval.policy.name, ...base });
    if (!decided.allowed) return verdict({ outcome: 'refused', code: 'access.condition', ...base });
  }
  const quota = chargeQuotas(judge, call);
  if (quota.refused !== undefined)
    return verdict({ outcome: 'refused', code: 'quota.exceeded', rule: quota.refused, ...base });
  return verdict({ outcome: 'allowed', charged: quota.charged, ...base });
}
