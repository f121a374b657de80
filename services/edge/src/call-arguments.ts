import type { LoadedCatalog, LoadedTool } from './catalogs.ts';

/**
 * What the edge checks a call's arguments as (issue #58 C, docs/governance.md "What `args` is"): the values the
 * worker will send, not only the values the caller wrote.
 */

/**
 * The path of the first number in the arguments that is not finite, if any. JSON has no infinities, but a literal
 * past the double range (`-1e309`) parses as one: it would pass a `number` schema and `args.amount <= 100`, then
 * vanish from the request the worker sends (serialised as `null`). Such arguments are invalid.
 */
export function nonFiniteNumberPath(value: unknown, path = ''): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : path || '/';
  if (typeof value !== 'object' || value === null) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = nonFiniteNumberPath(value[i], `${path}/${i}`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  for (const key in value) {
    const found = nonFiniteNumberPath((value as Record<string, unknown>)[key], `${path}/${key}`);
    if (found !== undefined) return found;
  }
  return undefined;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The arguments as the worker sends them, for policy conditions: an HTTP tool's parameter defaults (a descriptor's
 * `default_value`, which the worker fills in for an absent argument) and a workflow's input defaults (which its
 * engine fills in) applied. The same object when there is nothing to add.
 */
export function argumentsAsSent(
  loaded: LoadedCatalog,
  tool: LoadedTool,
  args: Readonly<Record<string, unknown>>,
): Readonly<Record<string, unknown>> {
  const entry = loaded.catalog.tools.find((t) => t.tool.name === tool.def.name);
  const defaults: [string, unknown][] = [];
  if (entry?.plan.kind === 'http') {
    for (const p of entry.plan.params) if (p.default !== undefined) defaults.push([p.arg, p.default]);
  } else if (entry?.plan.kind === 'workflow') {
    const properties = tool.def.inputSchema.properties;
    if (isObject(properties))
      for (const [k, schema] of Object.entries(properties))
        if (isObject(schema) && 'default' in schema) defaults.push([k, schema.default]);
  }
  const missing = defaults.filter(([k]) => args[k] === undefined);
  return missing.length === 0
    ? args
    : { ...Object.fromEntries(missing.map(([k, v]) => [k, structuredClone(v)])), ...args };
}
