import type { Catalog, CatalogTool } from '@toolplane/contracts';
import { cacheFacts } from '../calls/result-cache.ts';
import { argumentGuardrailFacts, scannedResultFacts } from '../governance/guardrails.ts';
import { labelFacts } from '../governance/labels.ts';
import { portableFacts } from '../governance/portable-rules.ts';
import { upstreamCredentialFacts } from '../identity/upstream-auth.ts';

/**
 * How a rule compiles what it reads of a tool from one catalog version (ADR 0115): its catalog step runs once per
 * version (guardrails compiled, a server's settings parsed) and answers the step that reads one tool's facts, or
 * undefined when no tool of the version can have any (its tools then pay nothing for it); the tool's step answers
 * undefined for a tool the rule has nothing to say of.
 */
export type ToolFactCompiler<F> = (catalog: Catalog) => ((entry: CatalogTool) => F | undefined) | undefined;

/** A fact the control plane publishes on the tool as it reads it: nothing to compile per version. */
const asPublished =
  <F>(read: (entry: CatalogTool) => F | undefined): ToolFactCompiler<F> =>
  () =>
    read;

/**
 * What the rules read of a tool, one compiler per fact, each written next to its rule (ADR 0115, as each rule's
 * caller facts are in `caller-facts.ts`, ADR 0104): the catalog cache (`state/catalogs.ts`) runs the table once per
 * catalog version and names none of them; `LoadedTool.rules` is typed from it, so a rule with per-tool settings of its
 * own adds one line here and edits neither the catalog cache, the call's type nor the authenticator. A stage reads its
 * fact (`tool.rules.<fact>`) and leaves out of its plan the tools that have none (`appliesTo`).
 */
export const toolFactCompilers = {
  /** `upstream-credential`: it sends a credential upstream, which a caller's `X-Upstream-Authorization` may replace. */
  upstreamCredential: upstreamCredentialFacts,
  /** `confirmation` (ADR 0038): a person confirms each call first. */
  confirm: asPublished((entry) => entry.confirm),
  /** `approval` (ADR 0049): someone else approves each call first; the rule. */
  approval: asPublished((entry) => entry.approval),
  /** `task-only`: the tool runs only as a durable task (`execution.taskSupport: required`): a plain call is refused. */
  taskOnly: asPublished((entry) => (entry.tool.execution?.taskSupport === 'required' ? (true as const) : undefined)),
  /** `quota` (ADR 0048): the cost units of one call; absent: 1. */
  cost: asPublished((entry) => entry.cost),
  /** `argument-guardrails` (ADR 0050): the guardrails that scan its calls' arguments. */
  argumentGuardrails: argumentGuardrailFacts,
  /** `cache` (ADR 0067): its results' TTL and scope. */
  cache: cacheFacts,
  /** `session` (ADR 0078): what each result brings into the caller's session, and whether it sends data out. */
  labels: labelFacts,
  /** `session`: guardrails scan its results (their findings label the session), so its job carries the session. */
  scannedResults: scannedResultFacts,
  /** The portable rules (ADR 0101) it meets, with its server's settings for each (pipeline/portable.ts). */
  portable: portableFacts,
} as const satisfies Readonly<Record<string, ToolFactCompiler<unknown>>>;

type Compilers = Readonly<Record<string, ToolFactCompiler<unknown>>>;

/** A table's facts of one tool, under each compiler's name; a fact the tool does not have is absent. */
export type ToolFactsOf<T extends Compilers> = {
  -readonly [K in keyof T]?: NonNullable<ReturnType<NonNullable<ReturnType<T[K]>>>>;
};

/** What the rules read of a tool (`LoadedTool.rules`), typed from the table. */
export type ToolRules = ToolFactsOf<typeof toolFactCompilers>;

/**
 * One catalog version's compilers of the table's facts, each rule's catalog step run once: a function that answers
 * a tool's facts (a fresh object per tool, holding only the facts it has).
 */
export function compileToolFacts<T extends Compilers>(
  catalog: Catalog,
  table: T,
): (entry: CatalogTool) => ToolFactsOf<T> {
  const steps: [string, (entry: CatalogTool) => unknown][] = [];
  for (const [name, compile] of Object.entries(table)) {
    const step = compile(catalog);
    if (step) steps.push([name, step]);
  }
  return (entry) => {
    const facts: Record<string, unknown> = {};
    for (const [name, step] of steps) {
      const fact = step(entry);
      if (fact !== undefined) facts[name] = fact;
    }
    return facts as ToolFactsOf<T>;
  };
}

/** The rules' facts of one catalog version's tools. */
export const toolFactsOf = (catalog: Catalog) => compileToolFacts(catalog, toolFactCompilers);
