import { accessPoliciesOperations } from '../access-policies/operations.ts';
import { apiKeysOperations } from '../api-keys/operations.ts';
import { connectorInstancesOperations } from '../connector-instances/operations.ts';
import { connectorsOperations } from '../connectors/operations.ts';
import { deploymentsOperations } from '../deployments/operations.ts';
import { externalMcpServersOperations } from '../external-mcp-servers/operations.ts';
import { externalUsersOperations } from '../external-users/operations.ts';
import { guardrailsOperations } from '../guardrails/operations.ts';
import { secretsOperations } from '../secrets/operations.ts';
import { operationOf, type Operation } from '../operation.ts';
import { quotasOperations } from '../quotas/operations.ts';
import { roleMappingsOperations } from '../role-mappings/operations.ts';
import { serversOperations } from '../servers/operations.ts';
import { approvalRuleBody } from './approval-rules.ts';
import type { Change } from './plan.ts';
import { inlineConfigsOf, referencePattern, type Kind } from './specs.ts';

/** One step of an apply: an operation of a table, with its path, query and body. */
export interface Step {
  op: Operation;
  params?: Record<string, string>;
  query?: Record<string, string>;
  body?: unknown;
}

/** What a step reads besides its change: the ids of resources by `kind/name` (those created so far included), the values. */
export interface StepContext {
  ids: Map<string, string>;
  values: Record<string, string>;
}

type Spec = Record<string, unknown>;

/** A step running `operationId` of `table` with its path, query and body. */
const run = (table: Parameters<typeof operationOf>[0], operationId: string, rest: Omit<Step, 'op'> = {}): Step => ({
  op: operationOf(table, operationId),
  ...rest,
});

/** A reference's value (plan checked that the client gave every one apply writes). */
function valueOf(ref: string, ctx: StepContext): string {
  const [, source, name] = referencePattern.exec(ref)!;
  return ctx.values[`${source}:${name}`] ?? '';
}

const resolved = (map: unknown, ctx: StepContext) =>
  Object.fromEntries(Object.entries((map ?? {}) as Record<string, string>).map(([k, ref]) => [k, valueOf(ref, ctx)]));

function idOf(ctx: StepContext, kind: Kind, name: string): string {
  return ctx.ids.get(`${kind}/${name}`) ?? name;
}

const changed = (c: Change, field: string) => c.action === 'create' || c.fields.includes(field);

function secretStep(c: Change, ctx: StepContext): Step | undefined {
  if (c.action === 'delete') return run(secretsOperations, 'deleteSecret', { params: { name: c.name } });
  if (c.action !== 'create') return undefined;
  const value = valueOf(`\${secret:${c.name}}`, ctx);
  return run(secretsOperations, 'setSecret', { params: { name: c.name }, body: { value } });
}

/** An external server's review settings (ADR 0061), as both its create and its update take them. */
const reviewFields = ['autoAccept', 'onChange', 'notifyWebhookUrl'] as const;

function externalServerStep(c: Change, s: Spec, ctx: StepContext): Step | undefined {
  const review = Object.fromEntries(reviewFields.filter((f) => changed(c, f)).map((f) => [f, s[f]]));
  if (c.action === 'create')
    return run(externalMcpServersOperations, 'createExternalMcpServer', {
      body: { name: s.name, url: s.url, headers: resolved(s.headers, ctx), ...review },
    });
  if (!c.fields.some((f) => f === 'url' || f === 'headers' || f in review)) return undefined;
  const headers: Record<string, string | null> = {};
  if (changed(c, 'headers')) {
    for (const h of Object.keys((c.live!.spec.headers ?? {}) as object)) headers[h] = null;
    Object.assign(headers, resolved(s.headers, ctx));
  }
  return run(externalMcpServersOperations, 'updateExternalMcpServer', {
    params: { id: c.live!.id },
    body: { url: s.url, ...(changed(c, 'headers') ? { headers } : {}), ...review },
  });
}

function connectorStep(c: Change): Step | undefined {
  if (c.action === 'create') return run(connectorsOperations, 'pushConnector', { body: c.desired!.connector!.text });
  if (!c.fields.includes('document')) return undefined;
  return run(connectorsOperations, 'updateConnector', {
    params: { id: c.live!.id },
    body: c.desired!.connector!.text,
  });
}

function instanceStep(c: Change, s: Spec, ctx: StepContext): Step | undefined {
  if (c.action === 'create')
    return run(connectorInstancesOperations, 'createConnectorInstance', {
      body: {
        connector_id: idOf(ctx, 'connector', String(s.connector)),
        name: s.name,
        ...(s.baseUrl ? { base_url: s.baseUrl } : {}),
        ...(s.oauthUrls ? { oauth_urls: s.oauthUrls } : {}),
        credentials: resolved(s.credentials, ctx),
        // Its servers are files of their own.
        createServer: false,
      },
    });
  const body: Spec = {};
  if (changed(c, 'baseUrl')) body.base_url = s.baseUrl;
  if (changed(c, 'oauthUrls')) body.oauth_urls = s.oauthUrls;
  if (changed(c, 'credentials')) body.credentials = resolved(s.credentials, ctx);
  if (Object.keys(body).length === 0) return undefined;
  return run(connectorInstancesOperations, 'updateConnectorInstance', {
    params: { id: c.live!.id },
    body,
  });
}

/** Which of a server's fields a step writes: all, all but its approvals (they wait), or only its approvals. */
export type ServerPart = 'all' | 'withoutApproval' | 'approval';

const approvalFields = new Set(['approvalTools', 'approvalRule']);

/** A server file's fields as the API's body names them. */
function serverBody(c: Change, s: Spec, ctx: StepContext, part: ServerPart): Spec {
  const all: Spec = {
    description: s.description,
    mode: s.mode,
    connectorInstanceId: s.connectorInstance ? idOf(ctx, 'connector_instance', String(s.connectorInstance)) : undefined,
    selectedTools: s.tools,
    confirmTools: s.confirmTools,
    approvalTools: s.approvalTools,
    approvalRule: approvalRuleBody(s.approvalRule, (name) => idOf(ctx, 'api_key', name)),
    isPublic: s.public,
    perRequestAuth: s.perRequestAuth,
    codeMode: s.codeMode,
    config: s.config ?? undefined,
    externalMcpServers: s.externalMcpServers,
    externalMcpConfigs: inlineConfigsOf(s).map((c) => ({ ...c, headers: resolved(c.headers, ctx) })),
  };
  const names: Record<string, string> = {
    connectorInstanceId: 'connectorInstance',
    selectedTools: 'tools',
    isPublic: 'public',
  };
  const creating = c.action === 'create' && part !== 'approval';
  const body: Spec = creating ? { name: s.name } : {};
  for (const [key, value] of Object.entries(all)) {
    if (value === undefined || !changed(c, names[key] ?? key)) continue;
    if (approvalFields.has(key) ? part === 'withoutApproval' : part === 'approval') continue;
    if (creating && value === null) continue;
    body[key] = value;
  }
  return body;
}

/** A server's step; its approvals alone (`approval`) update the server created or changed before. */
function serverStep(c: Change, s: Spec, ctx: StepContext, part: ServerPart): Step | undefined {
  const body = serverBody(c, s, ctx, part);
  if (c.action === 'create' && part !== 'approval') return run(serversOperations, 'createServer', { body });
  if (Object.keys(body).length === 0) return undefined;
  return run(serversOperations, 'updateServer', { params: { id: c.live?.id ?? idOf(ctx, 'server', c.name) }, body });
}

function deploymentStep(c: Change, s: Spec, ctx: StepContext): Step | undefined {
  if (c.action === 'update' && !c.fields.some((f) => f !== 'managed')) return undefined;
  return run(deploymentsOperations, 'deployWorkflow', {
    params: { id: idOf(ctx, 'server', String(s.server)) },
    body: { definition: s.definition, references: s.references, servers: s.servers },
  });
}

function userStep(c: Change, s: Spec): Step | undefined {
  if (c.action === 'create')
    return run(externalUsersOperations, 'createExternalUser', {
      body: { name: s.name, attributes: s.attributes },
    });
  if (!c.fields.includes('attributes')) return undefined;
  return run(externalUsersOperations, 'updateExternalUser', {
    params: { name: c.name },
    body: { attributes: s.attributes },
  });
}

function keyStep(c: Change, s: Spec, ctx: StepContext): Step | undefined {
  const serverIds = s.servers ? (s.servers as string[]).map((n) => idOf(ctx, 'server', n)) : null;
  if (c.action === 'create')
    return run(apiKeysOperations, 'createApiKey', {
      body: { name: s.name, scopes: s.scopes, ...(serverIds ? { serverIds } : {}) },
    });
  if (!c.fields.includes('servers')) return undefined;
  return run(apiKeysOperations, 'updateApiKey', { params: { id: c.live!.id }, body: { serverIds } });
}

function policyStep(c: Change, s: Spec, ctx: StepContext): Step | undefined {
  if (c.action === 'update' && !c.fields.some((f) => f !== 'managed')) return undefined;
  const body = {
    name: s.name,
    description: s.description,
    principals: (s.principals as { type: string; value: string }[]).map((p) =>
      p.type === 'api_key' ? { type: p.type, value: idOf(ctx, 'api_key', p.value) } : p,
    ),
    servers: (s.servers as string[]).map((n) => (n === '*' ? n : idOf(ctx, 'server', n))),
    tools: s.tools,
    condition: s.condition,
    onFalse: s.onFalse,
    enforce: s.enforce,
    ...(s.approval ? { approval: approvalRuleBody(s.approval, (key) => idOf(ctx, 'api_key', key)) } : {}),
  };
  if (c.action === 'create') return run(accessPoliciesOperations, 'createAccessPolicy', { body });
  return run(accessPoliciesOperations, 'updateAccessPolicy', { params: { id: c.live!.id }, body });
}

/** A quota's body as the API takes it: every field of its file, the servers and API keys its match names by their ids. */
function quotaStep(c: Change, s: Spec, ctx: StepContext): Step | undefined {
  if (c.action === 'update' && !c.fields.some((f) => f !== 'managed')) return undefined;
  const match = { ...(s.match as Record<string, unknown>) };
  if (match.servers) match.servers = (match.servers as string[]).map((n) => idOf(ctx, 'server', n));
  if (match.apiKeys) match.apiKeys = (match.apiKeys as string[]).map((n) => idOf(ctx, 'api_key', n));
  const body = { ...s, match };
  if (c.action === 'create') return run(quotasOperations, 'createQuota', { body });
  return run(quotasOperations, 'updateQuota', { params: { id: c.live!.id }, body });
}

/** A guardrail's body as the API takes it: every field of its file, its server by id (null: the workspace's). */
function guardrailStep(c: Change, s: Spec, ctx: StepContext): Step | undefined {
  if (c.action === 'update' && !c.fields.some((f) => f !== 'managed')) return undefined;
  const { server, ...fields } = s;
  const body = { ...fields, serverId: server === null ? null : idOf(ctx, 'server', String(server)) };
  if (c.action === 'create') return run(guardrailsOperations, 'createGuardrail', { body });
  return run(guardrailsOperations, 'updateGuardrail', { params: { id: c.live!.id }, body });
}

/** The role mapping is replaced whole (`PUT /role_mappings`), its file being the body. */
function roleMappingStep(c: Change, s: Spec): Step | undefined {
  if (c.action === 'update' && !c.fields.some((f) => f !== 'managed')) return undefined;
  return run(roleMappingsOperations, 'putRoleMapping', { body: s });
}

/** The operation that deletes a resource of each kind by its id (the other kinds: `deleteStep`). */
const deletions: Partial<Record<Kind, [table: Parameters<typeof operationOf>[0], operationId: string]>> = {
  external_mcp_server: [externalMcpServersOperations, 'deleteExternalMcpServer'],
  connector: [connectorsOperations, 'deleteConnector'],
  connector_instance: [connectorInstancesOperations, 'deleteConnectorInstance'],
  server: [serversOperations, 'deleteServer'],
  api_key: [apiKeysOperations, 'revokeApiKey'],
  access_policy: [accessPoliciesOperations, 'deleteAccessPolicy'],
  quota: [quotasOperations, 'deleteQuota'],
  guardrail: [guardrailsOperations, 'deleteGuardrail'],
};

/** Deletions: the operation that removes each kind (a deployment is withdrawn: its server stays with the files). */
function deleteStep(c: Change, ctx: StepContext): Step | undefined {
  const id = c.live!.id;
  switch (c.kind) {
    case 'secret':
      return secretStep(c, ctx);
    case 'workflow_deployment':
      return run(deploymentsOperations, 'withdrawDeployment', {
        params: { id: idOf(ctx, 'server', c.name), deploymentId: id },
      });
    case 'external_user':
      return run(externalUsersOperations, 'deleteExternalUser', { params: { name: c.name } });
    case 'role_mapping':
      return run(roleMappingsOperations, 'deleteRoleMapping');
    default: {
      const deletion = deletions[c.kind];
      return deletion && run(...deletion, { params: { id } });
    }
  }
}

/** The API operation that carries out a change (a server's: `part` of it); undefined when only apply's marker changes. */
export function stepOf(c: Change, ctx: StepContext, part: ServerPart = 'all'): Step | undefined {
  if (c.action === 'delete') return deleteStep(c, ctx);
  const s = c.desired!.spec;
  switch (c.kind) {
    case 'secret':
      return secretStep(c, ctx);
    case 'external_mcp_server':
      return externalServerStep(c, s, ctx);
    case 'connector':
      return connectorStep(c);
    case 'connector_instance':
      return instanceStep(c, s, ctx);
    case 'server':
      return serverStep(c, s, ctx, part);
    case 'workflow_deployment':
      return deploymentStep(c, s, ctx);
    case 'external_user':
      return userStep(c, s);
    case 'api_key':
      return keyStep(c, s, ctx);
    case 'access_policy':
      return policyStep(c, s, ctx);
    case 'quota':
      return quotaStep(c, s, ctx);
    case 'guardrail':
      return guardrailStep(c, s, ctx);
    case 'role_mapping':
      return roleMappingStep(c, s);
  }
}
