import {
  argumentsAsSent,
  CallerFacets,
  decideAccess,
  decideCall,
  judgePortable,
  rulePlan,
  refusalOf,
  settingsFor,
  type CallerIdentity,
  type PortableRule,
} from '@toolplane/access';
import type { ConditionCaller } from '@toolplane/conditions';
import { quotaTakesCaller, type CatalogTool, type GuardrailFinding } from '@toolplane/contracts';
import { applyGuardrails, compileGuardrails, guardrailsFor, type CompiledGuardrail } from '@toolplane/guardrails';
import type { QuotaReplay } from '@toolplane/queue';
import type { Rules } from './rules.ts';
import type { RecordedLabel, SessionReplay } from './session.ts';

/**
 * One recorded call judged by one set of rules, in the order of the one list of rules (ADR 0077, ADR 0080, ADR 0097):
 * the access decision on the server and the tool (authentication), the guardrails on arguments, the conditions of the
 * caller's grants (on the arguments as sent), the session rules (on what the caller's session holds by then,
 * `SessionReplay`), the confirmations (a person asked first: taken as accepted), the approvals (a condition's, a session
 * rule's, the server's `approvalTools`: held), then the quotas, replayed in time
 * order. The same functions as the edge's stages (`@toolplane/access`, `@toolplane/guardrails`, the quota meter's rule
 * in `QuotaReplay`); nothing is sent anywhere.
 */

/**
 * The rules the replay judges, in the order `verdictOf` applies them (after the access decision on the server and the
 * tool, which the edge makes as it loads the caller's catalog): the one list's order (`rules` in @toolplane/access,
 * ADR 0097), compared with it by a unit test. A confirmation is taken as accepted; an approval is a hold.
 */
interface Judged {
  readonly rule: string;
  /** A portable rule (ADR 0101), judged by `judgePortableRules`. */
  readonly portable?: PortableRule;
}
const judged = {
  name: (rule: string): Judged => ({ rule }),
  portable: (rule: PortableRule): Judged => ({ rule: rule.name, portable: rule }),
};
const backtestPlan = rulePlan<Judged>(
  'backtest',
  {
    'argument-guardrails': judged.name('argument-guardrails'),
    access: judged.name('access'),
    session: judged.name('session'),
    confirmation: judged.name('confirmation'),
    approval: judged.name('approval'),
    quota: judged.name('quota'),
  },
  judged.portable,
);
export const backtestRuleNames: readonly string[] = backtestPlan.map((p) => p.rule);

/**
 * The portable rules the replay judges (ADR 0101), by the one adapter below: each right after the conditions of the
 * caller's grants (`access`) and before the session, where the list puts them (a portable rule elsewhere fails the
 * load: the judgement's order is written out in `verdictOf`).
 */
const portableJudged = backtestPlan.flatMap((p) => (p.portable ? [p.portable] : []));
{
  const names = backtestRuleNames;
  const between = names.slice(names.indexOf('access') + 1, names.indexOf('session'));
  if (portableJudged.some((r) => !between.includes(r.name)))
    throw new Error('the backtest judges portable rules placed between the `access` and `session` rules only');
}

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
  /** The call's session scopes, as the edge's `sessionScopes` names them. */
  readonly scopes: readonly string[];
  /** What its result brought into its session (the record's `labels`); undefined: nothing. */
  readonly labels?: readonly RecordedLabel[] | undefined;
  /**
   * A refusal recorded by an edge stage the replay does not judge (the input schema, a confirmation, …): the call
   * stays refused, as recorded, under both sets of rules (never charged, bringing nothing into its session).
   */
  readonly refused?: string | undefined;
  /** The arguments the record kept (opened); undefined when it kept none. */
  readonly args: Readonly<Record<string, unknown>> | undefined;
}

export interface Verdict {
  readonly outcome: 'allowed' | 'refused' | 'held';
  /**
   * A refusal's code, as the edge records it (`access.denied`, `guardrail.blocked`, `access.condition`,
   * `session.refused`, `quota.exceeded`).
   */
  readonly code?: string;
  /** The rule that refused or held the call, by name. */
  readonly rule?: string;
  /** The quotas charged (`id:amount`, sorted), for an allowed call. */
  readonly charged: string;
  /** What the guardrails on arguments found (log-only ones as `would_*`). */
  readonly findings: readonly GuardrailFinding[];
  /** Some condition or guardrail read the arguments. */
  readonly readArguments: boolean;
  /**
   * The outcome itself came from a rule that reads the arguments (a guardrail's block, a condition's refusal or hold):
   * another value could have decided otherwise (ADR 0091).
   */
  readonly byArguments: boolean;
  /** A person was asked to confirm the call first (its server's `confirmTools`); the replay takes it as accepted. */
  readonly confirm: boolean;
}

/** One set of rules with its quota counters and compiled guardrails, for one replay. */
export interface Judge {
  readonly rules: Rules;
  readonly quotas: QuotaReplay;
  /** Compiled guardrails on arguments per server and tool. */
  readonly guardrails: Map<string, CompiledGuardrail[]>;
  /** The callers' sessions as these rules would have kept them. */
  readonly sessions: SessionReplay;
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

const verdict = (
  v: Omit<Verdict, 'charged' | 'findings' | 'readArguments' | 'byArguments' | 'confirm'> & Partial<Verdict>,
): Verdict => ({
  charged: '',
  findings: [],
  readArguments: false,
  byArguments: false,
  confirm: false,
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

/** The conditions of the caller's grants on the arguments as sent: a hold or a refusal; undefined: they allow it. */
function judgeConditions(judge: Judge, call: RecordedCall, args: Readonly<Record<string, unknown>>) {
  const sent = argumentsAsSent(call.entry, args);
  const server = { catalog: { serverId: call.serverId, name: call.serverName } };
  const decided = decideCall(
    judge.rules.access,
    { identity: call.identity, caller: call.caller, server, tool: call.tool, args: sent },
    'the caller',
  );
  if (!decided.allowed && 'approval' in decided) return { held: decided.approval.policy.name };
  if (!decided.allowed) return { refused: true };
  return undefined;
}

const sessionRule = (rule: { id: string; name?: string | undefined }) => rule.name ?? rule.id;

/**
 * The portable rules on the call's server (its `ruleSettings` in these rules), on the arguments as sent: the first
 * refusal (`{ rule, code }`), or undefined. A log-only rule changes nothing. A call whose record kept no arguments is
 * not judged by them (`read` false): the replay cannot know what it sent.
 */
function judgePortableRules(judge: Judge, call: RecordedCall, args: Readonly<Record<string, unknown>>) {
  const all = judge.rules.ruleSettings?.get(call.serverId);
  if (!all || call.args === undefined) return { read: false };
  const facets = new CallerFacets({
    keyId: call.identity.keyId,
    person: call.identity.username,
    subject: call.identity.subject,
  });
  let read = false;
  const tool = call.entry.tool;
  for (const rule of portableJudged) {
    const settings = settingsFor(rule, all);
    if (settings === undefined || (settings !== 'invalid' && !rule.appliesTo(tool, settings.settings))) continue;
    read = true;
    const decision = judgePortable(rule, settings, { args: argumentsAsSent(call.entry, args), tool, facets });
    const refused = decision && refusalOf(decision);
    if (refused?.stops) return { read, refused: { rule: rule.name, code: refused.refusal.code } };
  }
  return { read };
}

/** The judgement of one call by one set of rules, before what its result brings into its session. */
function verdictOf(judge: Judge, call: RecordedCall): Verdict {
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
      byArguments: true,
    });
  const readConditions = decision.conditions !== undefined && decision.conditions.clauses(name).length > 0;
  const read = guarded.read || readConditions;
  const base = { findings: guarded.findings, readArguments: read };
  const conditions = readConditions ? judgeConditions(judge, call, guarded.args) : undefined;
  if (conditions?.refused) return verdict({ outcome: 'refused', code: 'access.condition', ...base, byArguments: true });
  const portable = judgePortableRules(judge, call, guarded.args);
  if (portable.read) base.readArguments = true;
  if (portable.refused) return verdict({ outcome: 'refused', ...portable.refused, ...base, byArguments: true });
  // The session stage after access: its refusal wins over a hold; a hold already asked for stays the access one's.
  const session = judge.sessions.judge(call.entry, call.scopes, call.at);
  if (session?.rule.action === 'refuse')
    return verdict({ outcome: 'refused', code: 'session.refused', rule: sessionRule(session.rule), ...base });
  // The confirmation stage comes next (before the approval's hold and the quotas): the person is asked first.
  const asked = { ...base, confirm: judge.rules.confirmTools.get(call.serverId)?.has(name) === true };
  if (conditions?.held !== undefined)
    return verdict({ outcome: 'held', code: 'approval.required', rule: conditions.held, ...asked, byArguments: true });
  if (session)
    return verdict({ outcome: 'held', code: 'approval.required', rule: sessionRule(session.rule), ...asked });
  // The server's own approvals (`approvalTools`): held, under the server's name (its rule).
  if (judge.rules.approvalTools.get(call.serverId)?.has(name))
    return verdict({ outcome: 'held', code: 'approval.required', rule: call.serverName, ...asked });
  const quota = chargeQuotas(judge, call);
  if (quota.refused !== undefined)
    return verdict({ outcome: 'refused', code: 'quota.exceeded', rule: quota.refused, ...asked });
  return verdict({ outcome: 'allowed', charged: quota.charged, ...asked });
}

/**
 * The judgement of one call by one set of rules; a call these rules let run (allowed, or held: it runs once approved,
 * as it did) brings what its record says its result brought into its session.
 */
export function judgeCall(judge: Judge, call: RecordedCall): Verdict {
  const v = verdictOf(judge, call);
  if (v.outcome !== 'refused' && call.labels?.length)
    judge.sessions.add(call.scopes, call.labels, {
      tool: call.entry.tool.name,
      serverId: call.serverId,
      invocationId: call.id,
      at: call.at,
    });
  return v;
}
