import {
  compileCondition,
  evaluate,
  explain,
  type CompileResult,
  type ConditionActivation,
  type ConditionCaller,
  type ConditionSession,
  type Explanation,
  type JsonSchema,
  usesSession,
} from '@toolplane/conditions';
import type { AccessPolicyRule, CatalogTool } from '@toolplane/contracts';
import type { ToolConditions } from './grants.ts';

/**
 * Conditional grants (ADR 0036, docs/governance.md "Conditions"). A policy with a `condition` grants its
 * tools only for the calls the condition holds for; such grants are kept apart from unconditional ones, so that a tool
 * some unconditional grant covers (and the `all` grant) is decided exactly as before, evaluating nothing.
 */

/**
 * What a caller's calls are checked with: the conditional grants, the caller as conditions see it and, when read for
 * this call (`conditionsReadSession`), the caller's session (ADR 0078; absent: a condition reading it is false).
 */
export interface CallConditions {
  readonly rules: ToolConditions;
  readonly caller: Readonly<ConditionCaller>;
  readonly session?: Readonly<ConditionSession> | undefined;
}

/** A tool as conditions read it (the edge's loaded tool is one). Compiled conditions are kept per tool object. */
export interface ConditionalTool {
  readonly def: Pick<CatalogTool['tool'], 'name' | 'inputSchema' | 'annotations'>;
}

/** The server a call goes to (the edge's loaded catalog is one). */
export interface CallServer {
  readonly catalog: { readonly serverId: string; readonly name: string };
}

/** Each policy's condition compiled once per published document (the rule object) and tool (its input schema). */
const compiled = new WeakMap<AccessPolicyRule, WeakMap<ConditionalTool, CompileResult>>();

function compiledFor(rule: AccessPolicyRule, tool: ConditionalTool): CompileResult {
  let byTool = compiled.get(rule);
  if (!byTool) compiled.set(rule, (byTool = new WeakMap()));
  let result = byTool.get(tool);
  if (!result) {
    result = compileCondition(rule.condition ?? '', { inputSchema: tool.def.inputSchema as JsonSchema });
    byTool.set(tool, result);
  }
  return result;
}

/**
 * Why a policy's condition cannot be evaluated for `tool` at all (it names an argument the tool does not have, …):
 * the first problem of compiling it against the tool's input schema; undefined when it compiles.
 */
export function conditionProblem(rule: AccessPolicyRule, tool: ConditionalTool): string | undefined {
  const c = compiledFor(rule, tool);
  return c.ok ? undefined : (c.problems[0]?.message ?? 'invalid');
}

/** Whether some condition a call of `tool` is checked with reads `session` (then read the session for the call first). */
export function conditionsReadSession(conditions: CallConditions, tool: ConditionalTool): boolean {
  return conditions.rules
    .clauses(tool.def.name)
    .some((clause) => clause.some((rule) => usesSession(compiledFor(rule, tool))));
}

/** `conditionActivation`, with the session the conditions carry. */
function activationOf(
  conditions: CallConditions,
  server: CallServer,
  tool: ConditionalTool,
  args: Readonly<Record<string, unknown>>,
): ConditionActivation {
  const activation = conditionActivation(conditions.caller, server, tool, args);
  if (conditions.session) activation.session = conditions.session;
  return activation;
}

/** What a call of `tool` with `args` is, as conditions see it. */
export function conditionActivation(
  caller: Readonly<ConditionCaller>,
  server: CallServer,
  tool: ConditionalTool,
  args: Readonly<Record<string, unknown>>,
): ConditionActivation {
  const { catalog } = server;
  const annotations = tool.def.annotations as Readonly<Record<string, unknown>> | undefined;
  return {
    caller,
    tool: {
      name: tool.def.name,
      server_id: catalog.serverId,
      server_name: catalog.name,
      ...(annotations ? { annotations } : {}),
    },
    args,
  };
}

const holds = (rule: AccessPolicyRule, tool: ConditionalTool, activation: ConditionActivation) => {
  const c = compiledFor(rule, tool);
  return c.ok && evaluate(c.condition, activation);
};

/**
 * A policy in log-only mode (`enforce: false`): its false condition refuses nothing and asks no approval, so a clause
 * holding one is met whatever its conditions give; what it would have done is read by `shadowRefusals`.
 */
export const shadowed = (rule: AccessPolicyRule): boolean => rule.enforce === false;

/** How one policy's condition reads this call: compiled against the tool (or its first problem), then explained. */
export type ConditionReading = { compiled: false; problem: string } | ({ compiled: true } & Explanation);

/** Evaluates one policy's condition on a call, saying why it is false (not the hot path: refusals and explanations). */
export function readCondition(
  rule: AccessPolicyRule,
  tool: ConditionalTool,
  activation: ConditionActivation,
): ConditionReading {
  const c = compiledFor(rule, tool);
  if (!c.ok) return { compiled: false, problem: c.problems[0]?.message ?? 'invalid' };
  return { compiled: true, ...explain(c.condition, activation) };
}

/** The name of a policy in refusals: `access policy "name" (id)`. */
export function policyName(rule: { readonly id: string; readonly name?: string | undefined }): string {
  return rule.name !== undefined ? `access policy "${rule.name}" (${rule.id})` : `access policy ${rule.id}`;
}

/** Why one policy's condition does not hold for this call (for the refusal's message and record). */
function whyNot(rule: AccessPolicyRule, tool: ConditionalTool, activation: ConditionActivation): string {
  const policy = policyName(rule);
  const e = readCondition(rule, tool, activation);
  if (!e.compiled) return `${policy}: its condition cannot be evaluated for this tool (${e.problem})`;
  if (e.failed && (e.reason === undefined || e.reason === 'the condition is false'))
    return `${policy}: ${e.failed.text} is false`;
  const part = e.failed && e.reason && !e.reason.includes(e.failed.text) ? ` (in ${e.failed.text})` : '';
  return `${policy}: ${e.reason ?? 'the condition is false'}${part}`;
}

/**
 * Undefined when the call is allowed: every clause of the tool has a policy whose condition holds (evaluated in
 * order, stopping at the first). Else the refusal's message, naming each policy of the failed clause and what of
 * its condition failed.
 */
export function conditionRefusal(
  conditions: CallConditions,
  server: CallServer,
  tool: ConditionalTool,
  args: Readonly<Record<string, unknown>>,
): string | undefined {
  const clauses = conditions.rules.clauses(tool.def.name);
  if (clauses.length === 0) return undefined;
  const activation = activationOf(conditions, server, tool, args);
  for (const clause of clauses) {
    if (clause.some((rule) => holds(rule, tool, activation)) || clause.some(shadowed)) continue;
    const why = clause.map((rule) => whyNot(rule, tool, activation));
    return (
      `Access denied: tool "${tool.def.name}" is granted to this caller only under a condition, and it does not ` +
      `hold for this call: ${why.length > 0 ? why.join('; ') : 'no access policy grants it'}.`
    );
  }
  return undefined;
}

/**
 * The clauses of the tool no policy's condition holds for on this call (each: the policies that would have granted
 * it, in document order); empty when the call is allowed. Every clause is evaluated (a refusal names the first).
 */
export function failedClauses(
  conditions: CallConditions,
  server: CallServer,
  tool: ConditionalTool,
  args: Readonly<Record<string, unknown>>,
): (readonly AccessPolicyRule[])[] {
  const clauses = conditions.rules.clauses(tool.def.name);
  if (clauses.length === 0) return [];
  const activation = activationOf(conditions, server, tool, args);
  return clauses.filter((clause) => !clause.some((rule) => holds(rule, tool, activation)) && !clause.some(shadowed));
}

/**
 * The first policy of the first clause that refuses a call (any of whose conditions would have granted it), as its
 * refusal's audit event names it, with why its condition cannot be evaluated for this tool when it cannot; null when
 * nothing refuses the call or that clause has no policy.
 */
export function refusingPolicy(
  conditions: CallConditions,
  server: CallServer,
  tool: ConditionalTool,
  args: Readonly<Record<string, unknown>>,
): { id: string; name: string | null; problem?: string } | null {
  const first = failedClauses(conditions, server, tool, args)[0]?.[0];
  if (!first) return null;
  const problem = conditionProblem(first, tool);
  return { id: first.id, name: first.name ?? null, ...(problem ? { problem } : {}) };
}

/** What a log-only policy would have done to a call: refuse it, or hold it for approval (`onFalse`). */
export interface ShadowRefusal {
  readonly policy: AccessPolicyRule;
  readonly would: 'refuse' | 'require_approval';
  /** The part of its condition that was not true (the policy's own text, never a value of the call). */
  readonly failed: string | null;
  /** The condition failed on an error (a missing argument, another type) rather than being false. */
  readonly error: boolean;
}

/**
 * The log-only policies whose conditions alone let this call through: in each clause no condition holds for, its
 * `enforce: false` policies (in document order). Empty, evaluating nothing, when no policy of the caller's is log only.
 */
export function shadowRefusals(
  conditions: CallConditions,
  server: CallServer,
  tool: ConditionalTool,
  args: Readonly<Record<string, unknown>>,
): ShadowRefusal[] {
  if (!conditions.rules.logOnly) return [];
  const clauses = conditions.rules.clauses(tool.def.name).filter((clause) => clause.some(shadowed));
  if (clauses.length === 0) return [];
  const activation = activationOf(conditions, server, tool, args);
  const found: ShadowRefusal[] = [];
  for (const clause of clauses) {
    if (clause.some((rule) => holds(rule, tool, activation))) continue;
    for (const policy of clause.filter(shadowed)) {
      const e = readCondition(policy, tool, activation);
      found.push({
        policy,
        would: policy.approval ? 'require_approval' : 'refuse',
        failed: e.compiled ? (e.failed?.text ?? null) : null,
        error: !e.compiled || e.error === true,
      });
    }
  }
  return found;
}
