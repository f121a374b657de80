import { argumentsAsSent as sentArguments } from '@toolplane/access';
import type { LoadedCatalog, LoadedTool } from '../state/catalogs.ts';

/**
 * What the edge checks a call's arguments as (docs/governance.md "What `args` is"): the values the
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

/** The arguments as the worker sends them, for policy conditions (`@toolplane/access`). */
export function argumentsAsSent(
  loaded: LoadedCatalog,
  tool: LoadedTool,
  args: Readonly<Record<string, unknown>>,
): Readonly<Record<string, unknown>> {
  return sentArguments(
    loaded.catalog.tools.find((t) => t.tool.name === tool.def.name),
    args,
  );
}
