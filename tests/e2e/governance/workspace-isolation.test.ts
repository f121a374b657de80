import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { type components, createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { freePort } from '@toolplane/embedded';
import { startTicketSystem, ticketSystemDescriptorYaml, type TicketSystem } from '@toolplane/examples';
import { subscriptionsKey } from '@toolplane/contracts';
import { SignJWT, type CryptoKey } from 'jose';
import { addToSession } from '../../../packages/queue/src/index.ts';
import { stackRedis, startTestStack } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';
import { startAuthorizationServer, type LocalAuthorizationServer } from '../../helpers/authorization-server.ts';

// Organizations and workspaces isolate everything. Workspace A is the bootstrap workspace;
// workspace B is created by A's admin key (POST /api/v1/workspaces). B's key then tries every
// management endpoint with A's ids, and the MCP runtime on A's server: nothing succeeds, nothing of
// A is revealed (an id the request itself carried may be echoed in the 404).

const controlPlaneSrc = join(import.meta.dirname, '../../../services/control-plane/src');

/**
 * Every management route: the operations of docs/openapi.json (the control plane refuses to start with a route its
 * document does not describe, resources/operation.ts), in Express's notation, without the public document itself.
 */
function managementRoutes(): string[] {
  const document = JSON.parse(readFileSync(join(controlPlaneSrc, '../../../docs/openapi.json'), 'utf8')) as {
    paths: Record<string, Record<string, { security?: unknown[] }>>;
  };
  return Object.entries(document.paths)
    .flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([, op]) => op.security?.length !== 0)
        .map(([method]) => `${method.toUpperCase()} ${path.replace(/\{([^}]+)\}/g, ':$1')}`),
    )
    .sort();
}

let stack: Stack;
let authServer: LocalAuthorizationServer | undefined;
let issuer: string;
let signingKey: CryptoKey;
let upstream: TicketSystem;
let apiA: ManagementClient;
let apiB: ManagementClient;
let keyB: string;
let a: RegisteredExample;
let b: RegisteredExample;
const ids: Record<string, string> = {};
/** A held change's id on A's registered server: B finds neither the server nor the change. */
const heldChangeId = '3f0c1d52-8f4e-4b6a-9d0e-5b7a2c1e9f00';
/** Strings only workspace A knows: none may appear in an answer to B (unless B's request carried it). */
const markers: string[] = [];

type Case = {
  method: string;
  path: string;
  route: string;
  body?: unknown;
  contentType?: string;
  expect: 'denied' | 'scoped' | number[];
};

beforeAll(async () => {
  // A local authorization server, so that OAuth access is probed across workspaces too.
  authServer = await startAuthorizationServer();
  ({ issuer, signingKey } = authServer);
  upstream = await startTicketSystem({ apiKey: 'k' });
  const edgePort = await freePort();
  ({ stack, api: apiA } = await startTestStack('isolation', {
    edgePort,
    serviceEnv: {
      edge: { OAUTH_ISSUER: issuer, OAUTH_JWKS_URL: `${issuer}/jwks`, PUBLIC_URL: `http://127.0.0.1:${edgePort}` },
      // The API catalog from a local copy (shared by every workspace; what each added is not).
      'control-plane': { API_CATALOG_SOURCE: fileURLToPath(new URL('../../fixtures/api-catalog', import.meta.url)) },
    },
  }));
  // Workspace A: one of everything.
  a = await registerTicketExample(apiA, upstream.url, 'k', 'a-only-tickets');
  const current = await unwrap(apiA.GET('/workspaces/current'));
  ids.workspace = current.id;
  ids.connector = a.connectorId;
  ids.instance = a.instanceId;
  ids.server = a.serverId;
  await unwrap(
    apiA.PATCH('/mcp_manager/{id}', {
      params: { path: { id: a.serverId } },
      body: { description: 'a-only-description' },
    }),
  );
  ids.user = (await unwrap(apiA.POST('/external_users', { body: { name: 'a-only-user' } }))).id;
  await unwrap(
    apiA.PUT('/external_users/{name}/connections/{instanceId}', {
      params: { path: { name: 'a-only-user', instanceId: a.instanceId } },
      body: { credentials: { api_key: 'a-only-user-credential' } },
    }),
  );
  await unwrap(apiA.POST('/secrets', { body: { name: 'A_ONLY_SECRET', value: 'a-only-secret-value' } }));
  await unwrap(
    apiA.POST('/mcp_servers/{id}/secrets', {
      params: { path: { id: a.serverId } },
      body: { name: 'A_ONLY_SERVER_SECRET', value: 'a-only-server-secret-value' },
    }),
  );
  const flows = await unwrap(apiA.POST('/mcp_manager', { body: { name: 'a-only-flows', mode: 'NORMAL' } }));
  ids.flowServer = flows.id;
  const flower = {
    flower: '0.1',
    id: 'a-only-flow-doc',
    flows: [
      {
        id: 'a_only_flow',
        description: 'a flow',
        steps: [{ id: 's', request: { method: 'GET', url: `${upstream.url}/api/v1/tickets/TCK-1` } }],
      },
    ],
  };
  ids.deployment = (
    (await unwrap(
      apiA.POST('/mcp_servers/{id}/deploy', {
        params: { path: { id: flows.id } },
        body: { definition: JSON.stringify(flower) },
      }),
    )) as components['schemas']['DeployedWorkflow']
  ) // not a dry run: the deployment (201)
  .id;
  ids.debugSession = (
    await unwrap(
      apiA.POST('/mcp_manager/{id}/debug_sessions', {
        params: { path: { id: a.serverId } },
        body: { duration_minutes: 30 },
      }),
    )
  ).id;
  // A registered external MCP server (A's own example server, with A's key as its header) and an API of the catalog.
  ids.externalServer = (
    await unwrap(
      apiA.POST('/external_mcp_servers', {
        body: { name: 'a-only-external', url: a.mcpUrl, headers: { 'x-api-key': stack.bootstrapKey } },
      }),
    )
  ).id;
  ids.catalogConnector = (
    await unwrap(
      apiA.POST('/api_catalog/{id}/add', {
        params: { path: { id: 'exchangerate-api.com' } },
        body: { slug: 'a-only-rates' },
      }),
    )
  ).id;
  const keyA = await unwrap(apiA.POST('/api_keys', { body: { name: 'a-only-key', scopes: ['runtime'] } }));
  ids.key = keyA.id;
  ids.policy = (
    await unwrap(
      apiA.POST('/access_policies', {
        body: {
          name: 'a-only-policy',
          principals: [{ type: 'external_user', value: 'a-only-user' }],
          servers: [a.serverId],
          tools: ['*'],
        },
      }),
    )
  ).id;
  ids.quota = (
    await unwrap(
      apiA.POST('/quotas', {
        body: { name: 'a-only-quota', match: { servers: [a.serverId] }, counts: 'calls', limit: 10, window: 'day' },
      }),
    )
  ).id;
  ids.guardrail = (
    await unwrap(
      apiA.POST('/guardrails', {
        body: { name: 'a-only-guardrail', serverId: a.serverId, detectors: [{ kind: 'pii' }], action: 'flag' },
      }),
    )
  ).id;
  // An exporter of A's trail (to a port nothing listens on: it only fails, for its status).
  ids.auditExporter = (
    await unwrap(
      apiA.POST('/audit_exporters', {
        body: { name: 'a-only-exporter', target: { type: 'syslog', host: '127.0.0.1', port: 9 } },
      }),
    )
  ).id;
  // A's role mapping and SCIM token (B reads and replaces its own only).
  await unwrap(
    apiA.PUT('/role_mappings', {
      body: { groupsClaim: 'a-only-claim', assignments: [{ subject: 'a-only-subject', roles: ['viewer'] }] },
    }),
  );
  const scimA = await unwrap(apiA.POST('/scim_token'));
  // A's enterprise IdP (ADR 0082): B neither reads, changes nor removes it.
  ids.enterpriseIdp = (
    await unwrap(
      apiA.POST('/enterprise_idps', {
        body: {
          name: 'a-only-idp',
          issuer: 'https://a-only-idp.example',
          jwksUrl: 'https://a-only-idp.example/keys',
          clientId: 'a-only-client',
        },
      }),
    )
  ).id;
  // A's session settings, and a session of A's key holding a label (ADR 0078).
  await unwrap(
    apiA.PUT('/session_settings', {
      body: {
        ttlSeconds: 600,
        rules: [
          { id: 'a-only-rule', after: ['private'], toolLabels: ['external_write'], action: 'refuse', enforce: true },
        ],
      },
    }),
  );
  const redis = stackRedis(stack);
  await addToSession(
    redis,
    { prefix: stack.redisPrefix, workspaceId: current.id, session: { scopes: [`k:${keyA.id}`], ttlSeconds: 600 } },
    {
      tool: 'a-only-session-tool',
      serverId: a.serverId,
      invocationId: 'a-only-invocation',
      at: Date.now(),
      labels: [{ label: 'private', source: 'declared' }],
      countCall: false,
    },
  );
  // An event subscription of A, as an edge keeps it (docs/events.md "Subscriptions in Redis").
  ids.subscription = `sub_${'a0'.repeat(16)}`;
  const subscription = {
    v: 1,
    id: ids.subscription,
    workspaceId: current.id,
    serverId: a.serverId,
    instanceId: a.instanceId,
    name: 'a-only-event',
    arguments: { repository: 'a-only-repo' },
    principal: { keyId: keyA.id },
    delivery: 'poll',
    createdAt: Date.now(),
    expiresAt: Date.now() + 3_600_000,
  };
  await redis.hset(subscriptionsKey(a.instanceId), ids.subscription, JSON.stringify(subscription));
  redis.disconnect();
  // An execution record of A.
  const client = new Client({ name: 'a', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(a.mcpUrl), {
      requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
    }),
  );
  await client.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } });
  // An approval request of A: its search needs the approval of A's key (ADR 0049).
  await unwrap(
    apiA.PATCH('/mcp_manager/{id}', {
      params: { path: { id: a.serverId } },
      body: { approvalTools: ['search_tickets'], approvalRule: { approvers: { apiKeys: [keyA.id] } } },
    }),
  );
  ids.approval = await waitFor('an approval request of A', async () => {
    const r = await client.callTool({ name: 'search_tickets', arguments: {} });
    return (r._meta as Record<string, { id: string }> | undefined)?.['toolplane/approval']?.id;
  });
  await waitFor('the approval request stored', async () =>
    (await apiA.GET('/approvals/{id}', { params: { path: { id: ids.approval! } } })).response.ok ? true : undefined,
  );
  await client.close();
  ids.record = await waitFor(
    'the execution record of the call',
    async () =>
      (await unwrap(apiA.GET('/execution_records', { params: { query: { server_id: a.serverId } } }))).data[0]?.id,
  );
  // A task grant of A (ADR 0108), for A's person and tool.
  ids.taskGrant = (
    await unwrap(
      apiA.POST('/task_grants', {
        body: {
          purpose: 'a-only-purpose',
          person: 'a-only-user',
          tools: ['search_tickets'],
          bounds: [],
          calls: 5,
          expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
          offGrant: 'refuse',
        },
      }),
    )
  ).id;
  markers.push(
    ...Object.values(ids),
    'a-only-purpose',
    keyA.key,
    keyA.prefix,
    stack.bootstrapKey,
    'a-only-tickets',
    'a-only-description',
    'a-only-user',
    'A_ONLY_SECRET',
    'A_ONLY_SERVER_SECRET',
    'a-only-secret-value',
    'a-only-flows',
    'a-only-flow',
    'a-only-key',
    'a-only-policy',
    'a-only-external',
    'a-only-rates',
    'a-only-exporter',
    'a-only-claim',
    'a-only-subject',
    'a-only-rule',
    'a-only-session-tool',
    'a-only-invocation',
    'a-only-event',
    'a-only-repo',
    scimA.token,
    scimA.prefix,
  );

  // Workspace B, created by A's admin (bootstrap) key; its first key has management, runtime and audit.
  const created = await unwrap(apiA.POST('/workspaces', { body: { name: 'other' } }));
  expect(created.apiKey.scopes).toEqual(['management', 'runtime', 'audit']);
  keyB = created.apiKey.key;
  apiB = createManagementClient(stack.controlPlaneUrl, keyB);
  b = await registerTicketExample(apiB, upstream.url, 'k', 'b-tickets');
  await unwrap(apiB.POST('/external_users', { body: { name: 'b-user' } }));
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await upstream?.close();
  await authServer?.close();
});

function cases(): Case[] {
  const s = ids.server!;
  const c = (
    method: string,
    route: string,
    path: string,
    expectation: Case['expect'],
    body?: unknown,
    contentType?: string,
  ): Case => ({
    method,
    route,
    path,
    expect: expectation,
    ...(body !== undefined ? { body } : {}),
    ...(contentType ? { contentType } : {}),
  });
  return [
    // First: B's trail then holds only B's own setup (a later refusal would quote the path B sent, A's ids in it).
    c('GET', '/audit_events', '/audit_events?limit=500', 'scoped'),
    c('GET', '/audit_events', `/audit_events?resource_id=${s}`, 'scoped'),
    c('POST', '/sign_ins', '/sign_ins', 'scoped'),
    // The workspace as files: B's export, plan and apply see B's workspace only (an empty directory changes nothing);
    // before B names a secret of its own as A's is named (an export lists names).
    c('GET', '/workspace_files', '/workspace_files', 'scoped'),
    c('GET', '/workspace_files/managed', '/workspace_files/managed', 'scoped'),
    c('POST', '/workspace_files/plan', '/workspace_files/plan', 'scoped', { files: [] }),
    c('POST', '/workspace_files/apply', '/workspace_files/apply', 'scoped', { files: [] }),
    c('POST', '/access_policies/explain', '/access_policies/explain', 'denied', {
      caller: { api_key: ids.key },
      server: s,
      tool: 'get_ticket',
    }),
    c(
      'POST',
      '/connectors',
      '/connectors',
      'scoped',
      ticketSystemDescriptorYaml
        .replace('version: "1.0.0"', 'version: "9.9.9"')
        .replace('version: 1.0.0', 'version: 9.9.9'),
      'application/yaml',
    ),
    c('GET', '/connectors', '/connectors', 'scoped'),
    // The curated catalog is the same for every workspace; adding one adds it to B's workspace, never A's.
    c('GET', '/connectors/curated', '/connectors/curated', 'scoped'),
    c('POST', '/connectors/curated/:slug', '/connectors/curated/stripe', 'scoped', {}),
    // B's own Stripe (a tool it lacks: 422, nothing stored, B's lists stay as they are); upgraded in B only.
    c('POST', '/connectors/curated/:slug/setup', '/connectors/curated/stripe/setup', [422], {
      auth: 'token',
      name: 'b-stripe',
      credentials: { stripe_key: 'sk_b' },
      tools: ['no_such_tool'],
    }),
    c('POST', '/connectors/curated/:slug/upgrade', '/connectors/curated/stripe/upgrade?dry_run=true', 'scoped'),
    c('GET', '/connectors/:id', `/connectors/${ids.connector}`, 'denied'),
    c(
      'PUT',
      '/connectors/:id',
      `/connectors/${ids.connector}`,
      'denied',
      ticketSystemDescriptorYaml,
      'application/yaml',
    ),
    c('GET', '/connectors/:id/openapi.json', `/connectors/${ids.connector}/openapi.json`, 'denied'),
    c('DELETE', '/connectors/:id', `/connectors/${ids.connector}?force=true`, 'denied'),

    c('POST', '/connector_instances', '/connector_instances', 'denied', {
      connector_id: ids.connector,
      name: 'steal',
      credentials: { api_key: 'x' },
    }),
    c('GET', '/connector_instances', '/connector_instances', 'scoped'),
    c('GET', '/connector_instances/:id', `/connector_instances/${ids.instance}`, 'denied'),
    c('PATCH', '/connector_instances/:id', `/connector_instances/${ids.instance}`, 'denied', { name: 'pwned' }),
    c('POST', '/connector_instances/:id/test', `/connector_instances/${ids.instance}/test`, 'denied', {}),
    c('GET', '/connector_instances/:id/tools', `/connector_instances/${ids.instance}/tools`, 'denied'),
    c('GET', '/mcp_manager/:id/tools', `/mcp_manager/${ids.server}/tools`, 'denied'),
    c('POST', '/mcp_manager/:id/result_shapes/preview', `/mcp_manager/${s}/result_shapes/preview`, 'denied', {
      tool: 'search_tickets',
      sample: '{"items":[]}',
      shape: { maxItems: 1 },
    }),
    c('DELETE', '/connector_instances/:id', `/connector_instances/${ids.instance}`, 'denied'),

    c('POST', '/mcp_manager/:id/debug_sessions', `/mcp_manager/${s}/debug_sessions`, 'denied', {}),
    c('GET', '/mcp_manager/:id/debug_sessions', `/mcp_manager/${s}/debug_sessions`, 'denied'),
    c(
      'DELETE',
      '/mcp_manager/:id/debug_sessions/:sessionId',
      `/mcp_manager/${s}/debug_sessions/${ids.debugSession}`,
      'denied',
    ),
    c(
      'DELETE',
      '/mcp_manager/:id/debug_sessions/:sessionId',
      `/mcp_manager/${b.serverId}/debug_sessions/${ids.debugSession}`,
      'denied',
    ),
    c(
      'GET',
      '/mcp_manager/:id/debug_sessions/:sessionId/events',
      `/mcp_manager/${s}/debug_sessions/${ids.debugSession}/events`,
      'denied',
    ),
    // B's own server with A's session: the stream of another workspace's session is never opened.
    c(
      'GET',
      '/mcp_manager/:id/debug_sessions/:sessionId/events',
      `/mcp_manager/${b.serverId}/debug_sessions/${ids.debugSession}/events`,
      'denied',
    ),

    // A's server URL without A's credentials: the worker is refused by the edge (no cached list of A's either).
    c('POST', '/mcp_manager/load-tools-from-url', '/mcp_manager/load-tools-from-url', [502], {
      url: a.mcpUrl,
      headers: { 'x-api-key': keyB },
    }),
    c('POST', '/mcp_manager', '/mcp_manager', 'denied', {
      name: 'steal',
      mode: 'NORMAL',
      connectorInstanceId: ids.instance,
    }),
    c('GET', '/mcp_manager', '/mcp_manager', 'scoped'),
    c('PATCH', '/mcp_manager/:id', `/mcp_manager/${s}`, 'denied', { description: 'pwned' }),
    c('DELETE', '/mcp_manager/:id', `/mcp_manager/${s}`, 'denied'),
    c('GET', '/mcp_manager/:id', `/mcp_manager/${s}`, 'denied'),
    c('GET', '/mcp_manager/:id/config', `/mcp_manager/${s}/config`, 'denied'),
    c('GET', '/mcp_manager/:id/catalog_versions', `/mcp_manager/${s}/catalog_versions`, 'denied'),
    // By name: A's server name means nothing in B's workspace.
    c('GET', '/mcp_manager/:id', '/mcp_manager/a-only-tickets', 'denied'),

    c('GET', '/secrets', '/secrets', 'scoped'),
    c('POST', '/secrets', '/secrets', 'scoped', { name: 'B_SECRET', value: 'b' }),
    c('GET', '/secrets/:name', '/secrets/A_ONLY_SECRET', 'denied'),
    c('DELETE', '/secrets/:name', '/secrets/A_ONLY_SECRET', 'denied'),
    // Names are per workspace: this creates B's own secret of that name and leaves A's alone (checked below).
    c('PUT', '/secrets/:name', '/secrets/A_ONLY_SECRET', 'scoped', { value: 'b-value' }),

    c('GET', '/mcp_servers/:id/secrets', `/mcp_servers/${s}/secrets`, 'denied'),
    c('POST', '/mcp_servers/:id/secrets', `/mcp_servers/${s}/secrets`, 'denied', { name: 'X', value: 'x' }),
    c('GET', '/mcp_servers/:id/secrets/:name', `/mcp_servers/${s}/secrets/A_ONLY_SERVER_SECRET`, 'denied'),
    c('PUT', '/mcp_servers/:id/secrets/:name', `/mcp_servers/${s}/secrets/A_ONLY_SERVER_SECRET`, 'denied', {
      value: 'x',
    }),
    c('DELETE', '/mcp_servers/:id/secrets/:name', `/mcp_servers/${s}/secrets/A_ONLY_SERVER_SECRET`, 'denied'),
    c('POST', '/mcp_servers/:id/deploy', `/mcp_servers/${ids.flowServer}/deploy`, 'denied', {
      definition: '{"flower":"0.1","id":"x","flows":[]}',
    }),
    c('POST', '/mcp_servers/:id/deploy', '/mcp_servers/a-only-flows/deploy', 'denied', {
      definition: '{"flower":"0.1","id":"x","flows":[]}',
    }),
    c('GET', '/mcp_servers/:id/deployments', `/mcp_servers/${ids.flowServer}/deployments`, 'denied'),
    c(
      'GET',
      '/mcp_servers/:id/deployments/:deploymentId',
      `/mcp_servers/${ids.flowServer}/deployments/${ids.deployment}`,
      'denied',
    ),
    c(
      'GET',
      '/mcp_servers/:id/deployments/:deploymentId',
      `/mcp_servers/${b.serverId}/deployments/${ids.deployment}`,
      'denied',
    ),

    c(
      'POST',
      '/mcp_servers/:id/deployments/:deploymentId/redeploy',
      `/mcp_servers/${ids.flowServer}/deployments/${ids.deployment}/redeploy`,
      'denied',
    ),
    c(
      'POST',
      '/mcp_servers/:id/deployments/:deploymentId/redeploy',
      `/mcp_servers/${b.serverId}/deployments/${ids.deployment}/redeploy`,
      'denied',
    ),
    c(
      'POST',
      '/mcp_servers/:id/deployments/:deploymentId/withdraw',
      `/mcp_servers/${ids.flowServer}/deployments/${ids.deployment}/withdraw`,
      'denied',
    ),
    c(
      'POST',
      '/mcp_servers/:id/deployments/:deploymentId/withdraw',
      `/mcp_servers/${b.serverId}/deployments/${ids.deployment}/withdraw`,
      'denied',
    ),

    c('GET', '/external_mcp_servers', '/external_mcp_servers', 'scoped'),
    c('POST', '/external_mcp_servers', '/external_mcp_servers', 'scoped', {
      name: 'b-external',
      url: 'http://127.0.0.1:9/mcp',
    }),
    c('GET', '/external_mcp_servers/:id', `/external_mcp_servers/${ids.externalServer}`, 'denied'),
    c('GET', '/external_mcp_servers/:id', '/external_mcp_servers/a-only-external', 'denied'),
    c('PATCH', '/external_mcp_servers/:id', `/external_mcp_servers/${ids.externalServer}`, 'denied', {
      url: 'http://127.0.0.1:9/pwned',
    }),
    c('DELETE', '/external_mcp_servers/:id', `/external_mcp_servers/${ids.externalServer}`, 'denied'),
    c('GET', '/external_mcp_servers/:id/changes', `/external_mcp_servers/${ids.externalServer}/changes`, 'denied'),
    ...(['accept', 'reject'] as const).map((decision) =>
      c(
        'POST',
        `/external_mcp_servers/:id/changes/:changeId/${decision}`,
        `/external_mcp_servers/${ids.externalServer}/changes/${heldChangeId}/${decision}`,
        'denied',
      ),
    ),

    // The catalog is shared; which of its APIs a workspace added (and as which connector) is not.
    c('GET', '/api_catalog', '/api_catalog?q=exchangerate', 'scoped'),
    c('POST', '/api_catalog/:id/add', '/api_catalog/exchangerate-api.com/add', 'scoped', { slug: 'b-rates' }),

    // The registry: B's settings and source are its own (a closed port: nothing reachable, 503), its served
    // registry lists B's servers only and names none of A's.
    // B's role mapping and SCIM token are B's own (A has both: neither is read nor replaced).
    c('GET', '/role_mappings', '/role_mappings', 'scoped'),
    c('PUT', '/role_mappings', '/role_mappings', 'scoped', { groupsClaim: null, assignments: [] }),
    c('DELETE', '/role_mappings', '/role_mappings', 'scoped'),
    // B's session settings are B's own; B reads and ends its own sessions only (the key of A's session is A's).
    c('GET', '/session_settings', '/session_settings', 'scoped'),
    c('PUT', '/session_settings', '/session_settings', 'scoped', { ttlSeconds: 60, rules: [] }),
    c('DELETE', '/session_settings', '/session_settings', 'scoped'),
    // B's four-eyes setting is its own; a change request of another workspace is not found.
    c('GET', '/change_approvals/settings', '/change_approvals/settings', 'scoped'),
    c('PUT', '/change_approvals/settings', '/change_approvals/settings', 'scoped', { enabled: false }),
    c('GET', '/change_requests', '/change_requests', 'scoped'),
    c('GET', '/change_requests/:id', `/change_requests/${heldChangeId}`, 'denied'),
    c('POST', '/change_requests/:id/approve', `/change_requests/${heldChangeId}/approve`, 'denied', {}),
    c('POST', '/change_requests/:id/deny', `/change_requests/${heldChangeId}/deny`, 'denied', {}),
    c('POST', '/change_requests/:id/links', `/change_requests/${heldChangeId}/links`, 'denied', {
      person: 'a-only-user',
    }),
    c('GET', '/sessions/:scope', `/sessions/k:${ids.key}`, 'scoped'),
    c('DELETE', '/sessions/:scope', `/sessions/k:${ids.key}`, 'scoped'),
    c('GET', '/enterprise_idps', '/enterprise_idps', 'scoped'),
    c('POST', '/enterprise_idps', '/enterprise_idps', 'scoped', {
      name: 'b-idp',
      issuer: 'https://a-only-idp.example',
      jwksUrl: 'https://a-only-idp.example/keys',
      clientId: 'a-only-client',
    }),
    c('GET', '/enterprise_idps/:id', `/enterprise_idps/${ids.enterpriseIdp}`, 'denied'),
    c('PATCH', '/enterprise_idps/:id', `/enterprise_idps/${ids.enterpriseIdp}`, 'denied', { rotateSecret: true }),
    c('DELETE', '/enterprise_idps/:id', `/enterprise_idps/${ids.enterpriseIdp}`, 'denied'),
    c('GET', '/scim_token', '/scim_token', 'scoped'),
    c('POST', '/scim_token', '/scim_token', 'scoped'),
    c('DELETE', '/scim_token', '/scim_token', 'scoped'),
    c('GET', '/registry/settings', '/registry/settings', 'scoped'),
    c('PUT', '/registry/settings', '/registry/settings', 'scoped', {
      sourceUrl: 'http://127.0.0.1:9',
      namespace: null,
    }),
    c('GET', '/registry/search', '/registry/search?q=a-only', [503]),
    c('POST', '/registry/add', '/registry/add', [503], { name: 'local.toolplane/a-only-tickets' }),
    c('GET', '/registry/v0.1/servers', '/registry/v0.1/servers', 'scoped'),
    c('GET', '/registry/v0.1/servers', '/registry/v0.1/servers?search=a-only', 'scoped'),
    c(
      'GET',
      '/registry/v0.1/servers/:serverName/versions',
      `/registry/v0.1/servers/${encodeURIComponent('local.toolplane/a-only-tickets')}/versions`,
      'denied',
    ),
    c(
      'GET',
      '/registry/v0.1/servers/:serverName/versions/:version',
      `/registry/v0.1/servers/${encodeURIComponent('local.toolplane/a-only-tickets')}/versions/latest`,
      'denied',
    ),

    c('GET', '/stats', '/stats', 'scoped'),
    c('GET', '/stats', `/stats?server_id=${s}`, 'scoped'),

    c('GET', '/execution_records', '/execution_records', 'scoped'),
    c('GET', '/execution_records', `/execution_records?server_id=${s}`, 'scoped'),
    c('GET', '/execution_records/:id', `/execution_records/${ids.record}`, 'denied'),
    // B's event subscriptions are its own; A's subscription and its deliveries are not found.
    c('GET', '/event_subscriptions', '/event_subscriptions', 'scoped'),
    c('GET', '/event_subscriptions', `/event_subscriptions?server_id=${s}`, 'scoped'),
    c('GET', '/event_subscriptions/:id/deliveries', `/event_subscriptions/${ids.subscription}/deliveries`, 'denied'),

    c('POST', '/external_users', '/external_users', 'scoped', { name: 'b-user-2' }),
    c('GET', '/external_users', '/external_users', 'scoped'),
    c('DELETE', '/external_users/:name', '/external_users/a-only-user', 'denied'),
    c('PATCH', '/external_users/:name', '/external_users/a-only-user', 'denied', { attributes: { tier: 'x' } }),
    c('GET', '/external_users/:name/connections', '/external_users/a-only-user/connections', 'denied'),
    c(
      'PUT',
      '/external_users/:name/connections/:instanceId',
      `/external_users/a-only-user/connections/${ids.instance}`,
      'denied',
      { credentials: { api_key: 'x' } },
    ),
    c(
      'PUT',
      '/external_users/:name/connections/:instanceId',
      `/external_users/b-user/connections/${ids.instance}`,
      'denied',
      { credentials: { api_key: 'x' } },
    ),
    c(
      'DELETE',
      '/external_users/:name/connections/:instanceId',
      `/external_users/a-only-user/connections/${ids.instance}`,
      'denied',
    ),
    c('GET', '/external_users/:name/secrets', '/external_users/a-only-user/secrets', 'denied'),
    c('PUT', '/external_users/:name/secrets/:secret', '/external_users/a-only-user/secrets/TOKEN', 'denied', {
      value: 'x',
    }),
    c('DELETE', '/external_users/:name/secrets/:secret', '/external_users/a-only-user/secrets/TOKEN', 'denied'),
    c(
      'PUT',
      '/external_users/:name/mcp_connections/:serverId/:external',
      `/external_users/a-only-user/mcp_connections/${ids.server}/ext`,
      'denied',
      { headers: { authorization: 'x' } },
    ),
    c(
      'PUT',
      '/external_users/:name/mcp_connections/:serverId/:external',
      `/external_users/b-user/mcp_connections/${ids.server}/ext`,
      'denied',
      { headers: { authorization: 'x' } },
    ),
    c(
      'DELETE',
      '/external_users/:name/mcp_connections/:serverId/:external',
      `/external_users/a-only-user/mcp_connections/${ids.server}/ext`,
      'denied',
    ),

    c('POST', '/api_keys', '/api_keys', 'denied', { name: 'steal', scopes: ['runtime'], serverIds: [s] }),
    c('POST', '/api_keys', '/api_keys', 'denied', { name: 'escalate', scopes: ['admin'] }),
    c('GET', '/api_keys', '/api_keys', 'scoped'),
    c('GET', '/api_keys/:id', `/api_keys/${ids.key}`, 'denied'),
    c('PATCH', '/api_keys/:id', `/api_keys/${ids.key}`, 'denied', { name: 'pwned' }),
    c('DELETE', '/api_keys/:id', `/api_keys/${ids.key}`, 'denied'),

    c('POST', '/access_policies', '/access_policies', 'denied', {
      name: 'steal',
      principals: [{ type: 'api_key', value: ids.key }],
      servers: [s],
      tools: ['*'],
    }),
    c('GET', '/access_policies', '/access_policies', 'scoped'),
    c('GET', '/access_policies/:id', `/access_policies/${ids.policy}`, 'denied'),
    c('PATCH', '/access_policies/:id', `/access_policies/${ids.policy}`, 'denied', { tools: ['get_ticket'] }),
    c('DELETE', '/access_policies/:id', `/access_policies/${ids.policy}`, 'denied'),

    // A quota naming A's server or key is refused in B (an unknown name there).
    c('POST', '/quotas', '/quotas', 'denied', {
      name: 'steal',
      match: { servers: [s], apiKeys: [ids.key] },
      counts: 'calls',
      limit: 1,
      window: 'day',
    }),
    c('GET', '/quotas', '/quotas', 'scoped'),
    c('GET', '/quotas/:id', `/quotas/${ids.quota}`, 'denied'),
    c('PATCH', '/quotas/:id', `/quotas/${ids.quota}`, 'denied', { limit: 0 }),
    c('DELETE', '/quotas/:id', `/quotas/${ids.quota}`, 'denied'),
    c('GET', '/quotas/:id/usage', `/quotas/${ids.quota}/usage`, 'denied'),
    c('GET', '/usage', '/usage', 'scoped'),
    c('GET', '/usage', `/usage?server_id=${s}`, 'scoped'),
    c('GET', '/least_privilege', '/least_privilege', 'scoped'),
    c('GET', '/least_privilege', `/least_privilege?principal=api_key:${ids.key}`, 'scoped'),
    c('GET', '/least_privilege/proposal', `/least_privilege/proposal?principal=api_key:${ids.key}`, 'denied'),
    // B's backtest replays B's records only: a quota refusing every call names none of A's records, keys or tools.
    c('POST', '/governance/backtest', '/governance/backtest', 'scoped', {
      files: [{ path: 'quotas/b-probe.yaml', content: 'name: b-probe\ncounts: calls\nlimit: 0\nwindow: day\n' }],
      from: new Date(Date.now() - 86_400_000).toISOString(),
      to: new Date(Date.now() + 60_000).toISOString(),
    }),

    c('POST', '/governance/reachability', '/governance/reachability', 'denied', {
      server: s,
      tool: 'search_tickets',
      principal: { external_user: 'a-only-user' },
    }),

    c('GET', '/task_grants', '/task_grants', 'scoped'),
    c('GET', '/task_grants/:id', `/task_grants/${ids.taskGrant}`, 'denied'),
    c('POST', '/task_grants/:id/revoke', `/task_grants/${ids.taskGrant}/revoke`, 'denied'),
    c('POST', '/task_grants', '/task_grants', 'denied', {
      purpose: 'b-probe',
      person: 'a-only-user',
      tools: ['search_tickets'],
      bounds: [],
      calls: 1,
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      offGrant: 'refuse',
    }),

    c('GET', '/approvals', '/approvals', 'scoped'),
    c('GET', '/approvals/:id', `/approvals/${ids.approval}`, 'denied'),
    c('POST', '/approvals/:id/approve', `/approvals/${ids.approval}/approve`, 'denied', {}),
    c('POST', '/approvals/:id/deny', `/approvals/${ids.approval}/deny`, 'denied', { comment: 'b says no' }),
    c('POST', '/approvals/:id/links', `/approvals/${ids.approval}/links`, 'denied', { person: 'a-only-user' }),

    // A guardrail on A's server is refused in B (an unknown server there).
    c('POST', '/guardrails', '/guardrails', 'denied', {
      name: 'steal',
      serverId: s,
      detectors: [{ kind: 'pii' }],
      action: 'flag',
    }),
    c('GET', '/guardrails', '/guardrails', 'scoped'),
    c('GET', '/guardrails/:id', `/guardrails/${ids.guardrail}`, 'denied'),
    c('PATCH', '/guardrails/:id', `/guardrails/${ids.guardrail}`, 'denied', { action: 'block' }),
    c('DELETE', '/guardrails/:id', `/guardrails/${ids.guardrail}`, 'denied'),

    // An exporter of A's trail is neither seen nor changed from B; B's own sends B's chain only.
    c('POST', '/audit_exporters', '/audit_exporters', 'scoped', {
      name: 'b-exporter',
      from: 'now',
      target: { type: 'syslog', host: '127.0.0.1', port: 9 },
    }),
    c('GET', '/audit_exporters', '/audit_exporters', 'scoped'),
    c('GET', '/audit_exporters/:id', `/audit_exporters/${ids.auditExporter}`, 'denied'),
    c('GET', '/audit_exporters/:id/status', `/audit_exporters/${ids.auditExporter}/status`, 'denied'),
    c('PATCH', '/audit_exporters/:id', `/audit_exporters/${ids.auditExporter}`, 'denied', { enabled: false }),
    c('DELETE', '/audit_exporters/:id', `/audit_exporters/${ids.auditExporter}`, 'denied'),

    c('GET', '/workspaces', '/workspaces', 'scoped'),
    c('GET', '/workspaces/current', '/workspaces/current', 'scoped'),
    c('POST', '/workspaces', '/workspaces', 'denied', { name: 'b-made' }),
  ];
}

/** Markers of A that B's answer must not contain (those the request itself carried may be echoed). */
function leaks(text: string, request: string): string[] {
  return markers.filter((m) => !request.includes(m) && text.includes(m));
}

describe('workspace isolation', () => {
  it('covers every management route mounted in the control plane', () => {
    const covered = new Set(cases().map((k) => `${k.method} ${k.route}`));
    const routes = managementRoutes();
    expect(routes.length).toBeGreaterThan(40);
    expect(routes.filter((r) => !covered.has(r))).toEqual([]);
    expect([...covered].filter((r) => !routes.includes(r))).toEqual([]);
  });

  it("B's key: every management endpoint with A's ids is refused (403/404/422), and no answer contains A's data", async () => {
    const outcomes: string[] = [];
    for (const k of cases()) {
      const body = k.body === undefined ? undefined : typeof k.body === 'string' ? k.body : JSON.stringify(k.body);
      const res = await fetch(`${stack.controlPlaneUrl}/api/v1${k.path}`, {
        method: k.method,
        headers: {
          'x-api-key': keyB,
          ...(body !== undefined ? { 'content-type': k.contentType ?? 'application/json' } : {}),
        },
        ...(body !== undefined ? { body } : {}),
      });
      const text = await res.text();
      const leaked = leaks(text, `${k.path} ${body ?? ''}`);
      const ok =
        leaked.length === 0 &&
        (Array.isArray(k.expect)
          ? k.expect.includes(res.status)
          : k.expect === 'denied'
            ? [403, 404, 422].includes(res.status)
            : res.status < 500);
      if (!ok)
        outcomes.push(
          `${k.method} ${k.path} → ${res.status}${leaked.length ? ` leaked ${leaked.join(', ')}` : ''}: ${text.slice(0, 200)}`,
        );
    }
    expect(outcomes).toEqual([]);
  });

  it("B's lists show B's resources only", async () => {
    expect((await unwrap(apiB.GET('/mcp_manager'))).data.map((s) => s.id)).toEqual([b.serverId]);
    expect((await unwrap(apiB.GET('/connector_instances'))).data.map((s) => s.id)).toEqual([b.instanceId]);
    expect(
      (await unwrap(apiB.GET('/execution_records', { params: { query: { server_id: a.serverId } } }))).data,
    ).toEqual([]);
    expect((await unwrap(apiB.GET('/workspaces'))).data.map((w) => w.name)).toEqual(['other']);
    expect((await unwrap(apiB.GET('/external_users'))).data.map((u) => u.name)).toEqual(['b-user', 'b-user-2']);
  });

  it("A's resources are untouched", async () => {
    expect(await unwrap(apiA.GET('/mcp_manager/{id}', { params: { path: { id: a.serverId } } }))).toMatchObject({
      description: 'a-only-description',
      name: 'a-only-tickets',
    });
    expect(
      await unwrap(apiA.GET('/connector_instances/{id}', { params: { path: { id: a.instanceId } } })),
    ).toMatchObject({
      name: 'a-only-tickets-instance',
    });
    expect(await unwrap(apiA.GET('/api_keys/{id}', { params: { path: { id: ids.key! } } }))).toMatchObject({
      name: 'a-only-key',
      revokedAt: null,
    });
    expect(await unwrap(apiA.GET('/access_policies/{id}', { params: { path: { id: ids.policy! } } }))).toMatchObject({
      name: 'a-only-policy',
      tools: ['*'],
    });
    expect(await unwrap(apiA.GET('/approvals/{id}', { params: { path: { id: ids.approval! } } }))).toMatchObject({
      state: 'pending',
    });
    expect(
      await unwrap(apiA.GET('/enterprise_idps/{id}', { params: { path: { id: ids.enterpriseIdp! } } })),
    ).toMatchObject({ name: 'a-only-idp', clientId: 'a-only-client' });
    expect(await unwrap(apiA.GET('/quotas/{id}', { params: { path: { id: ids.quota! } } }))).toMatchObject({
      name: 'a-only-quota',
      limit: 10,
    });
    expect(await unwrap(apiA.GET('/guardrails/{id}', { params: { path: { id: ids.guardrail! } } }))).toMatchObject({
      name: 'a-only-guardrail',
      action: 'flag',
    });
    expect(
      (
        await unwrap(apiA.GET('/external_users/{name}/connections', { params: { path: { name: 'a-only-user' } } }))
      ).data.map((c) => c.connector_instance_id),
    ).toEqual([a.instanceId]);
    expect(await unwrap(apiA.GET('/secrets/{name}', { params: { path: { name: 'A_ONLY_SECRET' } } }))).toMatchObject({
      name: 'A_ONLY_SECRET',
      versions: [expect.anything()],
    });
    expect(
      await unwrap(
        apiA.GET('/mcp_servers/{id}/secrets/{name}', {
          params: { path: { id: a.serverId, name: 'A_ONLY_SERVER_SECRET' } },
        }),
      ),
    ).toMatchObject({
      name: 'A_ONLY_SERVER_SECRET',
    });
    expect(
      (await unwrap(apiA.GET('/mcp_manager/{id}/debug_sessions', { params: { path: { id: a.serverId } } }))).data,
    ).toEqual([expect.objectContaining({ id: ids.debugSession, active: true })]);
    expect((await unwrap(apiA.GET('/workspaces'))).data.map((w) => w.name)).toEqual(['default', 'other']);
    expect((await unwrap(apiA.GET('/session_settings'))).rules.map((r) => r.id)).toEqual(['a-only-rule']);
    const session = await unwrap(apiA.GET('/sessions/{scope}', { params: { path: { scope: `k:${ids.key}` } } }));
    expect(session.labels).toEqual([expect.objectContaining({ label: 'private', tool: 'a-only-session-tool' })]);
  });

  it("B's key on A's MCP server: tools/list, tools/call, the legacy SSE stream and its messages are all 404s", async () => {
    const before = upstream.requests.length;
    const post = (url: string, method: string, params: Record<string, unknown> = {}) =>
      fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2025-11-25',
          'x-api-key': keyB,
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
      });
    const answers: Response[] = [];
    for (const url of [a.mcpUrl, `${stack.edgeUrl}/api/v1/mcp/${a.serverId}`]) {
      answers.push(await post(url, 'tools/list'));
      answers.push(await post(url, 'tools/call', { name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } }));
      answers.push(
        await post(url, 'initialize', {
          protocolVersion: '2025-11-25',
          capabilities: {},
          clientInfo: { name: 'b', version: '1' },
        }),
      );
    }
    answers.push(
      await fetch(`${stack.edgeUrl}/api/v1/mcp/${a.serverId}`, {
        headers: { accept: 'text/event-stream', 'x-api-key': keyB },
      }),
    );

    // A legacy SSE session opened by A: B cannot post into it.
    const stream = await fetch(`${stack.edgeUrl}/api/v1/mcp/${a.serverId}`, {
      headers: { accept: 'text/event-stream', 'x-api-key': stack.bootstrapKey },
    });
    expect(stream.status).toBe(200);
    const reader = stream.body!.getReader();
    let buffered = '';
    while (!/sessionId=([\w-]+)/.test(buffered)) buffered += new TextDecoder().decode((await reader.read()).value);
    const sessionId = /sessionId=([\w-]+)/.exec(buffered)![1]!;
    answers.push(
      await post(`${stack.edgeUrl}/api/v1/mcp/${a.serverId}/messages?sessionId=${sessionId}`, 'tools/call', {
        name: 'get_ticket',
        arguments: { ticket_id: 'TCK-1' },
      }),
    );
    answers.push(await post(`${stack.edgeUrl}/api/v1/mcp/${b.serverId}/messages?sessionId=${sessionId}`, 'tools/list'));
    await reader.cancel();

    const statuses = answers.map((r) => r.status);
    expect(statuses).toEqual(Array(statuses.length).fill(404));
    for (const r of answers) expect(leaks(await r.text(), a.serverId)).toEqual([]);

    // The official SDK client cannot connect either; B's own server works with the same key.
    const client = new Client({ name: 'b', version: '1.0.0' });
    await expect(
      client.connect(
        new StreamableHTTPClientTransport(new URL(a.mcpUrl), { requestInit: { headers: { 'x-api-key': keyB } } }),
      ),
    ).rejects.toThrow(/not found/);
    const own = new Client({ name: 'b', version: '1.0.0' });
    await own.connect(
      new StreamableHTTPClientTransport(new URL(b.mcpUrl), { requestInit: { headers: { 'x-api-key': keyB } } }),
    );
    expect((await own.listTools()).tools.map((t) => t.name)).toEqual(b.tools);
    await own.close();
    expect(upstream.requests.length).toBe(before);
    // A's key cannot reach B's server either.
    expect(
      (
        await fetch(b.mcpUrl, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            'x-api-key': stack.bootstrapKey,
          },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
        })
      ).status,
    ).toBe(404);
  });

  it("a policy of B granting every OAuth subject on every server does not reach A's servers", async () => {
    await unwrap(
      apiB.POST('/access_policies', {
        body: {
          name: 'everyone',
          principals: [
            { type: 'oauth_subject', value: '*' },
            { type: 'oauth_group', value: '*' },
          ],
          servers: ['*'],
          tools: ['*'],
        },
      }),
    );
    const token = (server: RegisteredExample) =>
      new SignJWT({ scope: 'mcp:tools', groups: ['all'] })
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setSubject('mallory')
        .setIssuer(issuer)
        .setAudience(server.mcpUrl)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(signingKey);
    const list = async (server: RegisteredExample) =>
      fetch(server.mcpUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2025-11-25',
          authorization: `Bearer ${await token(server)}`,
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
    const own = await waitFor('the policy to let mallory list her own server', async () => {
      const res = await list(b);
      return res.status === 200 ? res : undefined;
    });
    expect(own.status).toBe(200);
    const foreign = await list(a);
    expect(foreign.status).toBe(403);
    expect(leaks(await foreign.text(), a.serverId)).toEqual([]);
  });
});
