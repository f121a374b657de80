import type { CatalogTool } from '@toolplane/contracts';
import { sample } from 'openapi-sampler';

type Json = Record<string, unknown>;

/**
 * The answer the operation's description gives (ADR 0112): openapi-sampler over the tool's output schema (the
 * operation's response schema, its `$defs` resolved against the schema itself), the document's examples and defaults
 * first; deterministic, so the same operation answers the same sample. Undefined: the tool declares no output schema.
 */
export function generatedAnswer(entry: CatalogTool): Json | undefined {
  const schema = entry.tool.outputSchema;
  if (!schema) return undefined;
  const value = sample(schema as never, { skipWriteOnly: true, quiet: true }, schema as never) as unknown;
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : {};
}
