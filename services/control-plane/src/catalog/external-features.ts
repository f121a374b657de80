import type { CatalogTool, ExternalFeatures, ListRemoteToolsResult } from '@toolplane/contracts';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * What the attached external MCP servers offer besides tools, for the catalog: their resources, resource templates and
 * prompts, under the same rules as their tools. Prompt names that are taken get the `<server>__` prefix (as tool names
 * do). A `ui://` resource URI another server already offers (two MCP Apps' `ui://widget/app.html`) is published as
 * `ui://<server>__<rest>` (`uniqueUiUri`, ADR 0058): such a URI names the server's own app template, not a shared
 * thing. Any other resource URI or URI template another server already offers is left out with a warning (a URI names
 * one thing and cannot be prefixed). Servers that could not be listed, or offer nothing beyond tools, add nothing.
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
    const remoteUris: Record<string, string> = {};
    const resources = unique(
      (found.resources ?? []).map((r) => {
        const uri = r.uri;
        if (typeof uri !== 'string' || !uris.has(uri) || !uri.startsWith(UI_SCHEME)) return r;
        const published = uniqueUiUri(cfg.name, uri);
        remoteUris[published] = uri;
        return { ...r, uri: published };
      }),
      'uri',
      uris,
    );
    // A resource left out (its unique form was taken too) keeps no mapping.
    for (const published of Object.keys(remoteUris)) if (uris.get(published) !== cfg.name) delete remoteUris[published];
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
      ...(Object.keys(remoteUris).length > 0 ? { remoteUris } : {}),
      ...(completions ? { completions } : {}),
      ...(subscribe ? { subscribe } : {}),
    });
  });
  return out;
}

const UI_SCHEME = 'ui://';

/**
 * The unique form of an MCP App's `ui://` URI that another attached server offers already: the attached server's name
 * and `__` before the rest (`ui://widget/app.html` of `apps-b` → `ui://apps-b__widget/app.html`). Reversible: strip
 * `ui://<server>__` and put `ui://` back.
 */
export function uniqueUiUri(server: string, uri: string): string {
  return `${UI_SCHEME}${server}__${uri.slice(UI_SCHEME.length)}`;
}

/**
 * A tool's `_meta` pointing at the URIs its server's resources are published under: `ui.resourceUri` and the legacy
 * flat `ui/resourceUri` follow a `ui://` URI made unique (`uniqueUiUri`); anything else is kept as the server gave it.
 */
function publishedToolMeta(meta: unknown, renamed: Readonly<Record<string, string>>): Record<string, unknown> {
  const out = { ...(meta as Record<string, unknown>) };
  const follow = (uri: unknown) => (typeof uri === 'string' ? renamed[uri] : undefined);
  const legacy = follow(out['ui/resourceUri']);
  if (legacy) out['ui/resourceUri'] = legacy;
  const ui = out.ui;
  const nested = isObject(ui) ? follow(ui.resourceUri) : undefined;
  if (isObject(ui) && nested) out.ui = { ...ui, resourceUri: nested };
  return out;
}

/**
 * The catalog's external tools with their `_meta` following their server's URIs made unique (`publishedToolMeta`);
 * the tools of servers with none are returned as they are.
 */
export function withPublishedUris(tools: readonly CatalogTool[], external: readonly ExternalFeatures[]): CatalogTool[] {
  const renamedBy = new Map<string, Record<string, string>>();
  for (const f of external)
    if (f.remoteUris)
      renamedBy.set(f.server, Object.fromEntries(Object.entries(f.remoteUris).map(([pub, remote]) => [remote, pub])));
  if (renamedBy.size === 0) return [...tools];
  return tools.map((t) => {
    const renamed = t.plan.kind === 'mcp' ? renamedBy.get(t.plan.server) : undefined;
    if (!renamed || !t.tool._meta) return t;
    return { ...t, tool: { ...t.tool, _meta: publishedToolMeta(t.tool._meta, renamed) } };
  });
}
