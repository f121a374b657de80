/**
 * Access decisions (ADR 0013, ADR 0036): which tools a caller may use on a server, by the workspace's access policies
 * and their conditions. The edge decides every request and call with these functions; the control plane explains a
 * decision with the same ones (`explainAccess`), so the two cannot drift.
 */
export { decideAccess, hiddenToolRefusal } from './decide.ts';
export type { CallerIdentity } from './decide.ts';
export type { ToolConditions, ToolGrant } from './grants.ts';
export {
  conditionRefusal,
  conditionsReadSession,
  failedClauses,
  refusingPolicy,
  shadowRefusals,
} from './call-conditions.ts';
export { conditionSession, usesSession } from '@toolplane/conditions';
export type { CallConditions, ConditionalTool, ShadowRefusal } from './call-conditions.ts';
export { decideCall, explainAccess } from './explain.ts';
export { stepConditions, stepRefusal, stepShadowRefusals, taskRefusal } from './step-access.ts';
export type { AccessExplanation, ExplainCall } from './explain.ts';
export { approvalInsteadOf, approversText, heldBecause } from './policy-approval.ts';
export type { PolicyApprovalRule } from './policy-approval.ts';
export { argumentsAsSent } from './arguments-as-sent.ts';
export { delegationStepRefusal, falseDelegationCondition } from './delegation.ts';
export {
  accessWouldRefuseEvent,
  approvalEvent,
  auditActor,
  conditionRefusalEvent,
  confirmationEvent,
  delegationRefusalEvent,
  guardrailFindingEvents,
  printable,
  programEvent,
  quotaAlertEvent,
  quotaEvent,
  ruleDecisionEvent,
  sessionDecisionEvent,
  taskRefusalEvent,
} from './call-events.ts';
export type { CallEventBase, ConfirmationOutcome, ProgramCall, SessionDecisionFacts } from './call-events.ts';
export { judgeSession, originText, sessionDecisionText, sessionRuleName, sessionRulesFor } from './session-rules.ts';
export type { SessionMatch } from './session-rules.ts';
export { rulePlan, ruleNamesOf } from './rules.ts';
export { portableRules, rules } from './rules.ts';
export type { Rule, RuleName } from './rules.ts';
export {
  CallerFacets,
  decisionOutcome,
  judgePortable,
  portableRule,
  refusalOf,
  ruleCallerOf,
  ruleSettingsLoosened,
  ruleSettingsProblems,
  settingsFor,
} from './portable-rule.ts';
export type { PortableRule, RuleDecision } from './portable-rule.ts';
export { overBudgetHold } from './task-grant.ts';
