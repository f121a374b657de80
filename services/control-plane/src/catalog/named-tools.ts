import type { Catalog } from '@toolplane/contracts';
import { ValidationError } from '@toolplane/errors';

type Tool = Catalog['tools'][number];

/**
 * Marks the tools a server's list names (`confirmTools`, `approvalTools`) with `mark`. A name of a tool the server does
 * not expose is refused (422, naming it at `/<list>/<index>`) when `strict` (the list was just set); otherwise (its
 * tool left the server since) it stays named, and a warning (`warning(name)`) says so: the tool is marked again if it
 * comes back.
 */
export function markNamed(
  catalog: Catalog,
  names: readonly string[],
  list: { field: string; strict: boolean; mark: (tool: Tool) => Tool; warning: (name: string) => string },
): Catalog {
  const exposed = new Set(catalog.tools.map((t) => t.tool.name));
  const missing = names.filter((name) => !exposed.has(name));
  if (missing.length > 0 && list.strict)
    throw new ValidationError(
      `${list.field} names tools the server does not expose`,
      missing.map((name) => ({
        path: `/${list.field}/${names.indexOf(name)}`,
        message: `no tool "${name}" on this server`,
      })),
    );
  const wanted = new Set(names);
  const tools = catalog.tools.map((t) => (wanted.has(t.tool.name) ? list.mark(t) : t));
  if (missing.length === 0) return { ...catalog, tools };
  return { ...catalog, tools, warnings: [...(catalog.warnings ?? []), ...missing.map(list.warning)] };
}
