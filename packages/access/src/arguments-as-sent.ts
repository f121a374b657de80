import type { CatalogTool } from '@toolplane/contracts';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The arguments of a call as the worker sends them, which is what a policy's condition sees
 * (docs/governance.md "What `args` is"): an HTTP tool's parameter defaults (a descriptor's `default_value`, which the
 * worker fills in for an absent argument) and a workflow's input defaults (which its engine fills in) applied. The
 * same object when there is nothing to add. The edge checks calls with it, the control plane explains them with it.
 */
export function argumentsAsSent(
  entry: Pick<CatalogTool, 'tool' | 'plan'> | undefined,
  args: Readonly<Record<string, unknown>>,
): Readonly<Record<string, unknown>> {
  const defaults: [string, unknown][] = [];
  if (entry?.plan.kind === 'http') {
    for (const p of entry.plan.params) if (p.default !== undefined) defaults.push([p.arg, p.default]);
  } else if (entry?.plan.kind === 'workflow') {
    const properties = entry.tool.inputSchema.properties;
    if (isObject(properties))
      for (const [k, schema] of Object.entries(properties))
        if (isObject(schema) && 'default' in schema) defaults.push([k, schema.default]);
  }
  const missing = defaults.filter(([k]) => args[k] === undefined);
  if (missing.length === 0) return args;
  return { ...Object.fromEntries(missing.map(([k, v]) => [k, structuredClone(v)])), ...args };
}
