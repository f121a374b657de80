import { CallerFacets, judgePortable, ruleCallerOf, ruleDecisionEvent, type PortableRule } from '@toolplane/access';
import { recordDenied } from '@toolplane/telemetry';
import { callEvents } from '../calls/call-audit.ts';
import { argumentsAsSent } from '../calls/call-arguments.ts';
import { budgetCaller } from '../governance/shadow-decisions.ts';
import { refuse } from './refusal.ts';
import type { CallState, Stage, Verdict } from './stage.ts';

/**
 * The edge's one adapter of portable rules (ADR 0101): a rule of the list with a pure check becomes a stage without a
 * module of its own here. A tool meets it only when its server's `ruleSettings` set the rule and the rule applies to
 * the tool (`LoadedTool.rules.portable`, worked out once per catalog version): other tools' plans leave it out. The
 * check reads the arguments as they will be sent and the caller's facet (derived by the rule, once per call); a
 * refusal is an execution record with the rule's code and a `tool.call_refused` audit event; a log-only rule's
 * would-be refusal a `rule.would_refuse` audit event (within the edge's budget of them), and the call goes on.
 */
export function portableStage(rule: PortableRule): Stage {
  return {
    name: rule.name,
    appliesTo: (tool) => tool.rules.portable?.has(rule.name) === true,
    run: (s) => judge(rule, s),
  };
}

function judge(rule: PortableRule, s: CallState): Verdict {
  const { call, tool, deps } = s;
  const settings = tool.rules.portable!.get(rule.name)!;
  const args = argumentsAsSent(call.loaded, tool, call.arguments);
  const facets = (s.facets ??= new CallerFacets(ruleCallerOf(call.principal)));
  const decision = judgePortable(rule, settings, { args, tool: tool.def, facets });
  if (decision === undefined) return undefined;
  const refused = 'refuse' in decision;
  const { code, message } = refused ? decision.refuse : decision.wouldRefuse;
  const event = { rule: rule.name, code, invocationId: s.invocationId };
  if (refused) {
    recordDenied(rule.name);
    deps.audit?.add(ruleDecisionEvent(callEvents(call, tool.def.name), { ...event, kind: 'refused' }));
    return refuse(s, { errorCode: code, message });
  }
  const key = `rule ${rule.name} ${tool.def.name} ${budgetCaller(call.principal)}`;
  if (deps.shadowEvents?.once(key) ?? true)
    deps.audit?.add(ruleDecisionEvent(callEvents(call, tool.def.name), { ...event, kind: 'would_refuse' }));
  return undefined;
}
