import type { Catalog, CatalogTool } from '@toolplane/contracts';
import { compileGuardrails, guardrailsFor, scans, type CompiledGuardrail } from '@toolplane/guardrails';

/**
 * What the guardrails (ADR 0050) make the rules read of a tool, compiled once per catalog version
 * (`pipeline/tool-facts.ts`): a catalog without a guardrail on a side adds nothing to its tools.
 */

const compiledOn = (catalog: Catalog, on: 'arguments' | 'results') =>
  catalog.guardrails?.some((g) => scans(g, on)) ? compileGuardrails(catalog.guardrails, on) : undefined;

/** `argument-guardrails`: the guardrails that scan the tool's calls' arguments (pipeline/argument-guardrails.ts). */
export function argumentGuardrailFacts(catalog: Catalog) {
  const compiled = compiledOn(catalog, 'arguments');
  if (!compiled) return undefined;
  return (entry: CatalogTool): CompiledGuardrail[] | undefined => {
    const guardrails = guardrailsFor(compiled, entry.tool.name);
    return guardrails.length > 0 ? guardrails : undefined;
  };
}

/** `session`: guardrails scan the tool's results; their findings label the session, so its job carries the session. */
export function scannedResultFacts(catalog: Catalog) {
  const compiled = compiledOn(catalog, 'results');
  if (!compiled) return undefined;
  return (entry: CatalogTool) => (guardrailsFor(compiled, entry.tool.name).length > 0 ? (true as const) : undefined);
}
