import { createHash } from 'node:crypto';
import type { ConnectorDescriptor, ToolStepPlan } from '@toolplane/contracts';
import { descriptorToOpenApi } from '@toolplane/openapi';
import type { DataPlaneTaskClient } from '@toolplane/queue';
import { type SourceReference, toolSourcePattern, unresolvedSources } from '@toolplane/workflow';
import type { Db } from '../db/client.ts';
import { isUuid } from '../db/ids.ts';

/**
 * Where the OpenAPI documents of an Arazzo deployment come from (docs/workflows.md, "Source
 * descriptions"): the `references` uploaded with it (inline), else the source description's `url`:
 * - `https://…`: fetched once, at deploy time, by the worker through the outbound guard (the control
 *   plane has no egress); plain `http` only for hosts the worker's `OUTBOUND_ALLOW` lists;
 * - `toolplane:connectors/<slug>` or `toolplane:connectors/<slug>/instances/<name or id>`: a connector of the
 *   workspace, whose document (an OpenAPI connector's, or `descriptorToOpenApi` of a connector descriptor) the steps
 *   call and whose instance's credentials they send.
 * Tools of MCP servers (`toolplane:mcp_servers/…`, `toolplane:external_mcp_servers/…`, Flower's tool steps) are
 * resolved by the catalog layer (catalog/workflow-tools.ts), which compiles their plans.
 * Every document is stored with the deployment as it was used, so a redeploy reads nothing again.
 */

/** A deployment's document as stored (`references` column): what was compiled, and where it came from. */
export interface StoredReference extends SourceReference {
  /** Absent: uploaded with the deployment. `tools`: the tools of an MCP server, or (Flower) the tools steps call. */
  origin?: 'url' | 'connector' | 'tools';
  /** The source description it answers (fetched and connector documents). */
  source?: string;
  /** SHA-256 of the content (the text fetched; the connector's document as JSON). */
  sha256?: string;
  fetchedAt?: string;
  /** Where a fetched document came from after redirects. */
  finalUrl?: string;
  connector?: {
    id: string;
    slug: string;
    version: string;
    instanceId: string;
    instanceName: string;
    baseUrl?: string;
    /** A connector descriptor (its document is `descriptorToOpenApi` of it); absent: an OpenAPI connector. */
    kind?: 'descriptor';
  };
  /** `tools`: the compiled plan of each tool the steps call, by reference (`toolRef`), as deployed. */
  tools?: Record<string, ToolStepPlan>;
}

interface Issue {
  path: string;
  message: string;
}

export interface ResolvedSources {
  references: StoredReference[];
  /** Compile options for the sources bound to a connector instance (`ArazzoCompileOptions['connectors']`). */
  connectors: Record<string, { baseUrl?: string; instance?: string; descriptor?: boolean }>;
  issues: Issue[];
}

/** Largest document fetched for a source description. */
const maxSourceDocumentBytes = 10 * 1024 * 1024;
const fetchTimeoutMs = 30_000;

const connectorUrl = /^toolplane:connectors\/([a-z0-9][a-z0-9-]{0,99})(?:\/instances\/([^/?#]+))?\/?$/;

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** A connector-bound source's compile options: the instance's base URL (its credentials go there only) and name. */
function bindingOf(c: NonNullable<StoredReference['connector']>): ResolvedSources['connectors'][string] {
  return {
    ...(c.baseUrl ? { baseUrl: c.baseUrl } : {}),
    instance: c.instanceName,
    ...(c.kind === 'descriptor' ? { descriptor: true } : {}),
  };
}

/** The compile options of stored references (a redeploy): connector-bound sources keep the instance they were deployed with. */
export function connectorsOf(references: readonly StoredReference[]): ResolvedSources['connectors'] {
  const out: ResolvedSources['connectors'] = {};
  for (const r of references)
    if (r.origin === 'connector' && r.source && r.connector) out[r.source] = bindingOf(r.connector);
  return out;
}

/** The Arazzo sources a deployment's references make tool sources (`ArazzoCompileOptions.toolSources`). */
export function toolSourcesOf(references: readonly StoredReference[]): string[] {
  return references.filter((r) => r.origin === 'tools' && r.source !== undefined).map((r) => r.source!);
}

/** Looks up the connector instance a `toolplane:connectors/…` URL names; an issue when it names none or several. */
async function connectorReference(
  db: Db,
  workspaceId: string,
  name: string,
  url: string,
  path: string,
): Promise<StoredReference | Issue> {
  const m = connectorUrl.exec(url);
  if (!m)
    return {
      path,
      message: `${url} is not a connector reference: write toolplane:connectors/<slug> or toolplane:connectors/<slug>/instances/<name or id>`,
    };
  const slug = m[1]!;
  const wanted = m[2] !== undefined ? decodeURIComponent(m[2]) : undefined;
  const found = await connectorInstance(db, workspaceId, slug, wanted, path);
  if ('message' in found) return found;
  const instance = found;
  // A connector descriptor is served as the OpenAPI document its tools are compiled from (descriptorToOpenApi).
  const descriptor = instance.connector.kind !== 'openapi';
  const document = descriptor
    ? descriptorToOpenApi(instance.connector.descriptor as ConnectorDescriptor)
    : (instance.connector.document as Record<string, unknown>);
  return {
    location: url,
    content: document,
    origin: 'connector',
    source: name,
    sha256: sha256(JSON.stringify(document)),
    connector: {
      id: instance.connector.id,
      slug,
      version: instance.connector.version,
      instanceId: instance.id,
      instanceName: instance.name,
      ...(instance.baseUrl ? { baseUrl: instance.baseUrl } : {}),
      ...(descriptor ? { kind: 'descriptor' as const } : {}),
    },
  };
}

/** The one instance of connector `slug` (named `wanted`, else its only one); an issue when there is none or several. */
export async function connectorInstance(
  db: Db,
  workspaceId: string,
  slug: string,
  wanted: string | undefined,
  path: string,
) {
  const connectors = await db.connector.findMany({ where: { workspaceId, slug }, select: { id: true } });
  if (connectors.length === 0) return { path, message: `no connector "${slug}" in this workspace` };
  const instances = await db.connectorInstance.findMany({
    where: {
      workspaceId,
      connector: { slug },
      ...(wanted !== undefined ? { OR: [{ name: wanted }, ...(isUuid(wanted) ? [{ id: wanted }] : [])] } : {}),
    },
    include: { connector: true },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
  });
  if (instances.length === 0)
    return {
      path,
      message:
        wanted !== undefined
          ? `connector "${slug}" has no instance "${wanted}" in this workspace`
          : `connector "${slug}" has no instance in this workspace: create one (POST /api/v1/connector_instances) for its credentials`,
    };
  if (instances.length > 1)
    return {
      path,
      message:
        `connector "${slug}" has ${instances.length} instances named ${instances.map((i) => `"${i.name}" (${i.id})`).join(', ')}: ` +
        `name one, toolplane:connectors/${slug}/instances/<name or id>`,
    };
  return instances[0]!;
}

/** Fetches a source description's document through the worker (outbound guard, size and time limits). */
async function fetchedReference(
  tasks: DataPlaneTaskClient,
  name: string,
  url: string,
  path: string,
): Promise<StoredReference | Issue> {
  const result = await tasks.fetchDocument({
    v: 1,
    taskId: crypto.randomUUID(),
    kind: 'document.fetch',
    url,
    maxBytes: maxSourceDocumentBytes,
    deadlineAt: Date.now() + fetchTimeoutMs,
    replyTo: tasks.clientId,
  });
  if (!result.ok || result.content === undefined)
    return { path, message: `${url} could not be fetched: ${result.error ?? 'no content'}` };
  return {
    location: url,
    content: result.content,
    origin: 'url',
    source: name,
    sha256: sha256(result.content),
    fetchedAt: new Date().toISOString(),
    ...(result.finalUrl && result.finalUrl !== url ? { finalUrl: result.finalUrl } : {}),
  };
}

/**
 * The documents of a deployment: the uploaded ones, then, for every source description none of them
 * answers, the connector's document or the document fetched from its URL. Sources with a relative URL
 * are left to the compiler (which reports them).
 */
export async function resolveWorkflowSources(
  deps: { db: Db; tasks: DataPlaneTaskClient },
  workspaceId: string,
  definition: string,
  uploaded: readonly SourceReference[],
): Promise<ResolvedSources> {
  const references: StoredReference[] = uploaded.map((r) => ({ location: r.location, content: r.content }));
  const connectors: ResolvedSources['connectors'] = {};
  const issues: Issue[] = [];
  // Tool sources (toolplane:mcp_servers/…) are the catalog layer's (catalog/workflow-tools.ts).
  const pending = unresolvedSources(definition, uploaded).filter(
    (s) => (s.url.startsWith('toolplane:') && !toolSourcePattern.test(s.url)) || /^https?:\/\//i.test(s.url),
  );
  const resolved = await Promise.all(
    pending.map((s) => {
      const path = `/sourceDescriptions/${s.index}/url`;
      return s.url.startsWith('toolplane:')
        ? connectorReference(deps.db, workspaceId, s.name, s.url, path)
        : fetchedReference(deps.tasks, s.name, s.url, path);
    }),
  );
  for (const r of resolved) {
    if ('message' in r) issues.push(r);
    else {
      references.push(r);
      if (r.origin === 'connector' && r.source && r.connector) connectors[r.source] = bindingOf(r.connector);
    }
  }
  return { references, connectors, issues };
}

/** What the API shows of a deployment's documents: where each came from and its digest (never the content). */
export function presentSources(references: readonly StoredReference[]) {
  return references.map((r) => ({
    location: r.location,
    origin: r.origin ?? ('inline' as const),
    ...(r.source !== undefined ? { source: r.source } : {}),
    sha256: r.sha256 ?? sha256(typeof r.content === 'string' ? r.content : JSON.stringify(r.content)),
    ...(r.fetchedAt !== undefined ? { fetchedAt: r.fetchedAt } : {}),
    ...(r.finalUrl !== undefined ? { finalUrl: r.finalUrl } : {}),
    ...(r.tools ? { tools: Object.keys(r.tools) } : {}),
    ...(r.connector
      ? {
          connector: {
            slug: r.connector.slug,
            version: r.connector.version,
            instanceId: r.connector.instanceId,
            instanceName: r.connector.instanceName,
          },
        }
      : {}),
  }));
}
