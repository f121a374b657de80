import { compile, type JSONValue } from '@jmespath-community/jmespath';
import type { Catalog, CatalogTool } from '@toolplane/contracts';
import { ValidationError, type ProblemIssue } from '@toolplane/errors';
import { routeMappings } from '../documents/route-shapes.ts';
import { shapeJson } from '@toolplane/workflow';

/**
 * Results shaped for models (ADR 0052): a server's `config.resultShapes` maps tool names to a JMESPath `projection`
 * and an item cap (`maxItems`), which the worker applies to each successful result of that tool (after its secrets
 * are redacted). Checked when the server is saved (422: a projection JMESPath cannot compile, a cap that is not a
 * positive whole number up to 10,000, an entry that is not an object); a name the server does not expose is a warning
 * of its catalog, as `config.taskOnlyTools`.
 */

type Shape = NonNullable<CatalogTool['shape']>;

const MAX_ITEMS = 10_000;

/** `config.resultShapes` as stored (absent or not an object: none). */
function shapesOf(config: unknown): Record<string, unknown> {
  const shapes = (config as { resultShapes?: unknown } | null | undefined)?.resultShapes;
  return shapes !== null && typeof shapes === 'object' && !Array.isArray(shapes)
    ? (shapes as Record<string, unknown>)
    : {};
}

/** A tool's name as a JSON pointer's segment. */
const pointer = (name: string) => name.replaceAll('~', '~0').replaceAll('/', '~1');

/** One entry's shape and problems (paths under `at`: `/config/resultShapes/<tool>` where a server is saved). */
function shapeEntry(at: string, raw: unknown): { shape?: Shape; problems: ProblemIssue[] } {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    return { problems: [{ path: at, message: 'a result shape is an object: { projection?, maxItems? }' }] };
  const { projection, maxItems, ...rest } = raw as Record<string, unknown>;
  const problems: ProblemIssue[] = Object.keys(rest).map((k) => ({
    path: `${at}/${k}`,
    message: `unknown member "${k}" (a result shape has projection and maxItems)`,
  }));
  if (projection !== undefined) {
    if (typeof projection !== 'string' || projection.trim() === '')
      problems.push({ path: `${at}/projection`, message: 'a projection is a JMESPath expression (text)' });
    else
      try {
        compile(projection);
      } catch (err) {
        problems.push({ path: `${at}/projection`, message: `not a JMESPath expression: ${(err as Error).message}` });
      }
  }
  if (
    maxItems !== undefined &&
    !(Number.isInteger(maxItems) && (maxItems as number) > 0 && (maxItems as number) <= MAX_ITEMS)
  )
    problems.push({ path: `${at}/maxItems`, message: `maxItems is a whole number from 1 to ${MAX_ITEMS}` });
  if (projection === undefined && maxItems === undefined)
    problems.push({ path: at, message: 'a result shape needs a projection, a maxItems, or both' });
  if (problems.length > 0) return { problems };
  return {
    shape: {
      ...(projection !== undefined ? { projection: projection as string } : {}),
      ...(maxItems !== undefined ? { maxItems: maxItems as number } : {}),
    },
    problems,
  };
}

/** A route mapping's `result_shape` (a descriptor's or an OpenAPI envelope's `mcp_config`) as the catalog's shape. */
function routeShape(raw: unknown): unknown {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  const { projection, max_items: maxItems, ...rest } = raw as Record<string, unknown>;
  return {
    ...rest,
    ...(projection !== undefined ? { projection } : {}),
    ...(maxItems !== undefined ? { maxItems } : {}),
  };
}

/**
 * Gives a connector's tools the shapes its `mcp_config.route_mappings` declare (by `mcp_tool_name`), wherever the tools
 * are served (a NORMAL server of an instance, SMART's `execute_tool`); a server's `config.resultShapes` entry for a
 * tool replaces its connector's (`markShaped` runs after). A tool with a projection loses its `outputSchema`.
 */
export function withRouteShapes<T extends CatalogTool>(tools: T[], descriptor: unknown): T[] {
  const shapes = new Map<string, Shape>();
  for (const m of routeMappings(descriptor)) {
    if (typeof m.mcp_tool_name !== 'string' || m.result_shape === undefined) continue;
    const { shape } = shapeEntry('', routeShape(m.result_shape));
    if (shape) shapes.set(m.mcp_tool_name, shape);
  }
  if (shapes.size === 0) return tools;
  return tools.map((t) => {
    const shape = shapes.get(t.tool.name);
    if (!shape) return t;
    if (!shape.projection) return { ...t, shape };
    const { outputSchema: _dropped, ...tool } = t.tool;
    return { ...t, tool, shape } as T;
  });
}

/** Every problem of a server config's `resultShapes` (what the worker could not apply), at its path. */
export function resultShapeProblems(config: unknown): ProblemIssue[] {
  return Object.entries(shapesOf(config)).flatMap(
    ([tool, raw]) => shapeEntry(`/config/resultShapes/${pointer(tool)}`, raw).problems,
  );
}

/** Refuses (422, every problem listed) a server config whose `resultShapes` the worker could not apply. */
export function refuseBadResultShapes(config: unknown): void {
  const problems = resultShapeProblems(config);
  if (problems.length > 0) throw new ValidationError('the result shapes are invalid', problems);
}

/**
 * Gives each tool its shape (`config.resultShapes`); a tool with a projection loses its `outputSchema` (what the
 * projection answers is its own shape). A name the server does not expose is a warning.
 */
export function markShaped(catalog: Catalog, config: unknown): Catalog {
  const entries = Object.entries(shapesOf(config));
  if (entries.length === 0) return catalog;
  const shapes = new Map<string, Shape>();
  for (const [tool, raw] of entries) {
    const { shape } = shapeEntry('', raw);
    if (shape) shapes.set(tool, shape);
  }
  const tools = catalog.tools.map((t) => {
    const shape = shapes.get(t.tool.name);
    if (!shape) return t;
    if (!shape.projection) return { ...t, shape };
    const { outputSchema: _dropped, ...tool } = t.tool;
    return { ...t, tool, shape };
  });
  const exposed = new Set(catalog.tools.map((t) => t.tool.name));
  const warnings = entries
    .map(([name]) => name)
    .filter((name) => !exposed.has(name))
    .map((name) => `tool "${name}" has a result shape (config.resultShapes), but the server does not expose it`);
  return {
    ...catalog,
    tools,
    ...(warnings.length > 0 ? { warnings: [...(catalog.warnings ?? []), ...warnings] } : {}),
  };
}

/** What a sample result becomes with a shape: its JSON before and after, their bytes, items left out per array. */
export interface ShapePreview {
  before: unknown;
  after: unknown;
  bytesBefore: number;
  bytesAfter: number;
  truncated?: Record<string, number>;
}

/** The sample's JSON value, or the problem: the worker shapes a result whose text is a JSON object or array only. */
function sampleValue(sample: string): { value?: JSONValue; problems: ProblemIssue[] } {
  const unchanged = 'the worker shapes a result whose text is a JSON object or array: this one would pass unchanged';
  if (!/^\s*[[{]/.test(sample)) return { problems: [{ path: '/sample', message: unchanged }] };
  try {
    return { value: JSON.parse(sample) as JSONValue, problems: [] };
  } catch (err) {
    return {
      problems: [{ path: '/sample', message: `not JSON (${(err as Error).message}): it would pass unchanged` }],
    };
  }
}

/**
 * A tool's result shape applied to a sample of its result text, as the worker applies it to each successful result
 * (the same JMESPath projection, item cap and byte counts: the result's text before, the shaped JSON after): the
 * shape `given`, else the one of `config.resultShapes`. 422 listing every problem: no shape, a bad one (at `/shape`),
 * a sample the worker would not shape.
 */
export function previewResultShape(
  config: unknown,
  { tool, sample, shape: given }: { tool: string; sample: string; shape?: unknown },
): ShapePreview {
  const saved = shapesOf(config)[tool];
  const entry =
    given !== undefined
      ? shapeEntry('/shape', given)
      : saved !== undefined
        ? shapeEntry(`/tool`, saved)
        : { problems: [{ path: '/tool', message: `the server has no result shape for "${tool}"; give one as shape` }] };
  const parsed = sampleValue(sample);
  const problems = [...entry.problems, ...parsed.problems];
  if (problems.length > 0 || !entry.shape || parsed.value === undefined)
    throw new ValidationError('the result shape preview is invalid', problems);
  let shaped: ReturnType<typeof shapeJson>;
  try {
    shaped = shapeJson(parsed.value, entry.shape);
  } catch (err) {
    throw new ValidationError('the result shape preview is invalid', [
      { path: '/sample', message: `the projection fails on this sample: ${(err as Error).message}` },
    ]);
  }
  const { value, truncated } = shaped;
  return {
    before: parsed.value,
    after: value,
    bytesBefore: Buffer.byteLength(sample),
    bytesAfter: Buffer.byteLength(JSON.stringify(value)),
    ...(Object.keys(truncated).length > 0 ? { truncated } : {}),
  };
}
