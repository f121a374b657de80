import { markCached } from './result-cache.ts';
import { markShaped, withRouteShapes } from './result-shapes.ts';
import type {
  AuthPlan,
  Catalog,
  CatalogTool,
  ConnectorDescriptor,
  ListRemoteToolsResult,
  WorkflowPlan,
} from '@toolplane/contracts';
import { userSecrets } from '@toolplane/contracts';
import { ValidationError } from '@toolplane/errors';
import {
  annotationLabels,
  compileDescriptorTools,
  connectorRateLimits,
  instanceRateLimitOwner,
  mergeLabels,
} from '@toolplane/openapi';
// Deployments store the compiled IR; catalogs are built from it (and a workflow tool's cost, workflowCost).
import { type WorkflowDocumentIR, type WorkflowIR, type WorkflowTool, workflowCost } from '@toolplane/workflow';
import type { Tx } from '../db/client.ts';
import { compileConnectorTools, type StoredOpenApiConnector } from '../documents/openapi-connectors.ts';
import type { StoredReference } from '../documents/workflow-sources.ts';
import { markApproval, stepApproval, type StoredApprovalRule } from './approvals.ts';
import { markNamed } from './named-tools.ts';
import { externalFeatures, withPublishedUris } from './external-features.ts';
import { type OnChange, type PinState, pinStateOf, servedListing } from './pins.ts';
import { withGuardrails } from './guardrails.ts';
import { externalEventTypes, withEvents } from './events.ts';
import { withClassification, workflowLabels } from './labels.ts';
import { credentialSecretName, serverSecretName, userCredentialSecretName } from './secret-names.ts';

/**
 * Catalog compilation: what one MCP server exposes, from PostgreSQL rows only. No network call
 * happens here: external MCP servers' tool lists are gathered before the transaction and handed in
 * as an `ExternalLister` that answers from memory (see service.ts).
 */

/**
 * An external MCP server as a catalog uses it: a config stored on the server (`externalMcpConfigs`:
 * header names only, the values in one secret) or a server registered on the workspace that the hosted
 * server references (`registryId`; one secret per header value, `headerSecrets`). `tools` narrows the
 * tools taken (none = all).
 */
export interface StoredExternalConfig {
  name: string;
  url: string;
  tools: string[];
  headerNames: string[];
  headersSecret?: string;
  headerSecrets?: Record<string, string>;
  registryId?: string;
  /** A registered server that holds changes for review: its pins and what a changed item serves (ADR 0061). */
  pinning?: { state: PinState; onChange: OnChange };
}

/** A registered external MCP server as stored (the `external_mcp_servers` row). */
export interface RegisteredExternalServer {
  id: string;
  name: string;
  url: string;
  headerSecrets: unknown;
  pins?: unknown;
  autoAccept?: boolean;
  onChange?: string;
}

/** How a hosted server using a registered external MCP server sees it (its own tool selection). */
export function registeredConfig(entry: RegisteredExternalServer, tools: string[]): StoredExternalConfig {
  const headerSecrets = (entry.headerSecrets ?? {}) as Record<string, string>;
  const state = entry.autoAccept === false ? pinStateOf(entry.pins) : null;
  return {
    name: entry.name,
    url: entry.url,
    tools,
    headerNames: Object.keys(headerSecrets).sort(),
    ...(Object.keys(headerSecrets).length > 0 ? { headerSecrets } : {}),
    registryId: entry.id,
    ...(state ? { pinning: { state, onChange: entry.onChange === 'withhold' ? 'withhold' : 'keep_pinned' } } : {}),
  };
}

/** The registered external MCP servers each of `serverIds` references, in the order it lists them. */
export async function registeredExternalConfigs(
  db: Pick<Tx, 'mcpServerExternalServer'>,
  serverIds: string[],
): Promise<Map<string, StoredExternalConfig[]>> {
  const out = new Map<string, StoredExternalConfig[]>();
  if (serverIds.length === 0) return out;
  const refs = await db.mcpServerExternalServer.findMany({
    where: { serverId: { in: serverIds } },
    include: { externalServer: true },
    orderBy: [{ serverId: 'asc' }, { position: 'asc' }],
  });
  for (const r of refs) {
    const list = out.get(r.serverId) ?? [];
    list.push(registeredConfig(r.externalServer, r.tools));
    out.set(r.serverId, list);
  }
  return out;
}

/** A listing; `asServed`: already what a catalog served (a refresh's replay of the last list), not pinned again. */
export type Listing = ListRemoteToolsResult & { asServed?: true };

export type ExternalLister = (cfg: StoredExternalConfig) => Promise<Listing>;

/** What a catalog takes of a listing: under its server's pins when it holds changes for review (ADR 0061). */
function underPins(cfg: StoredExternalConfig, listing: Listing): ListRemoteToolsResult {
  if (!cfg.pinning || !listing.ok || listing.asServed) return listing;
  return servedListing(listing, cfg.pinning.state, cfg.pinning.onChange);
}

export type ServerRow = {
  id: string;
  workspaceId: string;
  name: string;
  description: string | null;
  mode: 'SMART' | 'NORMAL';
  connectorInstanceId: string | null;
  selectedTools: string[];
  /** Tools a person confirms before each call (`confirmTools`); absent in rows read before the column existed. */
  confirmTools?: string[];
  /** Tools whose calls someone else approves first, and the rule (ADR 0049); absent in rows read before them. */
  approvalTools?: string[];
  approvalRule?: unknown;
  /** Settings of portable rules by rule name (ADR 0101); absent in rows read before the column existed. */
  ruleSettings?: unknown;
  isPublic: boolean;
  config: unknown;
  perRequestAuth?: boolean;
  /** NORMAL servers: `run_code` beside the tools (ADR 0068); absent in rows read before the column existed. */
  codeMode?: boolean;
  /** The staging twin (ADR 0112): off, recording or on; absent in rows read before the column existed. */
  twin?: string;
  externalMcpConfigs: unknown;
  bindingWarnings?: string[];
  reservedToolNames?: string[];
  fromDescriptor?: boolean;
  catalogVersion: number;
  createdAt: Date;
  updatedAt: Date;
};

type InstanceWithConnector = {
  id: string;
  name: string;
  baseUrl: string | null;
  /** Where people's OAuth flows go instead of the document's endpoints (`oauth_urls`). */
  oauthUrls?: unknown;
  credentialKeys: string[];
  connector: { slug: string; kind: string; descriptor: unknown; document: unknown };
};

/**
 * An instance's `oauth_urls` as the plan's endpoints: each one named replaces the document's (a token URL replaces
 * the refresh URL too: refreshes go where tokens are issued).
 */
function oauthEndpoints(urls: unknown): {
  authorizeUrl?: string;
  tokenUrl?: string;
  refreshUrl?: string;
  revocationUrl?: string;
} {
  const u = (urls ?? {}) as { authorization_url?: string; token_url?: string; revocation_url?: string };
  return {
    ...(u.authorization_url ? { authorizeUrl: u.authorization_url } : {}),
    ...(u.token_url ? { tokenUrl: u.token_url, refreshUrl: u.token_url } : {}),
    ...(u.revocation_url ? { revocationUrl: u.revocation_url } : {}),
  };
}

/** A server name (slug) for a descriptor's `mcp_config.server_name`, which may be any text. */
export function serverNameFor(serverName: string): string {
  const slug = serverName
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '_')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 100);
  return slug || 'server';
}

/** `mcp_config.enabled: false`: the connector is stored and validated, but none of its operations is a tool. */
export function mcpDisabled(descriptor: unknown): boolean {
  const cfg = (descriptor as { mcp_config?: { enabled?: unknown } } | null)?.mcp_config;
  return cfg?.enabled === false;
}

export function instanceTools(workspaceId: string, instance: InstanceWithConnector): CatalogTool[] {
  if (mcpDisabled(instance.connector.descriptor)) return [];
  const secretNames = Object.fromEntries(
    instance.credentialKeys.map((k) => [k, credentialSecretName(workspaceId, instance.id, k)]),
  );
  const binding = {
    baseUrl: instance.baseUrl ?? undefined,
    secretNames,
    rateLimitOwner: instanceRateLimitOwner(instance.id),
  };
  const tools =
    instance.connector.kind === 'openapi'
      ? compileConnectorTools(
          instance.connector.descriptor as StoredOpenApiConnector,
          instance.connector.document as Record<string, unknown>,
          binding,
        )
      : compileDescriptorTools(instance.connector.descriptor as ConnectorDescriptor, binding);
  return withRouteShapes(tools, instance.connector.descriptor).map((t) => ({
    ...t,
    plan: {
      ...t.plan,
      userSecrets: Object.fromEntries(
        Object.keys(t.plan.secrets).map((field) => [
          field,
          userCredentialSecretName(workspaceId, '{user}', instance.id, field),
        ]),
      ),
      // People's own accounts: each user's tokens for this instance (ADR 0027).
      ...(t.plan.auth?.kind === 'oauth2_authorization_code'
        ? {
            auth: {
              ...t.plan.auth,
              ...oauthEndpoints(instance.oauthUrls),
              connection: userSecrets.oauth(workspaceId, '{user}', instance.id),
            },
          }
        : {}),
    },
    source: { connector: instance.connector.slug, instance: instance.name, instanceId: instance.id },
  }));
}

/**
 * The person's-account auth of an instance (`oauth2_authorization_code`), as its compiled tools carry it: the
 * endpoints and the app's credential fields with their secret names. Undefined for other instances.
 */
export function personAuthOf(
  workspaceId: string,
  instance: InstanceWithConnector,
): { auth: AuthPlan; secrets: Record<string, string> } | undefined {
  for (const t of instanceTools(workspaceId, instance))
    if (t.plan.kind === 'http' && t.plan.auth?.kind === 'oauth2_authorization_code')
      return { auth: t.plan.auth, secrets: t.plan.secrets };
  return undefined;
}

/**
 * Every tool of the workspace (all connector instances), with unique names: a name used by more
 * than one instance gets the instance name appended (`get_ticket__eu`) on all but the first.
 */
async function workspaceTools(tx: Tx, workspaceId: string, reserved: ReadonlySet<string>): Promise<CatalogTool[]> {
  const instances = await tx.connectorInstance.findMany({
    where: { workspaceId },
    include: { connector: true },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
  });
  // Names of deleted sources' tools are taken: another instance's tool of that name keeps its suffix.
  const seen = new Set<string>(reserved);
  const out: CatalogTool[] = [];
  for (const instance of instances) {
    for (const t of instanceTools(workspaceId, instance)) {
      let name = t.tool.name;
      if (seen.has(name)) name = `${name}__${instance.name.replace(/[^A-Za-z0-9_-]/g, '_')}`.slice(0, 128);
      seen.add(name);
      out.push({ ...t, tool: { ...t.tool, name } });
    }
  }
  return out;
}

/**
 * Compiles a server's immutable catalog:
 * - NORMAL with a connector instance: its tools, narrowed to `selectedTools` when given;
 * - NORMAL without one: exactly `selectedTools`, looked up among all the workspace's tools;
 * - SMART: all the workspace's tools, searched and executed through meta tools on the edge.
 * Then the tools of `confirmTools` are marked `confirm` (`markConfirmed`), those of `approvalTools` with the rule, those
 * of `config.resultCache` with their cache (`markCached`; `strictCache`: a write tool there is a 422), every tool gets
 * the server's classification (`config.dataLabels`, `withClassification`), and the guardrails that apply to the
 * server's results are added (`withGuardrails`).
 */
export async function compileCatalog(
  tx: Tx,
  server: ServerRow,
  version: number,
  listExternal: ExternalLister,
  opts: { lenientSelection?: boolean; strictConfirm?: boolean; strictApproval?: boolean; strictCache?: boolean } = {},
): Promise<Catalog> {
  const reserved = new Set(server.reservedToolNames ?? []);
  const own = await compileOwnTools(tx, server, version, opts, reserved);
  // Tools of the server's active workflow deployment (Flower / Arazzo).
  const withWorkflows = await withWorkflowTools(tx, own, server.config, reserved);
  const registered = (await registeredExternalConfigs(tx, [server.id])).get(server.id) ?? [];
  const merged = await mergeExternalTools(
    withWorkflows,
    [...((server.externalMcpConfigs ?? []) as StoredExternalConfig[]), ...registered],
    listExternal,
    reserved,
  );
  const confirmed = markConfirmed(merged, server.confirmTools ?? [], opts.strictConfirm === true);
  const rule = server.approvalRule as StoredApprovalRule | null | undefined;
  const approved = markApproval(confirmed, server.approvalTools ?? [], rule, opts.strictApproval === true);
  const shaped = markShaped(markTaskOnly(approved, taskOnlyTools(server.config)), server.config);
  const cached = markCached(shaped, server.config, opts.strictCache === true);
  const settled = withRuleSettings(cached, server.ruleSettings);
  return withEvents(tx, server, await withGuardrails(tx, server, withClassification(settled, server.config)));
}

/** The server's settings of portable rules (ADR 0101), published as stored; none (null, `{}`): left out. */
function withRuleSettings(catalog: Catalog, stored: unknown): Catalog {
  const settings = stored as Record<string, unknown> | null | undefined;
  return settings && Object.keys(settings).length > 0 ? { ...catalog, ruleSettings: settings } : catalog;
}

/** `config.taskOnlyTools`: names of tools that run only as durable tasks (absent or not a list of names: none). */
function taskOnlyTools(config: unknown): string[] {
  const names = (config as { taskOnlyTools?: unknown } | null | undefined)?.taskOnlyTools;
  return Array.isArray(names) ? names.filter((n): n is string => typeof n === 'string') : [];
}

/**
 * Marks the tools that run only as durable tasks (`config.taskOnlyTools`: long workflows that no HTTP request should
 * wait for; ADR 0040): a client that cannot make tasks is refused them (-32021). A name the server does not expose is
 * a warning.
 */
function markTaskOnly(catalog: Catalog, names: readonly string[]): Catalog {
  if (names.length === 0) return catalog;
  const wanted = new Set(names);
  const tools = catalog.tools.map((t) =>
    wanted.has(t.tool.name) ? { ...t, tool: { ...t.tool, execution: { taskSupport: 'required' as const } } } : t,
  );
  const exposed = new Set(catalog.tools.map((t) => t.tool.name));
  const warnings = names
    .filter((name) => !exposed.has(name))
    .map((name) => `tool "${name}" is to run only as a task (config.taskOnlyTools), but the server does not expose it`);
  return {
    ...catalog,
    tools,
    ...(warnings.length > 0 ? { warnings: [...(catalog.warnings ?? []), ...warnings] } : {}),
  };
}

/**
 * Marks the tools a person confirms before each call (`confirmTools`, ADR 0038: the edge asks before the enqueue).
 * A name of a tool the server does not expose is refused (422, naming it) when the list was just set; otherwise
 * (its tool left the server since) it stays named, and a warning says so: the tool is marked again if it comes back.
 */
export function markConfirmed(catalog: Catalog, names: readonly string[], strict: boolean): Catalog {
  if (names.length === 0) return catalog;
  return markNamed(catalog, names, {
    field: 'confirmTools',
    strict,
    mark: (t) => ({ ...t, confirm: true as const }),
    warning: (name) =>
      `tool "${name}" is to be confirmed by a person (confirmTools), but the server does not expose it`,
  });
}

async function compileOwnTools(
  tx: Tx,
  server: ServerRow,
  version: number,
  opts: { lenientSelection?: boolean },
  reserved: ReadonlySet<string>,
): Promise<Catalog> {
  const base: Omit<Catalog, 'tools'> = {
    v: 1 as const,
    serverId: server.id,
    workspaceId: server.workspaceId,
    version,
    name: server.name,
    ...(server.description ? { description: server.description } : {}),
    isPublic: server.isPublic,
    mode: server.mode,
    ...(server.perRequestAuth ? { perRequestAuth: true } : {}),
    ...(server.codeMode && server.mode === 'NORMAL' ? { codeMode: true } : {}),
    ...(server.twin === 'on' || server.twin === 'recording' ? { twin: server.twin } : {}),
    ...(server.bindingWarnings && server.bindingWarnings.length > 0 ? { warnings: [...server.bindingWarnings] } : {}),
  };
  if (server.mode === 'SMART') return { ...base, tools: await workspaceTools(tx, server.workspaceId, reserved) };
  let tools: CatalogTool[];
  let from: string;
  if (server.connectorInstanceId) {
    const instance = await tx.connectorInstance.findUnique({
      where: { id: server.connectorInstanceId },
      include: { connector: true },
    });
    // A server whose connector instance was deleted keeps existing with no tools.
    if (!instance) return { ...base, tools: [] };
    tools = instanceTools(server.workspaceId, instance);
    // MCP switched off on its connector (`mcp_config.enabled: false`): the server stays, with none of its tools
    // until it is switched on again (ADR 0024), and says why.
    if (mcpDisabled(instance.connector.descriptor))
      base.warnings = [
        ...(base.warnings ?? []),
        `connector ${instance.connector.slug} has mcp_config.enabled: false: none of its operations is a tool ` +
          'until it is enabled again',
      ];
    // Created from the descriptor and not renamed since: `initialize` answers with `server_name` as written.
    const declared = (instance.connector.descriptor as { mcp_config?: { server_name?: unknown } }).mcp_config
      ?.server_name;
    if (server.fromDescriptor && typeof declared === 'string' && serverNameFor(declared) === server.name)
      base.serverInfo = { name: declared };
    from = `connector ${instance.connector.slug}`;
  } else {
    tools = await workspaceTools(tx, server.workspaceId, reserved);
    from = 'this workspace';
  }
  if (server.selectedTools.length > 0) {
    const missing = server.selectedTools.filter((name) => !tools.some((t) => t.tool.name === name));
    // On recompilation (descriptor changed), selected tools that no longer exist are dropped, not fatal.
    if (missing.length > 0 && !opts.lenientSelection) {
      throw new ValidationError(
        'selectedTools names unknown tools',
        missing.map((name) => ({
          path: `/selectedTools/${server.selectedTools.indexOf(name)}`,
          message: `no tool "${name}" in ${from}`,
        })),
      );
    }
    tools = server.selectedTools
      .map((name) => tools.find((t) => t.tool.name === name))
      .filter((t): t is CatalogTool => t !== undefined);
    if (missing.length > 0) {
      const warnings = [
        ...(base.warnings ?? []),
        ...missing.map((name) => `selected tool "${name}" is no longer available in ${from}; it is left out`),
      ];
      return { ...base, warnings, tools };
    }
  } else if (!server.connectorInstanceId) {
    tools = [];
  }
  return { ...base, tools };
}

/** A tool as an external MCP server lists it (`tools/list`): nothing in it is trusted to have a shape. */
interface RemoteTool {
  name?: unknown;
  description?: unknown;
  title?: unknown;
  inputSchema?: unknown;
  annotations?: unknown;
  execution?: { taskSupport?: unknown };
  _meta?: unknown;
}

/** The catalog entry of an external server's tool, under the name it is served as (`name`). */
function externalToolEntry(
  cfg: StoredExternalConfig,
  remote: RemoteTool & { name: string },
  name: string,
): Catalog['tools'][number] {
  // Nothing is declared for an external server's tool: its annotations are hints (ADR 0078).
  const labels = mergeLabels(annotationLabels(remote.annotations));
  const inputSchema =
    remote.inputSchema && typeof remote.inputSchema === 'object'
      ? (remote.inputSchema as Record<string, unknown>)
      : { type: 'object' };
  return {
    tool: {
      name,
      description: typeof remote.description === 'string' ? remote.description : '',
      ...(typeof remote.title === 'string' ? { title: remote.title } : {}),
      // A tool that runs only as a task stays one here: its callers must make tasks (ADR 0040).
      ...(remote.execution?.taskSupport === 'required' ? { execution: { taskSupport: 'required' as const } } : {}),
      inputSchema: inputSchema.type === 'object' ? inputSchema : { type: 'object' },
      // An MCP App's `_meta.ui` (its `ui://` resource, CSP, visibility) goes with the tool (ADR 0058).
      ...(remote._meta && typeof remote._meta === 'object' && !Array.isArray(remote._meta)
        ? { _meta: remote._meta as Record<string, unknown> }
        : {}),
    },
    plan: {
      kind: 'mcp',
      server: cfg.name,
      url: cfg.url,
      remoteTool: remote.name,
      ...(cfg.headersSecret ? { headersSecret: cfg.headersSecret } : {}),
      ...(cfg.headerSecrets ? { headerSecrets: cfg.headerSecrets } : {}),
    },
    source: { connector: `mcp:${cfg.name}`, instance: cfg.name },
    ...(labels ? { labels } : {}),
  };
}

/**
 * Adds the tools of external MCP servers: listed by the worker, filtered by the config's `tools`,
 * prefixed `<name>__` when a name is already taken. A server that cannot be listed is reported in
 * `warnings` and left out; it never fails the catalog.
 */
async function mergeExternalTools(
  catalog: Catalog,
  configs: StoredExternalConfig[],
  listExternal: ExternalLister,
  reserved: ReadonlySet<string>,
): Promise<Catalog> {
  if (configs.length === 0) return catalog;
  const tools = [...catalog.tools];
  const warnings = [...(catalog.warnings ?? [])];
  const taken = new Set([...reserved, ...tools.map((t) => t.tool.name)]);
  const listed = await Promise.all(
    configs.map((c) =>
      listExternal(c).then(
        (listing) => underPins(c, listing),
        (err: unknown) => ({ ok: false as const, error: String(err), tools: [] }),
      ),
    ),
  );
  configs.forEach((cfg, i) => {
    const result = listed[i]!;
    if (!result.ok) {
      warnings.push(`external MCP server "${cfg.name}" could not be listed: ${result.error ?? 'unknown error'}`);
      return;
    }
    for (const remote of result.tools as RemoteTool[]) {
      if (typeof remote.name !== 'string') continue;
      if (cfg.tools.length > 0 && !cfg.tools.includes(remote.name)) continue;
      let name = remote.name;
      if (taken.has(name)) name = `${cfg.name}__${remote.name}`.slice(0, 128);
      taken.add(name);
      tools.push(externalToolEntry(cfg, remote as RemoteTool & { name: string }, name));
    }
  });
  const external = externalFeatures(configs, listed, warnings);
  // Every event type listed (under the pins): `withEvents` keeps those `config.events` names.
  const events = configs.flatMap((cfg, i) =>
    listed[i]!.ok ? externalEventTypes(catalog.serverId, cfg, listed[i]!.events ?? []) : [],
  );
  return {
    ...catalog,
    tools: withPublishedUris(tools, external),
    ...(external.length > 0 ? { external } : {}),
    ...(events.length > 0 ? { events } : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}

/** The plans of the tools `workflows` call, from a deployment's references (absent: none). */
export function workflowToolPlans(references: unknown, workflows: readonly WorkflowIR[]): WorkflowPlan['tools'] {
  const refs = new Set(
    workflows.flatMap((w) => w.steps.flatMap((s) => (s.target.kind === 'tool' ? [s.target.ref] : []))),
  );
  if (refs.size === 0) return undefined;
  const out: NonNullable<WorkflowPlan['tools']> = {};
  for (const r of (references ?? []) as StoredReference[])
    if (r.origin === 'tools')
      for (const [ref, plan] of Object.entries(r.tools ?? {})) if (refs.has(ref)) out[ref] = plan;
  return out;
}

/**
 * The steps of a workflow tool that call a tool a person confirms (ADR 0045): marked so at deployment, or named by its
 * server's `confirmTools` now. The workflow tool inherits the mark (the edge asks before it starts, and the first line
 * of its description, which the prompt shows, names those steps' tools); undefined when no step needs it.
 */
async function confirmedSteps(tx: Tx, stepTools: WorkflowPlan['tools']): Promise<string | undefined> {
  const steps = Object.values(stepTools ?? {});
  const serverIds = [...new Set(steps.flatMap((s) => (s.serverId ? [s.serverId] : [])))];
  const servers =
    serverIds.length > 0
      ? await tx.mcpServer.findMany({
          where: { id: { in: serverIds } },
          select: { id: true, name: true, confirmTools: true },
        })
      : [];
  const byId = new Map(servers.map((s) => [s.id, s]));
  const named = new Set<string>();
  for (const step of steps) {
    const server = step.serverId ? byId.get(step.serverId) : undefined;
    if (step.confirm || server?.confirmTools.includes(step.name))
      named.add(server ? `${step.name} (MCP server "${server.name}")` : step.name);
  }
  if (named.size === 0) return undefined;
  return `Confirmed by a person before it starts: its steps call ${[...named].join(', ')}.`;
}

/** The workflows one may run: itself, its dependencies, workflow steps, goto / retry targets. */
function reachable(ir: WorkflowDocumentIR, workflowId: string): WorkflowIR[] {
  const byId = new Map(ir.workflows.map((w) => [w.id, w]));
  const seen = new Set<string>();
  const visit = (id: string): void => {
    const w = byId.get(id);
    if (!w || seen.has(id)) return;
    seen.add(id);
    w.dependsOn.forEach(visit);
    for (const s of w.steps) {
      if (s.target.kind === 'workflow') visit(s.target.workflowId);
      for (const a of [...s.onSuccess, ...s.onFailure]) if (a.workflowId) visit(a.workflowId);
    }
  };
  visit(workflowId);
  return ir.workflows.filter((w) => seen.has(w.id));
}

/** `$current_user.token` anywhere in the workflows a tool may run (a conservative textual check). */
const readsCallerToken = (workflows: WorkflowIR[]): boolean =>
  /\$current_user\.token\b/.test(JSON.stringify(workflows));

/**
 * The server's opt-in to hand the caller's OAuth access token to its workflows (`$current_user.token`):
 * `config.exposeCallerToken: true`. Off by default: the token is never forwarded upstream.
 */
function exposesCallerToken(serverConfig: unknown): boolean {
  return (
    typeof serverConfig === 'object' &&
    serverConfig !== null &&
    (serverConfig as { exposeCallerToken?: unknown }).exposeCallerToken === true
  );
}

/** Adds the tools of the server's active workflow deployment to a catalog (names already taken get `__workflow`). */
async function withWorkflowTools(
  tx: Tx,
  catalog: Catalog,
  serverConfig: unknown,
  reserved: ReadonlySet<string>,
): Promise<Catalog> {
  const deployment = await tx.workflowDeployment.findFirst({
    where: { serverId: catalog.serverId, state: 'active' },
    orderBy: { activatedAt: 'desc' },
  });
  if (!deployment?.ir) return catalog;
  const ir = deployment.ir as unknown as WorkflowDocumentIR;
  const taken = new Set([...reserved, ...catalog.tools.map((t) => t.tool.name)]);
  const tools: CatalogTool[] = [...catalog.tools];
  const { connectors, warnings } = await workflowConnectors(tx, catalog.workspaceId, deployment.references);
  for (const t of deployment.tools as unknown as WorkflowTool[]) {
    const wf = ir.workflows.find((w) => w.id === t.workflowId);
    if (!wf) continue;
    let name = t.name;
    if (taken.has(name)) name = `${name}__workflow`.slice(0, 128);
    taken.add(name);
    const workflows = reachable(ir, wf.id);
    const plan: WorkflowPlan = {
      kind: 'workflow',
      deploymentId: deployment.id,
      workflowId: wf.id,
      ir: { ...ir, workflows } as unknown as Record<string, unknown>,
      secretNames: Object.fromEntries(
        wf.secrets.map((n) => [n, serverSecretName(catalog.workspaceId, catalog.serverId, n)]),
      ),
      // The edge carries the caller's token in the job only for these tools.
      ...(exposesCallerToken(serverConfig) && readsCallerToken(workflows) ? { callerToken: true } : {}),
      ...(Object.keys(connectors).length > 0 ? { connectors } : {}),
    };
    const stepTools = workflowToolPlans(deployment.references, workflows);
    if (stepTools) plan.tools = stepTools;
    const confirmed = await confirmedSteps(tx, stepTools);
    const approval = await stepApproval(tx, stepTools);
    // What its steps bring into the session and send out, it does (ADR 0078).
    const labels = mergeLabels(workflowLabels(workflows, stepTools));
    if (approval === 'conflict') {
      warnings.push(`workflow tool "${name}" is not exposed: its steps call tools under different approval rules`);
      continue;
    }
    tools.push({
      ...(confirmed ? { confirm: true as const } : {}),
      // Someone else approves the workflow's call before it starts, as its steps' tools need (ADR 0049).
      ...(approval ? { approval } : {}),
      // Its declared cost, else its steps' (each its target's: an operation's, a tool's as deployed, a workflow's).
      cost: workflowCost(ir, wf.id, (ref) => stepTools?.[ref]?.cost),
      ...(labels ? { labels } : {}),
      tool: {
        name,
        description: confirmed ? `${confirmed} ${t.description ?? ''}`.trim() : t.description,
        ...(t.title ? { title: t.title } : {}),
        inputSchema: t.inputSchema,
        outputSchema: t.outputSchema,
      },
      plan,
      source: { connector: `workflow:${ir.id}`, instance: deployment.id },
    });
  }
  const allWarnings = [...(catalog.warnings ?? []), ...warnings];
  return { ...catalog, tools, ...(allWarnings.length > 0 ? { warnings: allWarnings } : {}) };
}

/**
 * The credentials of a deployment's connector-bound Arazzo sources (stored with its documents by
 * modules/workflow-sources.ts): per source, the secret name of each of the instance's credential fields.
 * An instance deleted since leaves its source without credentials (its steps then fail with a clear
 * error) and a warning on the catalog.
 */
async function workflowConnectors(tx: Tx, workspaceId: string, references: unknown) {
  const bound = ((references ?? []) as StoredReference[]).filter((r) => r.origin === 'connector' && r.connector);
  const connectors: NonNullable<WorkflowPlan['connectors']> = {};
  const warnings: string[] = [];
  if (bound.length === 0) return { connectors, warnings };
  const instances = await tx.connectorInstance.findMany({
    where: { workspaceId, id: { in: bound.map((r) => r.connector!.instanceId) } },
    select: { id: true, credentialKeys: true, connector: { select: { descriptor: true } } },
  });
  for (const r of bound) {
    const { instanceId, instanceName } = r.connector!;
    const instance = instances.find((i) => i.id === instanceId);
    if (!instance) {
      warnings.push(
        `connector instance "${instanceName}" (${instanceId}) of workflow source "${r.source}" was deleted: ` +
          'its steps fail until the workflow is deployed with another',
      );
      continue;
    }
    connectors[r.source ?? r.location] = {
      instanceId,
      secrets: Object.fromEntries(
        instance.credentialKeys.map((k) => [k, credentialSecretName(workspaceId, instanceId, k)]),
      ),
      userSecrets: Object.fromEntries(
        instance.credentialKeys.map((k) => [k, userCredentialSecretName(workspaceId, '{user}', instanceId, k)]),
      ),
    };
    // The steps calling the instance's operations spend its budget, keyed as its tools' calls.
    const rateLimits = connectorRateLimits(
      (instance.connector.descriptor as Partial<Pick<ConnectorDescriptor, 'rate_limits'>> | null)?.rate_limits,
      instanceRateLimitOwner(instanceId),
    );
    if (rateLimits) connectors[r.source ?? r.location]!.rateLimits = rateLimits;
  }
  return { connectors, warnings };
}
