import type { ListRemoteToolsResult } from '@toolplane/contracts';
import type { ProblemIssue } from '@toolplane/errors';
import { instanceTools, registeredConfig, type StoredExternalConfig } from '../../catalog/compile.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import { inlineConfigsOf, type Change, type Kind } from './kind.ts';
import type { Plan } from './plan.ts';

/**
 * A server's `confirmTools` (and `approvalTools`, checked the same way) must name tools it exposes: apply's step that
 * creates a server, or sets its list, compiles its catalog strictly (catalog/compile.ts `markConfirmed`) and is refused
 * (422) for any other name, half-way through the apply. So plan computes what each such server exposes at that step,
 * as `compileCatalog` does: its own tools (a connector instance's, narrowed by `tools`; the workspace's for SMART, or
 * picked by `tools`: `instanceTools` on the connector as the files or the workspace have it), its live workflow
 * deployment's tools, and its external MCP servers' tools (listed through the worker, as apply lists them). The step
 * finds the kinds applied before servers written (connectors, instances, external MCP servers) and nothing deleted yet;
 * deployments come after servers.
 * Where plan cannot tell (headers whose values it does not have), a name that could come from there is not reported.
 */

/** What plan reads once per plan: the changes by `kind/name`, the listings and compiled instances so far. */
interface Ctx {
  deps: ControlPlaneDeps;
  workspaceId: string;
  plan: Plan;
  changes: Map<string, Change>;
  instanceNames: Map<string, string[] | undefined>;
  listings: Map<string, Promise<ListRemoteToolsResult>>;
}

/** The server row apply's step reads: the names it keeps for deleted sources, its stored external configs. */
interface ServerRow {
  reservedToolNames: string[];
  externalMcpConfigs: unknown;
}

const keyOf = (kind: Kind, name: string) => `${kind}/${name}`;

/** A resource as apply's server steps find it: as the files write it, else as it is (deletions come later). */
function specOf(ctx: Ctx, kind: Kind, name: string): Record<string, unknown> | undefined {
  const c = ctx.changes.get(keyOf(kind, name));
  return c?.desired?.spec ?? c?.live?.spec;
}

/** A connector (`slug@version`) as its instances compile: the files' document, else the workspace's. */
function connectorOf(ctx: Ctx, name: string) {
  const c = ctx.changes.get(keyOf('connector', name));
  const source = c?.desired?.connector ?? c?.live?.connector;
  if (!source) return undefined;
  const slug = name.slice(0, name.indexOf('@'));
  return { slug, kind: source.kind, descriptor: source.descriptor, document: source.document };
}

/** The names of a connector instance's tools (undefined: its connector is not known, a problem of its own). */
function instanceNames(ctx: Ctx, instance: string): string[] | undefined {
  if (ctx.instanceNames.has(instance)) return ctx.instanceNames.get(instance);
  const spec = specOf(ctx, 'connector_instance', instance);
  const connector = spec ? connectorOf(ctx, String(spec.connector)) : undefined;
  const names = connector
    ? instanceTools(ctx.workspaceId, {
        id: instance,
        name: instance,
        baseUrl: null,
        credentialKeys: [],
        connector,
      }).map((t) => t.tool.name)
    : undefined;
  ctx.instanceNames.set(instance, names);
  return names;
}

/**
 * The workspace's tools (every instance, oldest first: those the apply creates last, in its order), a name already
 * taken suffixed with its instance's name, as `compileCatalog` names them.
 */
async function workspaceNames(ctx: Ctx, reserved: readonly string[]): Promise<string[] | undefined> {
  const rows = await ctx.deps.db.connectorInstance.findMany({
    where: { workspaceId: ctx.workspaceId },
    select: { name: true },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
  });
  const created = ctx.plan.changes.filter((c) => c.kind === 'connector_instance' && c.action === 'create');
  const seen = new Set(reserved);
  const out: string[] = [];
  for (const instance of [...rows.map((r) => r.name), ...created.map((c) => c.name)]) {
    const names = instanceNames(ctx, instance);
    if (!names) return undefined;
    for (const tool of names) {
      const name = seen.has(tool) ? `${tool}__${instance.replace(/[^A-Za-z0-9_-]/g, '_')}`.slice(0, 128) : tool;
      seen.add(name);
      out.push(name);
    }
  }
  return out;
}

/** The server's own tools: a connector instance's (narrowed by `tools`), the workspace's (SMART, or picked by `tools`). */
async function ownNames(ctx: Ctx, spec: Record<string, unknown>, reserved: readonly string[]) {
  const selected = (spec.tools ?? []) as string[];
  if (spec.mode === 'SMART') return workspaceNames(ctx, reserved);
  if (!spec.connectorInstance && selected.length === 0) return [];
  const available = spec.connectorInstance
    ? instanceNames(ctx, String(spec.connectorInstance))
    : await workspaceNames(ctx, reserved);
  if (!available || selected.length === 0) return available;
  return selected.filter((name) => available.includes(name));
}

/** The tools of the server's live workflow deployment (a name taken: `__workflow`), as `compileCatalog` adds them. */
async function workflowNames(ctx: Ctx, serverId: string | undefined, taken: Set<string>): Promise<string[]> {
  if (!serverId) return [];
  const deployment = await ctx.deps.db.workflowDeployment.findFirst({
    where: { serverId, state: 'active' },
    orderBy: { activatedAt: 'desc' },
    select: { ir: true, tools: true },
  });
  if (!deployment?.ir) return [];
  const workflows = new Set((deployment.ir as { workflows: { id: string }[] }).workflows.map((w) => w.id));
  return (deployment.tools as unknown as { name: string; workflowId: string }[])
    .filter((t) => workflows.has(t.workflowId))
    .map((t) => {
      const name = taken.has(t.name) ? `${t.name}__workflow`.slice(0, 128) : t.name;
      taken.add(name);
      return name;
    });
}

/** An external MCP server of the server at its step: its config to list, or only its name and tools (not listable). */
type External = { config: StoredExternalConfig } | { name: string; tools: string[] };

/**
 * The server's external MCP servers at its step, its own before the registered ones. Plan has no header values: a
 * config whose headers the apply writes cannot be listed now, one whose stored headers stay is listed with them.
 */
async function externalsOf(ctx: Ctx, c: Change, row: ServerRow | undefined): Promise<External[]> {
  const spec = c.desired!.spec;
  const inline: External[] =
    row && !c.fields.includes('externalMcpConfigs')
      ? ((row.externalMcpConfigs ?? []) as StoredExternalConfig[]).map((config) => ({ config }))
      : inlineConfigsOf(spec).map(({ name, url, tools, headers }) =>
          Object.keys(headers).length === 0 ? { config: { name, url, tools, headerNames: [] } } : { name, tools },
        );
  const refs = (spec.externalMcpServers ?? []) as { name: string; tools: string[] }[];
  if (refs.length === 0) return inline;
  const rows = await ctx.deps.db.externalMcpServer.findMany({
    where: { workspaceId: ctx.workspaceId, name: { in: refs.map((r) => r.name) } },
  });
  const registered = refs.map(({ name, tools }): External => {
    const change = ctx.changes.get(keyOf('external_mcp_server', name));
    const ext = specOf(ctx, 'external_mcp_server', name) as
      { url: string; headers: Record<string, string> } | undefined;
    if (!ext) return { name, tools };
    const stored = rows.find((r) => r.name === name);
    const headersWritten = !stored || change?.action === 'create' || change?.fields.includes('headers');
    if (Object.keys(ext.headers).length > 0 && headersWritten) return { name, tools };
    const headerSecrets = Object.keys(ext.headers).length > 0 ? stored!.headerSecrets : {};
    return { config: registeredConfig({ id: stored?.id ?? name, name, url: ext.url, headerSecrets }, tools) };
  });
  return [...inline, ...registered];
}

/** Lists an external MCP server through the worker, once per plan (as apply lists it: catalog/service.ts). */
function listed(ctx: Ctx, config: StoredExternalConfig): Promise<ListRemoteToolsResult> {
  const key = JSON.stringify([config.url, config.headersSecret ?? null, config.headerSecrets ?? null]);
  let listing = ctx.listings.get(key);
  if (!listing) ctx.listings.set(key, (listing = ctx.deps.catalog.listOne(config)));
  return listing;
}

/** What the external MCP servers add: names (a name taken: `<server>__<tool>`), and what plan cannot tell. */
interface ExternalNames {
  names: string[];
  /** Names a server plan cannot list may add; `*`: any name. */
  maybe: Set<string> | '*';
  /** Why a tool may be missing: a server that could not be listed. */
  notes: string[];
}

async function externalNames(ctx: Ctx, externals: External[], taken: Set<string>): Promise<ExternalNames> {
  const out: ExternalNames = { names: [], maybe: new Set(), notes: [] };
  const results = await Promise.all(
    externals.map((e) => ('config' in e ? listed(ctx, e.config) : Promise.resolve(undefined))),
  );
  let unknownBefore = false;
  externals.forEach((e, i) => {
    const name = 'config' in e ? e.config.name : e.name;
    const tools = 'config' in e ? e.config.tools : e.tools;
    const prefixed = (tool: string) => `${name}__${tool}`.slice(0, 128);
    const result = results[i];
    if (!result) {
      unknownBefore = true;
      if (tools.length === 0) out.maybe = '*';
      else if (out.maybe !== '*') for (const t of tools) out.maybe.add(t).add(prefixed(t));
      return;
    }
    if (!result.ok) {
      out.notes.push(`external MCP server "${name}" could not be listed: ${result.error ?? 'unknown error'}`);
      return;
    }
    for (const remote of result.tools as { name?: unknown }[]) {
      if (typeof remote.name !== 'string' || (tools.length > 0 && !tools.includes(remote.name))) continue;
      const exposed = taken.has(remote.name) ? prefixed(remote.name) : remote.name;
      taken.add(exposed);
      out.names.push(exposed);
      if (unknownBefore && out.maybe !== '*') out.maybe.add(remote.name).add(prefixed(remote.name));
    }
  });
  return out;
}

/** Why a tool the files mean to confirm may not be there yet: its deployment comes after its server. */
function deploymentNote(ctx: Ctx, server: string): string[] {
  const d = ctx.changes.get(keyOf('workflow_deployment', server));
  return d && (d.action === 'create' || d.action === 'update')
    ? [`${d.file} is applied after the server: a tool of the workflow is confirmed once it is deployed`]
    : [];
}

/** The lists of tool names a server must expose, and what a name in each is for. */
const toolLists = {
  confirmTools: 'confirmed',
  approvalTools: 'approved before each call',
} as const;
type ToolList = keyof typeof toolLists;

/** The problems of one server's `confirmTools` and `approvalTools`: each name of no tool it exposes at its step. */
async function serverProblems(ctx: Ctx, c: Change, lists: ToolList[]): Promise<ProblemIssue[]> {
  const spec = c.desired!.spec;
  const named = lists.flatMap((list) => (spec[list] as string[]).map((name, i) => ({ list, name, i })));
  const row = c.live
    ? ((await ctx.deps.db.mcpServer.findUnique({
        where: { id: c.live.id },
        select: { reservedToolNames: true, externalMcpConfigs: true },
      })) ?? undefined)
    : undefined;
  // Choosing the tool source again frees the names kept for deleted sources (servers/update.ts).
  const rebound = ['connectorInstance', 'tools', 'mode'].some((f) => c.fields.includes(f));
  const reserved = row && !rebound ? row.reservedToolNames : [];
  const own = await ownNames(ctx, spec, reserved);
  if (!own) return [];
  const taken = new Set([...reserved, ...own]);
  const exposed = new Set([...own, ...(await workflowNames(ctx, c.live?.id, taken))]);
  if (named.every(({ name }) => exposed.has(name))) return [];
  const external = await externalNames(ctx, await externalsOf(ctx, c, row), taken);
  for (const name of external.names) exposed.add(name);
  const notes = [...external.notes, ...deploymentNote(ctx, c.name)];
  return named.flatMap(({ list, name, i }) =>
    exposed.has(name) || external.maybe === '*' || external.maybe.has(name)
      ? []
      : [
          {
            path: `${c.file}#/${list}/${i}`,
            message: [
              `no tool "${name}" on this server: only a tool it exposes can be ${toolLists[list]}`,
              ...notes,
            ].join('; '),
          },
        ],
  );
}

/** The lists apply's step for `c` sets (compiled strictly): on a create, each not empty; on an update, each changed. */
function listsSet(c: Change): ToolList[] {
  if (c.kind !== 'server' || (c.action !== 'create' && c.action !== 'update')) return [];
  return (Object.keys(toolLists) as ToolList[]).filter(
    (list) => (c.desired!.spec[list] as string[]).length > 0 && (c.action === 'create' || c.fields.includes(list)),
  );
}

/**
 * The `confirmTools` and `approvalTools` problems of a plan: of each server apply creates with a list, or whose list
 * it sets (the steps whose catalog is compiled strictly; another server keeps a name that left it, with a warning). A
 * server whose file has a problem already is not checked (what it names may not exist).
 */
export async function confirmToolProblems(deps: ControlPlaneDeps, workspaceId: string, plan: Plan) {
  const checked = plan.changes.filter(
    (c) => listsSet(c).length > 0 && !plan.problems.some((p) => p.path.startsWith(`${c.file}#`)),
  );
  if (checked.length === 0) return [];
  const ctx: Ctx = {
    deps,
    workspaceId,
    plan,
    changes: new Map(plan.changes.map((c) => [keyOf(c.kind, c.name), c])),
    instanceNames: new Map(),
    listings: new Map(),
  };
  const problems: ProblemIssue[] = [];
  for (const c of checked) problems.push(...(await serverProblems(ctx, c, listsSet(c))));
  return problems;
}
