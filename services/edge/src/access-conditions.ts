import {
  compileCondition,
  evaluate,
  explain,
  type CompileResult,
  type ConditionActivation,
  type ConditionCaller,
} from '@toolplane/conditions';
import type { AccessPolicyRule } from '@toolplane/contracts';
import type { LoadedCatalog, LoadedTool } from './catalogs.ts';

/**
 * Conditional grants (ADR 0036, docs/governance.md "Conditions"). A policy with a `condition` grants its
 * tools only for the calls the condition holds for; such grants are kept apart from unconditional ones, so that a tool
 * some unconditional grant covers (and the `all` grant) is decided exactly as before, evaluating nothing.
 */

/** The tools a caller may use on one server: all of them, or these names. */
export type ToolGrant = 'all' | ReadonlySet<string>;

/** What one set of principals (the credential, or the external user) is granted on one server. */
export interface GrantPart {
  /** Granted without a condition. */
  readonly unconditional: ToolGrant;
  /** Policies with a condition, by the tool names they grant (`*`: every tool); absent: none. */
  readonly rules?: ReadonlyMap<string, readonly AccessPolicyRule[]> | undefined;
}

/** The tools a part lets the caller see (and call, where a condition holds): conditional grants included. */
export function visibleTools(part: GrantPart): ToolGrant {
  const { unconditional, rules } = part;
  if (!rules || unconditional === 'all') return unconditional;
  if (rules.has('*')) return 'all';
  return new Set([...unconditional, ...rules.keys()]);
}

/**
 * The conditions a caller's calls on one server must meet: for each part (credential, external user) whose grant of
 * the tool is conditional, one clause, met when one of its policies' conditions holds. Made by `decideAccess` only
 * when some applicable policy has a condition.
 */
export class ToolConditions {
  private readonly parts: readonly GrantPart[];
  constructor(parts: readonly GrantPart[]) {
    this.parts = parts;
  }

  /** The clauses a call of `tool` must meet (each: any of these policies' conditions); empty: none. */
  clauses(tool: string): (readonly AccessPolicyRule[])[] {
    const clauses: (readonly AccessPolicyRule[])[] = [];
    for (const { unconditional, rules } of this.parts) {
      if (unconditional === 'all' || unconditional.has(tool)) continue;
      clauses.push([...(rules?.get(tool) ?? []), ...(rules?.get('*') ?? [])]);
    }
    return clauses;
  }
}

/** What a caller's calls are checked with: the conditional grants, and the caller as conditions see it. */
export interface CallConditions {
  readonly rules: ToolConditions;
  readonly caller: Readonly<ConditionCaller>;
}

/** Each policy's condition compiled once per published document (the rule object) and tool (its input schema). */
const compiled = new WeakMap<AccessPolicyRule, WeakMap<LoadedTool, CompileResult>>();

function compiledFor(rule: AccessPolicyRule, tool: LoadedTool): CompileResult {
  let byTool = compiled.get(rule);
  if (!byTool) compiled.set(rule, (byTool = new WeakMap()));
  let result = byTool.get(tool);
  if (!result) {
    result = compileCondition(rule.condition ?? '', { inputSchema: tool.def.inputSchema });
    byTool.set(tool, result);
  }
  return result;
}

/** What a call of `tool` with `args` is, as conditions see it. */
function conditionActivation(
  conditions: CallConditions,
  loaded: LoadedCatalog,
  tool: LoadedTool,
  args: Readonly<Record<string, unknown>>,
): ConditionActivation {
  const { catalog } = loaded;
  const annotations = tool.def.annotations as Readonly<Record<string, unknown>> | undefined;
  return {
    caller: conditions.caller,
    tool: {
      name: tool.def.name,
      server_id: catalog.serverId,
      server_name: catalog.name,
      ...(annotations ? { annotations } : {}),
    },
    args,
  };
}

const holds = (rule: AccessPolicyRule, tool: LoadedTool, activation: ConditionActivation) => {
  const c = compiledFor(rule, tool);
  return c.ok && evaluate(c.condition, activation);
};

/** Why one policy's condition does not hold for this call (for the refusal's message and record). */
function whyNot(rule: AccessPolicyRule, tool: LoadedTool, activation: ConditionActivation): string {
  const policy = rule.name !== undefined ? `access policy "${rule.name}" (${rule.id})` : `access policy ${rule.id}`;
  const c = compiledFor(rule, tool);
  if (!c.ok) return `${policy}: its condition does not apply to this tool (${c.problems[0]?.message ?? 'invalid'})`;
  const e = explain(c.condition, activation);
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
  loaded: LoadedCatalog,
  tool: LoadedTool,
  args: Readonly<Record<string, unknown>>,
): string | undefined {
  const clauses = conditions.rules.clauses(tool.def.name);
  if (clauses.length === 0) return undefined;
  const activation = conditionActivation(conditions, loaded, tool, args);
  for (const clause of clauses) {
    if (clause.some((rule) => holds(rule, tool, activation))) continue;
    const why = clause.map((rule) => whyNot(rule, tool, activation));
    return (
      `Access denied: tool "${tool.def.name}" is granted to this caller only under a condition, and it does not ` +
      `hold for this call: ${why.length > 0 ? why.join('; ') : 'no access policy grants it'}.`
    );
  }
  return undefined;
}
