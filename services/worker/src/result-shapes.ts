import type { JSONValue } from '@jmespath-community/jmespath';
import type { CatalogTool, ToolResultPayload } from '@toolplane/contracts';
import { shapeJson } from '@toolplane/workflow';

/**
 * Results shaped for models (the server's `config.resultShapes`, ADR 0052): what a tool answers is cut to what an
 * agent needs before it reaches the model's context: a JMESPath projection of the result's JSON (e.g. keep `id`,
 * `title` and `status` of each ticket) and an item cap on its arrays. Applied to successful results only, first in the
 * result chain (`result-chain.ts`: the guardrails and the redaction scan what the shape made); an error, or an answer
 * that is not JSON, passes unchanged. The result
 * says what was cut in `_meta["toolplane/shape"]` (bytes before and after, items left out), never in its content.
 */

export type ResultShape = NonNullable<CatalogTool['shape']>;

/** What the shape did: the JSON text's bytes before and after, and items left out per capped array (by its key). */
export interface ShapeReport {
  bytesBefore: number;
  bytesAfter: number;
  truncated?: Record<string, number>;
}

/** The result's JSON value: its structured content, else its only text block parsed; undefined when it has none. */
function jsonOf(result: ToolResultPayload): { value: JSONValue; text: string } | undefined {
  const only = result.content.length === 1 ? result.content[0] : undefined;
  const text = only?.type === 'text' && typeof only.text === 'string' ? only.text : undefined;
  if (result.structuredContent !== undefined)
    return { value: result.structuredContent as JSONValue, text: text ?? JSON.stringify(result.structuredContent) };
  if (text === undefined || !/^\s*[[{]/.test(text)) return undefined;
  try {
    return { value: JSON.parse(text) as JSONValue, text };
  } catch {
    return undefined;
  }
}

/** The result as the shape makes it, and what it did; the result itself when the shape does not apply. */
export function shapeResult(
  result: ToolResultPayload,
  shape: ResultShape,
): { result: ToolResultPayload; report?: ShapeReport } {
  if (result.isError || result.resultType !== undefined) return { result };
  const json = jsonOf(result);
  if (!json) return { result };
  const { value, truncated } = shapeJson(json.value, shape);
  const text = JSON.stringify(value);
  const report: ShapeReport = {
    bytesBefore: Buffer.byteLength(json.text),
    bytesAfter: Buffer.byteLength(text),
    ...(Object.keys(truncated).length > 0 ? { truncated } : {}),
  };
  const structured = value !== null && typeof value === 'object' && !Array.isArray(value);
  return {
    result: {
      content: [{ type: 'text', text }],
      ...(structured ? { structuredContent: value as Record<string, unknown> } : {}),
      _meta: { ...result._meta, 'toolplane/shape': report },
    },
    report,
  };
}
