import type { CatalogTool } from '@toolplane/contracts';

/** What a change of one tool touches: a part of its MCP definition, or the upstream request it makes (`request`). */
type ToolChangeField = 'title' | 'description' | 'inputSchema' | 'outputSchema' | 'annotations' | 'request';

/** How a server's tools differ between two catalogs, by tool name. */
export interface ToolChanges {
  added: string[];
  removed: string[];
  changed: { name: string; fields: ToolChangeField[] }[];
}

const definitionFields = ['title', 'description', 'inputSchema', 'outputSchema', 'annotations'] as const;

/** JSON with object keys sorted: two values built in another order compare equal. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/**
 * The tools `after` adds, removes and changes compared with `before` (catalog order kept). A tool changes when a
 * part of its MCP definition differs (what clients see) or its plan does (`request`: the upstream call it makes).
 */
export function diffTools(before: readonly CatalogTool[], after: readonly CatalogTool[]): ToolChanges {
  const old = new Map(before.map((t) => [t.tool.name, t]));
  const now = new Set(after.map((t) => t.tool.name));
  const changed: ToolChanges['changed'] = [];
  for (const t of after) {
    const was = old.get(t.tool.name);
    if (!was) continue;
    const fields: ToolChangeField[] = definitionFields.filter(
      (f) => canonical(was.tool[f] ?? null) !== canonical(t.tool[f] ?? null),
    );
    if (canonical(was.plan) !== canonical(t.plan)) fields.push('request');
    if (fields.length > 0) changed.push({ name: t.tool.name, fields });
  }
  return {
    added: after.filter((t) => !old.has(t.tool.name)).map((t) => t.tool.name),
    removed: before.filter((t) => !now.has(t.tool.name)).map((t) => t.tool.name),
    changed,
  };
}
