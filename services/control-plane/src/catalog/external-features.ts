import type { ExternalFeatures, ListRemoteToolsResult } from '@toolplane/contracts';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * What the attached external MCP servers offer besides tools, for the catalog: their resources, resource templates and
 * prompts, under the same rules as their tools. Prompt names that are taken get the `<server>__` prefix (as tool names
 * do); a resource URI or URI template another server already offers is left out with a warning (a URI names one thing
 * and cannot be prefixed). Servers that could not be listed, or offer nothing beyond tools, add nothing.
 */
export function externalFeatures(
  configs: readonly { name: string; url: string; headersSecret?: string; headerSecrets?: Record<string, string> }[],
  listed: readonly Pick<ListRemoteToolsResult, 'ok' | 'resources' | 'resourceTemplates' | 'prompts' | 'capabilities'>[],
  warnings: string[],
): ExternalFeatures[] {
  const uris = new Map<string, string>();
  const templates = new Map<string, string>();
  const promptNames = new Set<string>();
  const out: ExternalFeatures[] = [];
  configs.forEach((cfg, i) => {
    const found = listed[i];
    if (!found?.ok) return;
    const unique = (
      list: Record<string, unknown>[] | undefined,
      key: 'uri' | 'uriTemplate',
      seen: Map<string, string>,
    ) =>
      (list ?? []).filter((item) => {
        const id = item[key];
        if (typeof id !== 'string') return false;
        const owner = seen.get(id);
        if (owner !== undefined) {
          warnings.push(`external MCP server "${cfg.name}" offers ${id}, which "${owner}" offers already: left out`);
          return false;
        }
        seen.set(id, cfg.name);
        return true;
      });
    const resources = unique(found.resources, 'uri', uris);
    const resourceTemplates = unique(found.resourceTemplates, 'uriTemplate', templates);
    const prompts = (found.prompts ?? []).flatMap((p) => {
      if (typeof p.name !== 'string') return [];
      let name = p.name;
      if (promptNames.has(name)) name = `${cfg.name}__${p.name}`.slice(0, 128);
      promptNames.add(name);
      return [{ prompt: { ...p, name }, remoteName: p.name }];
    });
    const caps = found.capabilities ?? {};
    const completions = isObject(caps.completions);
    const subscribe = isObject(caps.resources) && caps.resources.subscribe === true;
    if (resources.length + resourceTemplates.length + prompts.length === 0 && !completions) return;
    out.push({
      server: cfg.name,
      url: cfg.url,
      ...(cfg.headersSecret ? { headersSecret: cfg.headersSecret } : {}),
      ...(cfg.headerSecrets ? { headerSecrets: cfg.headerSecrets } : {}),
      resources,
      resourceTemplates,
      prompts,
      ...(completions ? { completions } : {}),
      ...(subscribe ? { subscribe } : {}),
    });
  });
  return out;
}
