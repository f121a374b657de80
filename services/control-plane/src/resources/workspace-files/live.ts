import { QuotaMatch, workspaceSecrets, type PolicyPrincipal } from '@toolplane/contracts';
import type { ProblemIssue } from '@toolplane/errors';
import type { Db } from '../../db/client.ts';
import { hashApiKey } from '../../http/auth.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import { approvalRuleFile } from './approval-rules.ts';
import { connectorText } from './connector-files.ts';
import { GuardrailSpec, QuotaSpec, roleMappingName, type Kind } from './specs.ts';

/** What apply recorded on a resource it manages (`managed_resources`). */
interface Marker {
  file: string;
  references: Record<string, string>;
}

/** A resource of the live workspace in the form its file holds (`spec`), with its id and apply's marker. */
export interface LiveResource {
  kind: Kind;
  name: string;
  /** Its id (a secret's name). */
  id: string;
  spec: Record<string, unknown>;
  marker?: Marker | undefined;
  /** Connectors: what the upload was stored as (kind, descriptor, document) and the text an export writes. */
  connector?: { kind: string; descriptor: unknown; document: unknown; text: string; ext: string };
}

export interface LiveState {
  resources: LiveResource[];
  /** Names two resources of a kind share: the files cannot tell them apart (export refuses, plan reports). */
  ambiguous: ProblemIssue[];
}

/** `TICKETS_API_KEY` from `tickets` and `api_key`: the reference an export proposes for a value it never saw. */
function envName(...parts: string[]): string {
  return parts
    .join('_')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .toUpperCase();
}

/** References of a secret-holding map: the recorded ones (apply's), else one proposed per field. */
function references(marker: Marker | undefined, field: string, keys: string[], owner: string) {
  const out: Record<string, string> = {};
  for (const key of [...keys].sort())
    out[key] = marker?.references[`${field}/${key}`] ?? `\${env:${envName(owner, key)}}`;
  return out;
}

async function markers(db: Db, workspaceId: string) {
  const rows = await db.managedResource.findMany({ where: { workspaceId } });
  const out = new Map<string, Marker>();
  for (const r of rows)
    out.set(`${r.kind}/${r.name}`, { file: r.file, references: r.references as Record<string, string> });
  return out;
}

type Marked = Map<string, Marker>;

async function secretsOf({ secrets }: ControlPlaneDeps, workspaceId: string, marks: Marked): Promise<LiveResource[]> {
  const prefix = workspaceSecrets.prefix(workspaceId);
  return (await secrets.list(prefix))
    .map((m) => m.name.slice(prefix.length))
    .filter((n) => !n.includes('/'))
    .map((name) => ({ kind: 'secret', name, id: name, spec: { name }, marker: marks.get(`secret/${name}`) }));
}

async function externalServersOf(db: Db, workspaceId: string, marks: Marked): Promise<LiveResource[]> {
  const rows = await db.externalMcpServer.findMany({ where: { workspaceId }, orderBy: { name: 'asc' } });
  return rows.map((r) => {
    const marker = marks.get(`external_mcp_server/${r.name}`);
    const headers = Object.keys(r.headerSecrets as Record<string, string>);
    return {
      kind: 'external_mcp_server',
      name: r.name,
      id: r.id,
      spec: {
        name: r.name,
        url: r.url,
        headers: references(marker, 'headers', headers, r.name),
        autoAccept: r.autoAccept,
        onChange: r.onChange,
        notifyWebhookUrl: r.notifyWebhookUrl,
      },
      marker,
    };
  });
}

async function connectorsOf(db: Db, workspaceId: string, marks: Marked): Promise<LiveResource[]> {
  const rows = await db.connector.findMany({ where: { workspaceId }, orderBy: [{ slug: 'asc' }, { version: 'asc' }] });
  return rows.map((r) => {
    const name = `${r.slug}@${r.version}`;
    return {
      kind: 'connector',
      name,
      id: r.id,
      spec: {},
      marker: marks.get(`connector/${name}`),
      connector: { kind: r.kind, descriptor: r.descriptor, document: r.document, ...connectorText(r) },
    };
  });
}

async function instancesOf(db: Db, workspaceId: string, marks: Marked): Promise<LiveResource[]> {
  const rows = await db.connectorInstance.findMany({
    where: { workspaceId },
    include: { connector: { select: { slug: true, version: true } } },
    orderBy: [{ name: 'asc' }, { createdAt: 'asc' }],
  });
  return rows.map((r) => {
    const marker = marks.get(`connector_instance/${r.name}`);
    return {
      kind: 'connector_instance',
      name: r.name,
      id: r.id,
      spec: {
        name: r.name,
        connector: `${r.connector.slug}@${r.connector.version}`,
        baseUrl: r.baseUrl,
        oauthUrls: r.oauthUrls ?? null,
        credentials: references(marker, 'credentials', r.credentialKeys, r.name),
      },
      marker,
    };
  });
}

/** A server's own external MCP configs as its file holds them: header values as references (recorded, else proposed). */
function inlineConfigs(stored: unknown, marker: Marker | undefined, server: string) {
  return ((stored ?? []) as { name: string; url: string; tools?: string[]; headerNames?: string[] }[]).map((c) => ({
    name: c.name,
    url: c.url,
    tools: c.tools ?? [],
    headers: references(marker, `externalMcpConfigs/${c.name}/headers`, c.headerNames ?? [], `${server}_${c.name}`),
  }));
}

async function serversOf(db: Db, workspaceId: string, marks: Marked, instanceNames: Map<string, string>) {
  const rows = await db.mcpServer.findMany({
    where: { workspaceId },
    include: {
      externalServers: { include: { externalServer: { select: { name: true } } }, orderBy: { position: 'asc' } },
    },
    orderBy: { name: 'asc' },
  });
  return rows.map((r): LiveResource => ({
    kind: 'server',
    name: r.name,
    id: r.id,
    spec: {
      name: r.name,
      description: r.description,
      mode: r.mode,
      connectorInstance: r.connectorInstanceId
        ? (instanceNames.get(r.connectorInstanceId) ?? r.connectorInstanceId)
        : null,
      tools: r.selectedTools,
      confirmTools: r.confirmTools,
      approvalTools: r.approvalTools,
      // Keys by id until the keys are read (readLive names them).
      approvalRule: approvalRuleFile(r.approvalRule, new Map()),
      public: r.isPublic,
      perRequestAuth: r.perRequestAuth,
      codeMode: r.codeMode,
      config: (r.config as Record<string, unknown> | null) ?? null,
      externalMcpServers: r.externalServers.map((e) => ({ name: e.externalServer.name, tools: e.tools })),
      externalMcpConfigs: inlineConfigs(r.externalMcpConfigs, marks.get(`server/${r.name}`), r.name),
    },
    marker: marks.get(`server/${r.name}`),
  }));
}

async function deploymentsOf(db: Db, workspaceId: string, marks: Marked, serverNames: Map<string, string>) {
  const rows = await db.workflowDeployment.findMany({
    where: { workspaceId, state: 'active' },
    orderBy: { createdAt: 'asc' },
  });
  return rows.flatMap((r): LiveResource[] => {
    const server = serverNames.get(r.serverId);
    if (!server) return [];
    return [
      {
        kind: 'workflow_deployment',
        name: server,
        id: r.id,
        spec: { server, definition: r.definition, references: r.references, servers: r.servers },
        marker: marks.get(`workflow_deployment/${server}`),
      },
    ];
  });
}

async function usersOf(db: Db, workspaceId: string, marks: Marked): Promise<LiveResource[]> {
  const rows = await db.externalUser.findMany({ where: { workspaceId }, orderBy: { name: 'asc' } });
  return rows.map((r) => ({
    kind: 'external_user',
    name: r.name,
    id: r.id,
    spec: { name: r.name, attributes: r.attributes },
    marker: marks.get(`external_user/${r.name}`),
  }));
}

/**
 * The workspace's keys, but the platform's bootstrap key (BOOTSTRAP_API_KEY): the deployment's, not the workspace's,
 * it is never exported, planned or pruned (docs/gitops.md).
 */
async function keysOf(deps: ControlPlaneDeps, workspaceId: string, marks: Marked, serverNames: Map<string, string>) {
  const bootstrap = deps.env.BOOTSTRAP_API_KEY;
  const rows = await deps.db.apiKey.findMany({
    where: { workspaceId, revokedAt: null, ...(bootstrap ? { hash: { not: hashApiKey(bootstrap) } } : {}) },
    orderBy: [{ name: 'asc' }, { createdAt: 'asc' }],
  });
  return rows.map((r): LiveResource => ({
    kind: 'api_key',
    name: r.name,
    id: r.id,
    spec: {
      name: r.name,
      scopes: r.scopes,
      servers: r.serverIds.length > 0 ? r.serverIds.map((id) => serverNames.get(id) ?? id) : null,
    },
    marker: marks.get(`api_key/${r.name}`),
  }));
}

async function policiesOf(
  db: Db,
  workspaceId: string,
  marks: Marked,
  names: { servers: Map<string, string>; keys: Map<string, string> },
) {
  const rows = await db.accessPolicy.findMany({ where: { workspaceId }, orderBy: { name: 'asc' } });
  return rows.map((r): LiveResource => ({
    kind: 'access_policy',
    name: r.name,
    id: r.id,
    spec: {
      name: r.name,
      description: r.description,
      principals: (r.principals as PolicyPrincipal[]).map((p) =>
        p.type === 'api_key'
          ? { type: p.type, value: names.keys.get(p.value) ?? p.value }
          : { type: p.type, value: p.value },
      ),
      servers: r.servers.map((s) => (s === '*' ? s : (names.servers.get(s) ?? s))),
      tools: r.tools,
      condition: r.condition,
      onFalse: r.onFalse,
      approval: approvalRuleFile(r.approval, names.keys),
      enforce: r.enforce,
    },
    marker: marks.get(`access_policy/${r.name}`),
  }));
}

/** A quota's match as its file holds it: servers and API keys by name (an unknown id stays as it is), in a fixed order. */
function matchByName(stored: unknown, names: { servers: Map<string, string>; keys: Map<string, string> }) {
  const match = (stored ?? {}) as Record<string, unknown>;
  const byName = (list: unknown, of: Map<string, string>) => (list as string[]).map((id) => of.get(id) ?? id);
  return Object.fromEntries(
    Object.keys(QuotaMatch.shape).flatMap((field) => {
      const value = match[field];
      if (value === undefined) return [];
      if (field === 'servers') return [[field, byName(value, names.servers)]];
      if (field === 'apiKeys') return [[field, byName(value, names.keys)]];
      return [[field, value]];
    }),
  );
}

/** The workspace's quotas: each field its file has (the API's, `QuotaSpec`), as the quota's row holds it. */
async function quotasOf(
  db: Db,
  workspaceId: string,
  marks: Marked,
  names: { servers: Map<string, string>; keys: Map<string, string> },
) {
  const rows = await db.quota.findMany({ where: { workspaceId }, orderBy: { name: 'asc' } });
  return rows.map((r): LiveResource => {
    const row = r as unknown as Record<string, unknown>;
    const spec = Object.fromEntries(
      Object.keys(QuotaSpec.shape).map((field) => [
        field,
        field === 'match' ? matchByName(r.match, names) : (row[field] ?? null),
      ]),
    );
    return { kind: 'quota', name: r.name, id: r.id, spec, marker: marks.get(`quota/${r.name}`) };
  });
}

/** The workspace's guardrails: each field its file has (`GuardrailSpec`) as the row holds it, the server by name. */
async function guardrailsOf(db: Db, workspaceId: string, marks: Marked, serverNames: Map<string, string>) {
  const rows = await db.guardrail.findMany({ where: { workspaceId }, orderBy: { name: 'asc' } });
  return rows.map((r): LiveResource => {
    const row = r as unknown as Record<string, unknown>;
    const server = r.serverId === null ? null : (serverNames.get(r.serverId) ?? r.serverId);
    const spec = Object.fromEntries(
      Object.keys(GuardrailSpec.shape).map((field) => [field, field === 'server' ? server : (row[field] ?? null)]),
    );
    return { kind: 'guardrail', name: r.name, id: r.id, spec, marker: marks.get(`guardrail/${r.name}`) };
  });
}

/** The workspace's role mapping as its file holds it (`PUT /role_mappings`' body); none when it maps no roles. */
async function roleMappingOf(db: Db, workspaceId: string, marks: Marked): Promise<LiveResource[]> {
  const row = await db.roleMapping.findUnique({ where: { workspaceId } });
  if (!row) return [];
  // In the order of the API's body (jsonb keeps keys in an order of its own): the subject or group, then the roles.
  const assignments = (row.assignments as { subject?: string; group?: string; roles: string[] }[]).map((a) =>
    a.subject !== undefined ? { subject: a.subject, roles: a.roles } : { group: a.group, roles: a.roles },
  );
  const spec = { groupsClaim: row.groupsClaim, assignments };
  const marker = marks.get(`role_mapping/${roleMappingName}`);
  return [{ kind: 'role_mapping', name: roleMappingName, id: workspaceId, spec, marker }];
}

/** The ids of the live resources of `kind`, by name. */
export function idsByName(live: LiveState, kind: Kind): Map<string, string> {
  return new Map(live.resources.filter((r) => r.kind === kind).map((r) => [r.name, r.id]));
}

/** Names two resources of a kind share. */
function ambiguity(resources: LiveResource[]): ProblemIssue[] {
  const seen = new Map<string, number>();
  for (const r of resources) seen.set(`${r.kind}/${r.name}`, (seen.get(`${r.kind}/${r.name}`) ?? 0) + 1);
  return [...seen]
    .filter(([, n]) => n > 1)
    .map(([key, n]) => ({
      path: key,
      message: `${n} resources of the workspace share this name: rename all but one (workspace files name resources, never ids)`,
    }));
}

/** The workspace as its files would describe it, every kind, in apply's order. */
export async function readLive(deps: ControlPlaneDeps, workspaceId: string): Promise<LiveState> {
  const { db } = deps;
  const marks = await markers(db, workspaceId);
  const instances = await instancesOf(db, workspaceId, marks);
  const servers = await serversOf(db, workspaceId, marks, new Map(instances.map((i) => [i.id, i.name])));
  const serverNames = new Map(servers.map((s) => [s.id, s.name]));
  const keys = await keysOf(deps, workspaceId, marks, serverNames);
  const names = { servers: serverNames, keys: new Map(keys.map((k) => [k.id, k.name])) };
  for (const server of servers) server.spec.approvalRule = approvalRuleFile(server.spec.approvalRule, names.keys);
  const resources = [
    ...(await secretsOf(deps, workspaceId, marks)),
    ...(await externalServersOf(db, workspaceId, marks)),
    ...(await connectorsOf(db, workspaceId, marks)),
    ...instances,
    ...servers,
    ...(await deploymentsOf(db, workspaceId, marks, serverNames)),
    ...(await usersOf(db, workspaceId, marks)),
    ...keys,
    ...(await policiesOf(db, workspaceId, marks, names)),
    ...(await quotasOf(db, workspaceId, marks, names)),
    ...(await guardrailsOf(db, workspaceId, marks, serverNames)),
    ...(await roleMappingOf(db, workspaceId, marks)),
  ];
  return { resources, ambiguous: ambiguity(resources) };
}
