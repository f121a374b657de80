import { compile } from '@jmespath-community/jmespath';
import type { ProblemIssue } from '@toolplane/errors';

/**
 * Result shapes a connector declares with its tools (ADR 0052): `mcp_config.route_mappings[].result_shape` of a
 * descriptor or an OpenAPI envelope, read here and checked where the schema cannot (catalog/result-shapes.ts gives
 * them to the tools).
 */

/** The route mappings of a connector's `mcp_config` (absent or unreadable: none). */
export function routeMappings(descriptor: unknown): { mcp_tool_name?: unknown; result_shape?: unknown }[] {
  const mappings = (descriptor as { mcp_config?: { route_mappings?: unknown } } | null | undefined)?.mcp_config
    ?.route_mappings;
  return Array.isArray(mappings) ? (mappings as { mcp_tool_name?: unknown; result_shape?: unknown }[]) : [];
}

/**
 * What the schema cannot see in the result shapes a connector's `mcp_config.route_mappings` declare: a projection
 * JMESPath cannot compile, a shape with neither member (at `/mcp_config/route_mappings/<i>/result_shape…`; the
 * members' types and ranges are the schema's problems).
 */
export function routeShapeProblems(descriptor: unknown): ProblemIssue[] {
  return routeMappings(descriptor).flatMap((m, i): ProblemIssue[] => {
    const at = `/mcp_config/route_mappings/${i}/result_shape`;
    const raw = m.result_shape;
    if (raw === undefined || raw === null || typeof raw !== 'object' || Array.isArray(raw)) return [];
    const { projection, max_items: maxItems } = raw as Record<string, unknown>;
    if (projection === undefined && maxItems === undefined)
      return [{ path: at, message: 'a result shape needs a projection, a max_items, or both' }];
    if (typeof projection !== 'string' || projection.trim() === '') return [];
    try {
      compile(projection);
      return [];
    } catch (err) {
      return [{ path: `${at}/projection`, message: `not a JMESPath expression: ${(err as Error).message}` }];
    }
  });
}
