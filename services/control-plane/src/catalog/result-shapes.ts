import { compile } from '@jmespath-community/jmespath';
import type { Catalog, CatalogTool } from '@toolplane/contracts';
import { ValidationError, type ProblemIssue } from '@toolplane/errors';

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

/** One entry's shape and problems (paths under `/config/resultShapes/<tool>`). */
function shapeEntry(tool: string, raw: unknown): { shape?: Shape; problems: ProblemIssue[] } {
  const at = `/config/resultShapes/${tool.replaceAll('~', '~0').replaceAll('/', '~1')}`;
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

/** Every problem of a server config's `resultShapes` (what the worker could not apply), at its path. */
export function resultShapeProblems(config: unknown): ProblemIssue[] {
  return Object.entries(shapesOf(config)).flatMap(([tool, raw]) => shapeEntry(tool, raw).problems);
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
    const { shape } = shapeEntry(tool, raw);
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
