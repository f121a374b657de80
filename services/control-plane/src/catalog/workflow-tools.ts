import { createHash } from 'node:crypto';
import type { Catalog, ConnectorDescriptor, ToolStepPlan } from '@toolplane/contracts';
import { loadDocument } from '@toolplane/openapi';
import {
  flowerToolReferences,
  parseToolRef,
  type ToolRef,
  toolRef,
  toolSourcePattern,
  unresolvedSources,
} from '@toolplane/workflow';
import type { Db } from '../db/client.ts';
import { isUuid } from '../db/ids.ts';
import type { StoredOpenApiConnector } from '../documents/openapi-connectors.ts';
import { connectorInstance, type ResolvedSources, type StoredReference } from '../documents/workflow-sources.ts';
import { instanceTools, registeredConfig } from './compile.ts';

/**
 * The tools of the workspace a workflow's steps call (docs/adr/0039-any-tool-as-a-workflow-step.md), resolved at
 * deployment: each one's plan compiled here, from PostgreSQL, and stored with the deployment's documents, so the
 * worker runs it with no database (its credentials, a person's account, rate limits, as a call of that tool).
 *
 * - Arazzo: a source description `toolplane:mcp_servers/<server name or id>` or `toolplane:external_mcp_servers/<name>`
 *   becomes an OpenAPI document listing the server's tools as operations (`POST /tools/<name>`, operationId = the
 *   tool's name), so that steps name a tool by `operationId` as the specification says; the plans of the tools the
 *   steps name are kept.
 * - Flower: a step's `request.url` naming a tool (tool-refs.ts), connector operations included.
 *
 * A hosted server's tools are those of its catalog at the time (a workflow tool among them cannot be a step); an
 * external server's are those it listed last (`POST /external_mcp_servers/{id}/refresh` lists them again).
 * Each plan keeps the tool's cost against cost quotas (absent: 1), which its steps add to the workflow tool's (ADR 0048),
 * and its data-flow labels, which the workflow tool brings with its other steps' (ADR 0078).
 */

interface Issue {
  path: string;
  message: string;
}

/**
 * Who deploys: the workspace, and the servers an API key limited to servers may read (absent: every server). Such a
 * key's steps may call only its own servers' tools (ADR 0045): another server's tools run with that server's
 * credentials and external servers' headers, which the key could not use itself.
 */
export interface DeployScope {
  workspaceId: string;
  serverIds?: readonly string[] | undefined;
}

/** One tool a server offers: its plan, or why a step cannot call it. */
interface OfferedTool {
  name: string;
  description?: string;
  plan: ToolStepPlan | string;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

const decode = (s: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

/**
 * The tools of hosted server `owner` (its name or id), from its live catalog. A server a limited key may not read is
 * not found, as on every route (its existence is not told). Each plan names its server and carries the tool's
 * `confirm` mark (ADR 0045).
 */
async function hostedTools(db: Db, scope: DeployScope, owner: string): Promise<OfferedTool[] | string> {
  const { workspaceId, serverIds } = scope;
  const server = await db.mcpServer.findFirst({
    where: { workspaceId, OR: [{ name: owner }, ...(isUuid(owner) ? [{ id: owner }] : [])] },
    select: { id: true, name: true, catalogVersion: true },
  });
  if (!server || (serverIds && !serverIds.includes(server.id))) return `no MCP server "${owner}" in this workspace`;
  const row = await db.catalogVersion.findUnique({
    where: { serverId_version: { serverId: server.id, version: server.catalogVersion } },
    select: { catalog: true },
  });
  return ((row?.catalog as Catalog | undefined)?.tools ?? []).map((t) => ({
    name: t.tool.name,
    ...(t.tool.description ? { description: t.tool.description } : {}),
    plan:
      t.plan.kind === 'workflow'
        ? `tool "${t.tool.name}" of server "${server.name}" is a workflow: a workflow step cannot call a workflow ` +
          'tool (call the tools its steps call, or write it as a workflow of this document)'
        : {
            plan: t.plan,
            name: t.tool.name,
            serverId: server.id,
            serverName: server.name,
            inputSchema: t.tool.inputSchema,
            ...(t.tool.annotations ? { annotations: t.tool.annotations as Record<string, unknown> } : {}),
            ...(t.source?.instanceId ? { instanceId: t.source.instanceId } : {}),
            ...(t.confirm ? { confirm: true as const } : {}),
            ...(t.cost !== undefined ? { cost: t.cost } : {}),
            ...(t.labels ? { labels: t.labels } : {}),
          },
  }));
}

/** The tools an external MCP server registered in the workspace listed last. */
async function externalTools(db: Db, workspaceId: string, owner: string): Promise<OfferedTool[] | string> {
  const entry = await db.externalMcpServer.findFirst({
    where: { workspaceId, OR: [{ name: owner }, ...(isUuid(owner) ? [{ id: owner }] : [])] },
  });
  if (!entry) return `no external MCP server "${owner}" is registered in this workspace`;
  const cfg = registeredConfig(entry, []);
  return ((entry.tools ?? []) as { name: string; description?: string }[]).map((t) => ({
    name: t.name,
    ...(t.description ? { description: t.description } : {}),
    plan: {
      name: t.name,
      externalServerId: entry.id,
      plan: {
        kind: 'mcp',
        server: cfg.name,
        url: cfg.url,
        remoteTool: t.name,
        ...(cfg.headerSecrets ? { headerSecrets: cfg.headerSecrets } : {}),
      },
    },
  }));
}

/**
 * A connector operation as a tool of its instance (Flower): compiled as the instance's tools are, whether or not
 * its descriptor maps it to a tool (`mcp_config` selects what agents see, not what workflows may call).
 */
async function operationTool(db: Db, workspaceId: string, ref: ToolRef, path: string): Promise<ToolStepPlan | Issue> {
  const found = await connectorInstance(db, workspaceId, ref.owner, ref.instance, path);
  if ('message' in found) return found;
  const connector = found.connector;
  const descriptor = connector.descriptor as Record<string, unknown> & { mcp_config?: Record<string, unknown> };
  const known =
    connector.kind === 'openapi'
      ? (descriptor as unknown as StoredOpenApiConnector).openapi.operations.some((o) => o.operationId === ref.tool)
      : (descriptor as unknown as ConnectorDescriptor).operations.some((o) => o.operation_id === ref.tool);
  if (!known) return { path, message: `connector "${ref.owner}" has no operation "${ref.tool}"` };
  // The labels a route mapping of the operation declares are the operation's for a step too (ADR 0078).
  const routes = descriptor.mcp_config?.route_mappings;
  const routeLabels = (Array.isArray(routes) ? (routes as { operation_id?: unknown; labels?: unknown }[]) : [])
    .filter((m) => m.operation_id === ref.tool)
    .flatMap((m) => (Array.isArray(m.labels) ? (m.labels as string[]) : []));
  const mapping = {
    operation_id: ref.tool,
    mcp_tool_name: 'workflow_step',
    mcp_tool_description: `operation ${ref.tool}`,
    parameter_mappings: {},
    ...(routeLabels.length > 0 ? { labels: [...new Set(routeLabels)] } : {}),
  };
  const only = {
    ...descriptor,
    mcp_config: { ...descriptor.mcp_config, enabled: true, server_name: 'workflow', route_mappings: [mapping] },
  };
  const [tool] = instanceTools(workspaceId, { ...found, connector: { ...connector, descriptor: only } });
  if (!tool) return { path, message: `operation "${ref.tool}" of connector "${ref.owner}" could not be compiled` };
  return {
    plan: tool.plan as ToolStepPlan['plan'],
    name: ref.tool,
    instanceId: found.id,
    ...(tool.cost !== undefined ? { cost: tool.cost } : {}),
    ...(tool.labels ? { labels: tool.labels } : {}),
  };
}

/** The tools of the server a tool reference or an Arazzo tool source names. */
function toolsOf(db: Db, scope: DeployScope, kind: 'mcp_servers' | 'external_mcp_servers', owner: string) {
  return kind === 'mcp_servers' ? hostedTools(db, scope, owner) : externalTools(db, scope.workspaceId, owner);
}

/** The OpenAPI document an Arazzo tool source stands for: one operation per tool, named by the tool. */
function toolsDocument(label: string, tools: OfferedTool[]): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: { title: `Tools of ${label}`, version: '1' },
    paths: Object.fromEntries(
      tools.map((t) => [
        `/tools/${t.name}`,
        {
          post: {
            operationId: t.name,
            ...(t.description ? { summary: t.description.slice(0, 200) } : {}),
            requestBody: { content: { 'application/json': { schema: { type: 'object' } } } },
            responses: { default: { description: 'The tool’s result' } },
          },
        },
      ]),
    ),
  };
}

/** The `operationId`s an Arazzo document's steps name, each with where it is written (for `source`, or unqualified). */
function namedOperations(doc: Record<string, unknown>, source: string): { name: string; path: string }[] {
  const out: { name: string; path: string }[] = [];
  const workflows = Array.isArray(doc.workflows) ? (doc.workflows as Record<string, unknown>[]) : [];
  workflows.forEach((w, wi) => {
    const steps = Array.isArray(w?.steps) ? (w.steps as Record<string, unknown>[]) : [];
    steps.forEach((s, si) => {
      const id = s?.operationId;
      if (typeof id !== 'string') return;
      const path = `/workflows/${wi}/steps/${si}/operationId`;
      const prefix = `$sourceDescriptions.${source}.`;
      if (id.startsWith(prefix)) out.push({ name: id.slice(prefix.length), path });
      else if (!id.startsWith('$sourceDescriptions.')) out.push({ name: id, path });
    });
  });
  return out;
}

/** An Arazzo tool source: its document (the server's tools) and the plans of the tools the steps name. */
async function toolSource(
  db: Db,
  scope: DeployScope,
  doc: Record<string, unknown>,
  source: { index: number; name: string; url: string },
): Promise<{ reference?: StoredReference; issues: Issue[] }> {
  const m = toolSourcePattern.exec(source.url)!;
  const owner = decode(m[2]!);
  const offered = await toolsOf(db, scope, m[1] as 'mcp_servers' | 'external_mcp_servers', owner);
  if (typeof offered === 'string')
    return { issues: [{ path: `/sourceDescriptions/${source.index}/url`, message: offered }] };
  const tools: Record<string, ToolStepPlan> = {};
  const issues: Issue[] = [];
  for (const { name, path } of namedOperations(doc, source.name)) {
    const tool = offered.find((t) => t.name === name);
    if (typeof tool?.plan === 'string') issues.push({ path, message: tool.plan });
    else if (tool) tools[toolRef(source.url, name)] = tool.plan;
  }
  const content = toolsDocument(`${m[1] === 'mcp_servers' ? 'MCP server' : 'external MCP server'} ${owner}`, offered);
  const reference: StoredReference = {
    location: source.url,
    content,
    origin: 'tools',
    source: source.name,
    sha256: sha256(JSON.stringify({ content, tools })),
    tools,
  };
  return { reference, issues };
}

/** A Flower step's tool reference, resolved to its plan. */
async function flowerTool(db: Db, scope: DeployScope, url: string, path: string): Promise<ToolStepPlan | Issue> {
  const ref = parseToolRef(url);
  // The compiler names the forms of a reference it cannot read.
  if (!ref) return { path: '', message: '' };
  if (ref.kind === 'connector') return operationTool(db, scope.workspaceId, ref, path);
  const offered = await toolsOf(
    db,
    scope,
    ref.kind === 'mcp_server' ? 'mcp_servers' : 'external_mcp_servers',
    ref.owner,
  );
  if (typeof offered === 'string') return { path, message: offered };
  const tool = offered.find((t) => t.name === ref.tool);
  if (!tool) return { path, message: `server "${ref.owner}" has no tool "${ref.tool}"` };
  return typeof tool.plan === 'string' ? { path, message: tool.plan } : tool.plan;
}

/**
 * Adds to `resolved` the tools a deployment's document calls (a reference per Arazzo tool source, one for a Flower
 * document's tools) and the problems met (every one, each at its path).
 */
export async function resolveWorkflowTools(
  db: Db,
  scope: DeployScope,
  definition: string,
  resolved: Pick<ResolvedSources, 'references' | 'issues'>,
): Promise<void> {
  let doc: unknown;
  try {
    doc = loadDocument(definition);
  } catch {
    return; // the compiler reports it
  }
  if (typeof doc !== 'object' || doc === null) return;
  const pending = unresolvedSources(doc, resolved.references).filter((s) => toolSourcePattern.test(s.url));
  for (const s of pending) {
    const { reference, issues } = await toolSource(db, scope, doc as Record<string, unknown>, s);
    if (reference) resolved.references.push(reference);
    resolved.issues.push(...issues);
  }
  const flower = flowerToolReferences(doc);
  if (flower.length === 0) return;
  const tools: Record<string, ToolStepPlan> = {};
  for (const { url, path } of flower) {
    if (tools[url]) continue;
    const r = await flowerTool(db, scope, url, path);
    if ('plan' in r) tools[url] = r;
    else if (r.message !== '') resolved.issues.push(r);
  }
  resolved.references.push({
    location: 'toolplane:tools',
    content: {},
    origin: 'tools',
    sha256: sha256(JSON.stringify(tools)),
    tools,
  });
}
