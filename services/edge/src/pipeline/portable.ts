import {
  CallerFacets,
  judgePortable,
  refusalOf,
  ruleCallerOf,
  ruleDecisionEvent,
  type PortableRule,
  type RuleDecision,
} from '@toolplane/access';
import { recordDenied } from '@toolplane/telemetry';
import { callEvents } from '../calls/call-audit.ts';
import { argumentsAsSent } from '../calls/call-arguments.ts';
import { budgetCaller } from '../governance/shadow-decisions.ts';
import { refuse } from './refusal.ts';
import type { CallState, Stage, Verdict } from './stage.ts';

/**
 * The edge's one adapter of portable rules (ADR 0101): a rule of the list with a pure check becomes a stage without a
 * module of its own here. A tool meets it only when its server's `ruleSettings` set the rule (or the rule meets every
 * tool without a setting, as the task grant does) and the rule applies to the tool (`LoadedTool.rules.portable`,
 * worked out once per catalog version): other tools' plans leave it out. The check reads the arguments as they will be
 * sent and the caller's facet (derived by the rule, once per call; a caller whose token was redeemed from a task grant
 * has the workspace's published grants read first); a refusal is an execution record with the rule's code and a
 * `tool.call_refused` audit event; a hold (ADR 0108) hands the call to the approval stage, as an access policy's
 * false condition does; a log-only rule's would-be refusal a `rule.would_refuse` audit event (within the edge's budget
 * of them), and the call goes on.
 */
export function portableStage(rule: PortableRule): Stage {
  return {
    name: rule.name,
    appliesTo: (tool) => tool.rules.portable?.has(rule.name) === true,
    run: (s) => {
      if (s.facets || s.call.principal.delegation?.grantId === undefined) return judge(rule, s, s.facets);
      return withGrants(s).then((facets) => judge(rule, s, facets));
    },
  };
}

/** The caller's facets with the task grants of its workspace to resolve its token's grant (unreadable: unknown). */
async function withGrants(s: CallState): Promise<CallerFacets> {
  const { principal } = s.call;
  const grants = await s.deps.taskGrants?.(principal.workspaceId);
  return (s.facets ??= new CallerFacets(ruleCallerOf(principal, grants)));
}

function judge(rule: PortableRule, s: CallState, known: CallerFacets | undefined): Verdict {
  const { call, tool } = s;
  const settings = tool.rules.portable!.get(rule.name)!;
  const args = argumentsAsSent(call.loaded, tool, call.arguments);
  const facets = known ?? (s.facets = new CallerFacets(ruleCallerOf(call.principal)));
  const decision = judgePortable(rule, settings, { args, tool: tool.def, facets });
  if (decision === undefined) return undefined;
  return verdictOf(rule, s, decision);
}

function verdictOf(rule: PortableRule, s: CallState, decision: NonNullable<RuleDecision>): Verdict {
  const { call, tool, deps } = s;
  const { refusal, stops } = refusalOf(decision);
  const { code, message, violated } = refusal;
  const event = { rule: rule.name, code, invocationId: s.invocationId, ...(violated ? { violated } : {}) };
  // A hold: the approval stage asks for exactly this call (an access policy's own hold comes first).
  if ('hold' in decision && !s.policyApproval && !tool.rules.approval) {
    s.policyApproval = decision.hold.approval;
    return undefined;
  }
  if (stops) {
    recordDenied(rule.name);
    deps.audit?.add(ruleDecisionEvent(callEvents(call, tool.def.name), { ...event, kind: 'refused' }));
    return refuse(s, { errorCode: code, message });
  }
  const key = `rule ${rule.name} ${tool.def.name} ${budgetCaller(call.principal)}`;
  if (deps.shadowEvents?.once(key) ?? true)
    deps.audit?.add(ruleDecisionEvent(callEvents(call, tool.def.name), { ...event, kind: 'would_refuse' }));
  return undefined;
}
