import { portableRules, settingsFor, type PortableRule } from '@toolplane/access';
import type { Catalog, CatalogTool } from '@toolplane/contracts';

/** A server's settings of one portable rule, as its schema parsed them (`invalid`: unreadable, the rule refuses). */
type Settings = { settings: unknown } | 'invalid';

/**
 * The portable rules (ADR 0101) a tool meets, by name, with its server's settings for each (`pipeline/tool-facts.ts`;
 * each is a stage of the tool's plan, `pipeline/portable.ts`). The server's `ruleSettings` are parsed once per catalog
 * version, each rule's by its own schema; a rule that meets every server's tools (the task grant, ADR 0108) is there
 * without a setting. A tool meets those that apply to it, and all of them when their settings are unreadable.
 */
export function portableFacts(catalog: Catalog) {
  const all = new Map<PortableRule, Settings>();
  for (const rule of portableRules) {
    const settings = settingsFor(rule, catalog.ruleSettings ?? {});
    if (settings !== undefined) all.set(rule, settings);
  }
  if (all.size === 0) return undefined;
  return (entry: CatalogTool): ReadonlyMap<string, Settings> | undefined => {
    let out: Map<string, Settings> | undefined;
    for (const [rule, settings] of all)
      if (settings === 'invalid' || rule.appliesTo(entry.tool, settings.settings))
        (out ??= new Map()).set(rule.name, settings);
    return out;
  };
}
