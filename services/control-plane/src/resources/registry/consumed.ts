import { ValidationError } from '@toolplane/errors';
import type { ControlPlaneDeps } from '../deps.ts';
import { createExternalMcpServer } from '../external-mcp-servers/handlers.ts';
import type { Input } from '../operation.ts';
import type { RegistryAddBody, RegistrySearchQuery } from './schemas.ts';
import { pickRemote, readServer, searchServers, type RegistryRemote, type RegistryServer } from './source.ts';
import { registrySettings } from './settings.ts';

const presentHeaders = (remote: RegistryRemote) =>
  (remote.headers ?? []).map((h) => ({
    name: h.name,
    ...(h.description !== undefined ? { description: h.description } : {}),
    isRequired: h.isRequired ?? false,
    isSecret: h.isSecret ?? false,
  }));

/** `GET /registry/search`: a page of the source's latest servers matching `q`, each with its external server here. */
export async function searchRegistry(deps: ControlPlaneDeps, { query, caller }: Input<undefined, RegistrySearchQuery>) {
  const { effective } = await registrySettings(deps, caller.workspaceId);
  const page = await searchServers(deps.fetchDocument, effective.sourceUrl, {
    search: query.q,
    cursor: query.cursor,
    limit: query.limit,
  });
  const urls = page.servers.flatMap((s) => (s.remotes ?? []).map((r) => r.url));
  const rows = await deps.db.externalMcpServer.findMany({
    where: { workspaceId: caller.workspaceId, url: { in: urls } },
    select: { id: true, url: true },
  });
  const added = new Map(rows.map((r) => [r.url, r.id]));
  return {
    data: page.servers.map((s) => searchEntry(s, added)),
    nextCursor: page.nextCursor,
    source: { url: effective.sourceUrl },
  };
}

function searchEntry(s: RegistryServer, added: Map<string, string>) {
  const { remote, unsupported } = pickRemote(s);
  return {
    name: s.name,
    version: s.version,
    description: s.description ?? '',
    ...(s.title !== undefined ? { title: s.title } : {}),
    ...(s.websiteUrl !== undefined ? { websiteUrl: s.websiteUrl } : {}),
    remote: remote ? { type: remote.type, url: remote.url, headers: presentHeaders(remote) } : null,
    unsupported: unsupported ?? null,
    externalServerId: (s.remotes ?? []).map((r) => added.get(r.url)).find((id) => id !== undefined) ?? null,
  };
}

/** The default external server name: the part of the registry name after `/`, as a slug. */
function slugOf(name: string): string {
  const slug = name
    .slice(name.indexOf('/') + 1)
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^[-_]+/, '')
    .slice(0, 50);
  return slug || 'registry-server';
}

type HeaderState = 'given' | 'from_registry' | 'to_fill';

/**
 * Each header the remote declares: its value from the request (`given`), the registry's fixed value for a
 * non-secret header without `{variables}` (`from_registry`), else to fill (never invented). A header the request
 * gives that the remote does not declare is a 422.
 */
function headerPlan(remote: RegistryRemote, given: Record<string, string>) {
  const declared = remote.headers ?? [];
  const byName = new Map(Object.entries(given).map(([k, v]) => [k.toLowerCase(), v]));
  const unknown = Object.keys(given).filter((k) => !declared.some((h) => h.name.toLowerCase() === k.toLowerCase()));
  if (unknown.length > 0)
    throw new ValidationError(
      'the registry declares no such header',
      unknown.map((k) => ({ path: `/headers/${k}`, message: 'not a header this server’s remote declares' })),
    );
  const values: Record<string, string> = {};
  const plan = declared.map((h) => {
    const value = byName.get(h.name.toLowerCase());
    const fixed = !h.isSecret && h.value !== undefined && !/[{}]/.test(h.value) ? h.value : undefined;
    const state: HeaderState = value !== undefined ? 'given' : fixed !== undefined ? 'from_registry' : 'to_fill';
    if (state !== 'to_fill') values[h.name] = (value ?? fixed)!;
    return { ...presentHeaders({ ...remote, headers: [h] })[0]!, state };
  });
  return { values, plan };
}

/**
 * `POST /registry/add`: one server of the source (a version, else its latest) registered as an external MCP server:
 * its remote's URL (streamable HTTP first) and its declared headers, those without a value listed in `toFill`.
 */
export async function addFromRegistry(deps: ControlPlaneDeps, input: Input<RegistryAddBody>) {
  const { body, caller } = input;
  const { effective } = await registrySettings(deps, caller.workspaceId);
  const server = await readServer(deps.fetchDocument, effective.sourceUrl, body.name, body.version);
  const { remote, unsupported } = pickRemote(server);
  if (!remote) throw new ValidationError(`${server.name} cannot be added`, [{ path: '/name', message: unsupported! }]);
  const { values, plan } = headerPlan(remote, body.headers);
  const external = await createExternalMcpServer(deps, {
    ...input,
    body: { name: body.as ?? slugOf(server.name), url: remote.url, headers: values },
  });
  const toFill = plan.filter((h) => h.state === 'to_fill');
  return {
    id: external.id,
    externalMcpServer: external,
    registry: { source: effective.sourceUrl, name: server.name, version: server.version },
    remote: { type: remote.type, url: remote.url },
    headers: plan,
    toFill: toFill.map((h) => ({
      ...h,
      set: `PATCH /external_mcp_servers/${external.id} {"headers": {"${h.name}": "<value>"}}`,
    })),
  };
}
