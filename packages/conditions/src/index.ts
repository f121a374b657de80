/**
 * Policy conditions (ADR 0036): CEL expressions over the caller, the tool, the call's arguments and the
 * caller's session (ADR 0078) that an access policy's grant may carry. `compileCondition` checks a
 * condition (when a policy is saved, against the tool's input schema; again wherever it is loaded),
 * `evaluate` runs it per call at bounded cost and never throws, `explain` says why it was false;
 * `usesSession` tells whether the session must be read for it, `conditionSession` builds what it sees of
 * one. docs/governance.md, "Conditions".
 */
export { compileCondition, evaluate, explain, usesSession } from './condition.ts';
export type { CompileOptions, CompileResult, Condition, Explanation } from './condition.ts';
export type { Problem } from './analyze.ts';
export type { ConditionActivation, ConditionCaller, ConditionSession, ConditionTool } from './activation.ts';
export { conditionSession } from './session.ts';
export type { JsonSchema } from './schema.ts';
export { conditionLimits } from './limits.ts';
export { eventConditionSchema } from './event-schema.ts';
