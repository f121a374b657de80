import { compileCondition, evaluate, type CompileResult } from '@toolplane/conditions';

/**
 * A narrowed token's rules on one call (ADR 0084), shared by the edge's `delegation` stage and the worker's checks of a
 * workflow's steps (the token's narrowing carried in the job's `rules.delegation`): its servers, its tools and the
 * conditions of its chain, each judged the same way on both sides.
 */

/** What a condition of a narrowed token reads: the caller as access-policy conditions see it, the tool, the arguments. */
export interface DelegationActivation {
  readonly caller: Readonly<Record<string, unknown>>;
  readonly tool: {
    readonly name: string;
    readonly server_id: string;
    readonly server_name: string;
    readonly annotations?: Readonly<Record<string, unknown>>;
  };
  readonly args: unknown;
}

/** The first condition of `conditions` that is false (or does not compile) for this call (its text), if any. */
export function falseDelegationCondition(
  conditions: readonly string[],
  activation: DelegationActivation,
): string | undefined {
  return conditions.find((text) => {
    const c = compiled(text);
    return !(c.ok && evaluate(c.condition, activation as unknown as Parameters<typeof evaluate>[1]));
  });
}

/** The narrowing a workflow's steps meet (a job's `rules.delegation`). */
export interface StepNarrowing {
  readonly tokenId: string;
  readonly servers: readonly string[] | null;
  readonly tools: readonly string[] | null;
  readonly conditions: readonly string[];
}

/**
 * Why a narrowed token refuses a workflow step's call of a hosted server's tool, or undefined: a server or a tool it
 * does not name, or a condition of its chain false for the step's arguments as they will be sent.
 */
export function delegationStepRefusal(narrowing: StepNarrowing, activation: DelegationActivation): string | undefined {
  const { tool } = activation;
  const token = `the narrowed token ${narrowing.tokenId}`;
  if (narrowing.servers && !narrowing.servers.includes(tool.server_id))
    return `${token} does not reach the step's server "${tool.server_name}"`;
  if (narrowing.tools && !narrowing.tools.includes(tool.name))
    return `${token} may not call the step's tool "${tool.name}"`;
  const failed = falseDelegationCondition(narrowing.conditions, activation);
  return failed === undefined
    ? undefined
    : `${token} allows the step's tool "${tool.name}" only when ${failed} (false for its arguments)`;
}

/** Conditions compiled once per text (a token's are checked when it is made; bounded like a cache). */
const compiledConditions = new Map<string, CompileResult>();

function compiled(text: string): CompileResult {
  let c = compiledConditions.get(text);
  if (!c) {
    if (compiledConditions.size >= 1000) compiledConditions.clear();
    compiledConditions.set(text, (c = compileCondition(text)));
  }
  return c;
}
