import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { ApiError, type components, createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { freePort } from '@toolplane/embedded';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import { SignJWT, type CryptoKey } from 'jose';
import { startTestStack } from '../../helpers/stack.ts';
import { postMcp } from '../../helpers/mcp.ts';
import { PROPAGATION_DEADLINE_MS, scaled, waitFor } from '../../helpers/wait.ts';
import { startAuthorizationServer, type LocalAuthorizationServer } from '../../helpers/authorization-server.ts';

// Access management on the real stack: keys limited to servers, access policies for keys,
// OAuth subjects and groups and external users (deny by default), enforced on the edge.
let stack: Stack;
let api: ManagementClient;
let upstream: TicketSystem;
let serverA: RegisteredExample;
let serverB: RegisteredExample;
let smartId: string;
let smartUrl: string;
let authServer: LocalAuthorizationServer | undefined;
let issuer: string;
let edgeUrl: string;
let signingKey: CryptoKey;

type Headers = Record<string, string>;
type Key = {
  id: string;
  key: string;
  prefix: string;
  name: string;
  scopes: string[];
  serverIds: string[] | null;
  lastUsedAt: string | null;
};
type Problem = { status: number; code: string; detail?: string; errors?: { path: string; message: string }[] };
type RecordRow = {
  id: string;
  server_id: string;
  tool: string;
  outcome: string;
  error_code: string | null;
  message: string | null;
  caller: { key_id: string | null; username: string | null };
};

async function connect(url: string, headers: Headers): Promise<Client> {
  const client = new Client({ name: 'access-e2e', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return client;
}

async function toolNames(url: string, headers: Headers): Promise<string[]> {
  const client = await connect(url, headers);
  try {
    return (await client.listTools()).tools.map((t) => t.name);
  } finally {
    await client.close();
  }
}

/** The error an SDK client gets when the edge refuses the connection (its message carries the JSON-RPC error). */
async function refused(url: string, headers: Headers): Promise<string> {
  const client = new Client({ name: 'access-e2e', version: '1.0.0' });
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
    await client.listTools();
  } catch (err) {
    const text = String(err);
    const json = text.slice(text.indexOf('{'));
    try {
      return (JSON.parse(json) as { error: { message: string } }).error.message;
    } catch {
      return text;
    }
  } finally {
    await client.close().catch(() => undefined);
  }
  throw new Error('the connection was accepted');
}

/** One raw JSON-RPC request (stateless Streamable HTTP, JSON response). */
async function rpc(url: string, headers: Headers, method: string, params: Record<string, unknown> = {}) {
  const res = await postMcp(
    url,
    { jsonrpc: '2.0', id: 1, method, params },
    { 'mcp-protocol-version': '2025-11-25', ...headers },
  );
  return {
    status: res.status,
    body: (await res.json()) as { result?: Record<string, unknown>; error?: { code: number; message: string } },
  };
}

async function problem(p: Promise<unknown>): Promise<Problem> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApiError) return { ...(err.body as Problem), status: err.status };
    throw err;
  }
  throw new Error('the request succeeded');
}

async function newKey(body: components['schemas']['CreateApiKeyBody']): Promise<Key> {
  return unwrap(api.POST('/api_keys', { body }));
}

async function token(sub: string, groups?: string[], aud = `${edgeUrl}/mcp/${serverA.serverId}`): Promise<string> {
  return new SignJWT({ scope: 'mcp:tools', ...(groups ? { groups } : {}) })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setSubject(sub)
    .setIssuer(issuer)
    .setAudience(aud)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(signingKey);
}

/** Polls the execution records until `match` finds one (records reach PostgreSQL through a stream). */
async function findRecord(
  query: { server_id: string; outcome: 'rejected' },
  match: (r: RecordRow) => boolean,
): Promise<RecordRow> {
  return waitFor(`a matching execution record (${new URLSearchParams(query)})`, async () => {
    const { data } = await unwrap(api.GET('/execution_records', { params: { query } }));
    const hit = data.find(match);
    if (!hit) throw new Error(`no execution record matched; saw ${JSON.stringify(data)}`);
    return hit;
  });
}

/** Retries `check` until `ok` (policy and key changes reach edges through pub/sub), for at most PROPAGATION_DEADLINE_MS. */
async function afterPropagation<T>(check: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + PROPAGATION_DEADLINE_MS;
  for (;;) {
    const v = await check();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  authServer = await startAuthorizationServer();
  ({ issuer, signingKey } = authServer);
  upstream = await startTicketSystem({ apiKey: 'k' });
  const edgePort = await freePort();
  edgeUrl = `http://127.0.0.1:${edgePort}`;
  ({ stack, api } = await startTestStack('access', {
    edgePort,
    serviceEnv: { edge: { OAUTH_ISSUER: issuer, OAUTH_JWKS_URL: `${issuer}/jwks`, PUBLIC_URL: edgeUrl } },
  }));
  serverA = await registerTicketExample(api, upstream.url, 'k', 'tickets-a');
  serverB = await registerTicketExample(api, upstream.url, 'k', 'tickets-b');
  const smart = await unwrap(api.POST('/mcp_manager', { body: { name: 'smart', mode: 'SMART' } }));
  smartId = smart.id;
  smartUrl = smart.url;
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await upstream?.close();
  await authServer?.close();
});

describe('API keys', () => {
  it('shows the value once, lists prefix, name, scopes, servers, creation and last use, and revokes on the edge within 1 s', async () => {
    const created = await newKey({ name: 'ci', scopes: ['runtime'] });
    expect(created.key).toMatch(/^tp_/);
    expect(created.prefix).toBe(created.key.slice(0, 10));
    const listed = () => unwrap(api.GET('/api_keys')).then((r) => r.data.find((k) => k.id === created.id)!);
    const before = await listed();
    expect(before).toMatchObject({
      name: 'ci',
      prefix: created.prefix,
      scopes: ['runtime'],
      serverIds: null,
      lastUsedAt: null,
    });
    expect(before).not.toHaveProperty('key');
    expect(Date.parse(before.createdAt)).not.toBeNaN();

    expect(await toolNames(serverA.mcpUrl, { 'x-api-key': created.key })).toEqual(serverA.tools);
    const after = await listed();
    expect(Date.parse(after.lastUsedAt!)).toBeGreaterThan(Date.now() - 60_000);

    const res = await fetch(`${stack.controlPlaneUrl}/api/v1/api_keys/${created.id}`, {
      method: 'DELETE',
      headers: { 'x-api-key': stack.bootstrapKey },
    });
    expect(res.status).toBe(204);
    const started = Date.now();
    const status = await afterPropagation(
      () => rpc(serverA.mcpUrl, { 'x-api-key': created.key }, 'tools/list').then((r) => r.status),
      (s) => s === 401,
    );
    expect(status).toBe(401);
    expect(Date.now() - started).toBeLessThan(scaled(500));
  });

  it('refuses to grant scopes the creating key lacks, and unknown servers, listing every field', async () => {
    const runtimeOnlyManager = createManagementClient(
      stack.controlPlaneUrl,
      (await newKey({ name: 'mgr', scopes: ['management'] })).key,
    );
    const p = await problem(
      unwrap(
        runtimeOnlyManager.POST('/api_keys', {
          body: {
            name: 'x',
            scopes: ['admin', 'runtime'],
            serverIds: ['00000000-0000-4000-8000-000000000000', serverA.serverId, 'nope'],
          },
        }),
      ),
    );
    expect(p.status).toBe(422);
    expect(p.errors!.map((e) => e.path).sort()).toEqual(['/scopes/0', '/scopes/1', '/serverIds/0', '/serverIds/2']);
  });

  it('limits a key to one server: the other server is refused at the edge, and management sees only that server', async () => {
    const limited = await newKey({ name: 'only-a', scopes: ['management', 'runtime'], serverIds: [serverA.serverId] });
    expect(limited.serverIds).toEqual([serverA.serverId]);
    expect(await toolNames(serverA.mcpUrl, { 'x-api-key': limited.key })).toEqual(serverA.tools);
    expect(await refused(serverB.mcpUrl, { 'x-api-key': limited.key })).toContain('limited to other MCP servers');
    const call = await rpc(serverB.mcpUrl, { 'x-api-key': limited.key }, 'tools/call', {
      name: 'get_ticket',
      arguments: { ticket_id: 'TCK-1' },
    });
    expect(call.status).toBe(403);

    const client = createManagementClient(stack.controlPlaneUrl, limited.key);
    const servers = await unwrap(client.GET('/mcp_manager'));
    expect(servers.data.map((s) => s.id)).toEqual([serverA.serverId]);
    expect((await unwrap(client.GET('/mcp_manager/{id}', { params: { path: { id: serverA.serverId } } }))).id).toBe(
      serverA.serverId,
    );
    expect(
      (await problem(unwrap(client.GET('/mcp_manager/{id}', { params: { path: { id: serverB.serverId } } })))).status,
    ).toBe(404);
    expect(
      (await problem(unwrap(client.GET('/mcp_manager/{id}/config', { params: { path: { id: serverB.serverId } } }))))
        .status,
    ).toBe(404);
    expect(
      (
        await problem(
          unwrap(
            client.POST('/mcp_servers/{id}/deploy', {
              params: { path: { id: serverB.serverId } },
              body: { definition: 'x' },
            }),
          ),
        )
      ).status,
    ).toBe(404);
    expect((await problem(unwrap(client.GET('/connectors')))).status).toBe(403);
    expect((await problem(unwrap(client.POST('/api_keys', { body: { name: 'escape' } })))).status).toBe(403);
    expect((await problem(unwrap(client.GET('/execution_records')))).status).toBe(403);
    await unwrap(client.GET('/execution_records', { params: { query: { server_id: serverA.serverId } } }));

    // Lifting the restriction reaches the edge at once.
    await unwrap(api.PATCH('/api_keys/{id}', { params: { path: { id: limited.id } }, body: { serverIds: null } }));
    const names = await afterPropagation(
      () => rpc(serverB.mcpUrl, { 'x-api-key': limited.key }, 'tools/list').then((r) => r.status),
      (s) => s === 200,
    );
    expect(names).toBe(200);
  });
  // Each field that changes what a server exposes or who may call it, with a value that would widen the server.
  const exposure: [string, () => unknown][] = [
    ['mode', () => 'SMART'],
    ['isPublic', () => true],
    ['connectorInstanceId', () => serverB.instanceId],
    ['selectedTools', () => ['create_ticket']],
    ['externalMcpConfigs', () => [{ name: 'elsewhere', url: 'http://127.0.0.1:9/mcp' }]],
    ['config', () => ({ exposeCallerToken: true })],
  ];
  it.each(exposure)(
    "refuses a server-limited key that changes its own server's %s (403), and changes nothing",
    async (field, value) => {
      const limited = await newKey({ name: `limited-${field}`, scopes: ['management'], serverIds: [serverA.serverId] });
      const client = createManagementClient(stack.controlPlaneUrl, limited.key);
      const before = await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: serverA.serverId } } }));
      const p = await problem(
        unwrap(
          client.PATCH('/mcp_manager/{id}', { params: { path: { id: serverA.serverId } }, body: { [field]: value() } }),
        ),
      );
      expect(p.status).toBe(403);
      expect(p.detail).toContain(`changing ${field} (what the server exposes or who may call it) needs a key`);
      expect(await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: serverA.serverId } } }))).toEqual(
        before,
      );
    },
  );

  it('refuses a server-limited key that deploys a workflow to its own server (403), and deploys nothing; server_admin may', async () => {
    const workflow = (flow: string) =>
      JSON.stringify({
        flower: '0.1',
        id: `limited-${flow}`,
        flows: [{ id: flow, steps: [{ id: 's', request: { method: 'GET', url: 'http://127.0.0.1:9/x' } }] }],
      });
    // A server of its own: the deployment would change what serverA exposes to the other tests.
    const target = await unwrap(api.POST('/mcp_manager', { body: { name: 'deploy-target', mode: 'NORMAL' } }));
    const limited = await newKey({ name: 'limited-deploy', scopes: ['management'], serverIds: [target.id] });
    const client = createManagementClient(stack.controlPlaneUrl, limited.key);
    const before = await unwrap(api.GET('/mcp_servers/{id}/deployments', { params: { path: { id: target.id } } }));
    const p = await problem(
      unwrap(
        client.POST('/mcp_servers/{id}/deploy', {
          params: { path: { id: target.id } },
          body: { definition: workflow('sneaky') },
        }),
      ),
    );
    expect(p.status).toBe(403);
    expect(p.detail).toContain(
      'POST /mcp_servers/{id}/deploy (it changes what the server exposes, or deletes it) needs a key',
    );
    expect(await unwrap(api.GET('/mcp_servers/{id}/deployments', { params: { path: { id: target.id } } }))).toEqual(
      before,
    );

    const admin = await newKey({
      name: 'server-admin-deploy',
      scopes: ['management', 'server_admin'],
      serverIds: [target.id],
    });
    const adminClient = createManagementClient(stack.controlPlaneUrl, admin.key);
    const deployed = await unwrap(
      adminClient.POST('/mcp_servers/{id}/deploy', {
        params: { path: { id: target.id } },
        body: { definition: workflow('allowed') },
      }),
    );
    expect(deployed.tools).toEqual(['allowed']);
  });

  it('lets a server-limited key rename its server, and a server_admin one change what it exposes', async () => {
    const limited = await newKey({ name: 'limited-rename', scopes: ['management'], serverIds: [serverA.serverId] });
    const client = createManagementClient(stack.controlPlaneUrl, limited.key);
    await unwrap(
      client.PATCH('/mcp_manager/{id}', {
        params: { path: { id: serverA.serverId } },
        body: { description: 'renamed by its own key' },
      }),
    );
    const admin = await newKey({
      name: 'server-admin',
      scopes: ['management', 'server_admin'],
      serverIds: [serverA.serverId],
    });
    const adminClient = createManagementClient(stack.controlPlaneUrl, admin.key);
    const updated = await unwrap(
      adminClient.PATCH('/mcp_manager/{id}', { params: { path: { id: serverA.serverId } }, body: { isPublic: false } }),
    );
    expect(updated).toMatchObject({ isPublic: false, description: 'renamed by its own key' });
    // A restricted key cannot grant server_admin; an unrestricted one can (it has those powers itself).
    const p = await problem(
      unwrap(
        client.POST('/api_keys', { body: { name: 'x', scopes: ['server_admin'], serverIds: [serverA.serverId] } }),
      ),
    );
    expect(p.status).toBe(403);
  });
});

describe('access policies', () => {
  it('validates every field (problem+json) and answers 404 for unknown ids', async () => {
    const p = await problem(
      unwrap(
        api.POST('/access_policies', {
          body: {
            name: '',
            principals: [{ type: 'robot', value: 'x' }],
            servers: [],
            tools: 'all',
            extra: 1,
          } as never,
        }),
      ),
    );
    expect(p.status).toBe(422);
    const paths = p.errors!.map((e) => e.path);
    for (const path of ['/name', '/principals/0/type', '/servers', '/tools']) expect(paths).toContain(path);
    const refs = await problem(
      unwrap(
        api.POST('/access_policies', {
          body: {
            name: 'refs',
            principals: [
              { type: 'api_key', value: '00000000-0000-4000-8000-000000000000' },
              { type: 'api_key', value: '*' },
            ],
            servers: ['00000000-0000-4000-8000-000000000000', serverA.serverId],
            tools: ['*', 'get_ticket'],
          },
        }),
      ),
    );
    expect(refs.status).toBe(422);
    expect(refs.errors!.map((e) => e.path).sort()).toEqual([
      '/principals/0/value',
      '/principals/1/value',
      '/servers/0',
      '/tools',
    ]);
    // Field errors and unknown references come back together.
    const both = await problem(
      unwrap(
        api.POST('/access_policies', {
          body: {
            name: 'both',
            principals: [{ type: 'oauth_group', value: 'g' }],
            servers: ['00000000-0000-4000-8000-000000000000'],
            tools: [],
          },
        }),
      ),
    );
    expect(both.errors!.map((e) => e.path).sort()).toEqual(['/servers/0', '/tools']);
    const unknown = { params: { path: { id: '00000000-0000-4000-8000-000000000000' } } };
    for (const call of [
      () => api.GET('/access_policies/{id}', unknown),
      () => api.PATCH('/access_policies/{id}', { ...unknown, body: { tools: ['*'] } }),
      () => api.DELETE('/access_policies/{id}', unknown),
    ])
      expect((await problem(unwrap(call()))).status).toBe(404);
  });

  it('a policy allowing one tool: tools/list shows only it, another tool is denied clearly and recorded', async () => {
    const key = await newKey({ name: 'one-tool', scopes: ['runtime'] });
    // Unnamed by any policy, a runtime key reaches every tool of its workspace.
    expect(await toolNames(serverA.mcpUrl, { 'x-api-key': key.key })).toEqual(serverA.tools);
    const policy = await unwrap(
      api.POST('/access_policies', {
        body: {
          name: 'one-tool',
          description: 'support bot reads tickets',
          principals: [{ type: 'api_key', value: key.id }],
          servers: [serverA.serverId],
          tools: ['get_ticket'],
        },
      }),
    );
    expect((await unwrap(api.GET('/access_policies'))).data.map((p) => p.id)).toContain(policy.id);
    expect(await unwrap(api.GET('/access_policies/{id}', { params: { path: { id: policy.id } } }))).toMatchObject({
      name: 'one-tool',
      tools: ['get_ticket'],
      servers: [serverA.serverId],
    });

    const headers = { 'x-api-key': key.key };
    expect(
      await afterPropagation(
        () => toolNames(serverA.mcpUrl, headers),
        (n) => n.length === 1,
      ),
    ).toEqual(['get_ticket']);
    const client = await connect(serverA.mcpUrl, headers);
    const ok = await client.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } });
    expect(ok.structuredContent).toMatchObject({ id: 'TCK-1' });
    const before = upstream.requests.length;
    const denied = await client.callTool({ name: 'create_ticket', arguments: { title: 'nope' } });
    await client.close();
    expect(denied.isError).toBe(true);
    expect((denied.content as { text: string }[])[0]!.text).toBe(
      `Access denied: API key ${key.id} may not use tool "create_ticket" on this MCP server (no access policy grants it).`,
    );
    expect(upstream.requests.length).toBe(before);
    const record = await findRecord(
      { server_id: serverA.serverId, outcome: 'rejected' },
      (r) => r.tool === 'create_ticket' && r.caller.key_id === key.id,
    );
    expect(record).toMatchObject({ error_code: 'access.denied', outcome: 'rejected' });
    expect(record.message).toContain('Access denied');
    // Named by a policy, the key is now governed by policies only: server B is denied.
    expect(await refused(serverB.mcpUrl, headers)).toContain(
      `no access policy grants API key ${key.id} access to MCP server ${serverB.serverId}`,
    );

    // Widening the policy applies within a second; deleting it restores the key's workspace-wide access.
    await unwrap(
      api.PATCH('/access_policies/{id}', {
        params: { path: { id: policy.id } },
        body: { tools: ['get_ticket', 'search_tickets'] },
      }),
    );
    expect(
      await afterPropagation(
        () => toolNames(serverA.mcpUrl, headers),
        (n) => n.length === 2,
      ),
    ).toEqual(['search_tickets', 'get_ticket']);
    const del = await fetch(`${stack.controlPlaneUrl}/api/v1/access_policies/${policy.id}`, {
      method: 'DELETE',
      headers: { 'x-api-key': stack.bootstrapKey },
    });
    expect(del.status).toBe(204);
    expect(
      await afterPropagation(
        () => toolNames(serverB.mcpUrl, headers).catch(() => []),
        (n) => n.length === 3,
      ),
    ).toEqual(serverB.tools);
  });

  it('a grant with a condition on an argument: a call within it runs, one over it is refused, named and recorded', async () => {
    const key = await newKey({ name: 'conditional', scopes: ['runtime'] });
    const body = {
      name: 'small-searches',
      principals: [{ type: 'api_key' as const, value: key.id }],
      servers: [serverA.serverId],
      tools: ['search_tickets'],
    };
    // Checked when saved: an argument the tool does not have, and a syntax error, are 422s on /condition.
    const typo = await problem(
      unwrap(api.POST('/access_policies', { body: { ...body, condition: 'args.limt <= 10' } })),
    );
    expect(typo.status).toBe(422);
    expect(typo.errors).toEqual([
      { path: '/condition', message: expect.stringContaining('limt') as unknown as string },
    ]);
    expect(typo.errors![0]!.message).toContain('limit');
    const syntax = await problem(
      unwrap(api.POST('/access_policies', { body: { ...body, condition: 'args.limit <=' } })),
    );
    expect(syntax.status).toBe(422);
    expect(syntax.errors!.map((e) => e.path)).toEqual(['/condition']);
    // An argument some granted tool has and another does not: the other's calls could never be granted
    // by it, so granting every tool is a problem naming that tool; scoped to the tool that has it, it is saved.
    const guarded = '!has(args.limit) || args.limit <= 10';
    const everyTool = await problem(
      unwrap(api.POST('/access_policies', { body: { ...body, tools: ['*'], condition: guarded } })),
    );
    expect(everyTool.status).toBe(422);
    expect(everyTool.errors).toEqual([
      {
        path: '/condition',
        message: expect.stringContaining('the condition cannot be evaluated for tool') as unknown as string,
      },
    ]);
    expect(everyTool.errors![0]!.message).toContain('"get_ticket"');
    expect(everyTool.errors![0]!.message).toContain('"create_ticket"');
    expect(everyTool.errors![0]!.message).toContain('unknown argument "limit"');
    expect(everyTool.errors![0]!.message).not.toContain('"search_tickets"');

    const policy = await unwrap(api.POST('/access_policies', { body: { ...body, condition: 'args.limit <= 10' } }));
    expect(policy.condition).toBe('args.limit <= 10');
    const headers = { 'x-api-key': key.key };
    // The conditionally granted tool stays visible.
    expect(
      await afterPropagation(
        () => toolNames(serverA.mcpUrl, headers),
        (n) => n.length === 1,
      ),
    ).toEqual(['search_tickets']);
    const client = await connect(serverA.mcpUrl, headers);
    try {
      const before = upstream.requests.length;
      const ok = await client.callTool({ name: 'search_tickets', arguments: { limit: 5 } });
      expect(ok.isError).toBeFalsy();
      expect(upstream.requests.length).toBe(before + 1);
      const over = await client.callTool({ name: 'search_tickets', arguments: { limit: 50 } });
      expect(over.isError).toBe(true);
      const text = (over.content as { text: string }[])[0]!.text;
      expect(text).toContain('Access denied');
      expect(text).toContain(`access policy "small-searches" (${policy.id})`);
      expect(text).toContain('args.limit <= 10');
      expect(upstream.requests.length).toBe(before + 1);
      const record = await findRecord(
        { server_id: serverA.serverId, outcome: 'rejected' },
        (r) => r.tool === 'search_tickets' && r.caller.key_id === key.id,
      );
      expect(record).toMatchObject({ error_code: 'access.condition', message: text });
      // The refusal is in the workspace's audit trail: the key, the policy, the tool; no argument value.
      const refused = await waitFor('the refusal in the audit trail', async () => {
        const page = await unwrap(api.GET('/audit_events', { params: { query: { action: 'tool.call_refused' } } }));
        return page.data.find((e) => e.actor.id === key.id);
      });
      expect(refused).toMatchObject({
        outcome: 'refused',
        actor: { type: 'api_key', id: key.id, name: 'conditional' },
        resource: { type: 'tool', id: `${serverA.serverId}/search_tickets` },
        details: { policy: expect.objectContaining({ id: policy.id }) },
      });
      // Exactly these details (a random policy id may well contain "50": the value is checked by shape, not by text).
      expect(refused.details).toEqual({
        tool: 'search_tickets',
        policy: { id: policy.id, name: 'small-searches' },
        server: expect.any(String),
      });
    } finally {
      await client.close();
    }
    // PATCH with null removes the condition.
    const lifted = await unwrap(
      api.PATCH('/access_policies/{id}', { params: { path: { id: policy.id } }, body: { condition: null } }),
    );
    expect(lifted.condition).toBeNull();
    await unwrap(api.DELETE('/access_policies/{id}', { params: { path: { id: policy.id } } }));
  });

  it('a condition on caller.key_name: the key’s name reaches the edge, and its new name after a rename', async () => {
    const key = await newKey({ name: 'ops-key', scopes: ['runtime'] });
    const policy = await unwrap(
      api.POST('/access_policies', {
        body: {
          name: 'support-keys',
          principals: [{ type: 'api_key', value: key.id }],
          servers: [serverA.serverId],
          tools: ['search_tickets'],
          condition: 'caller.key_name.startsWith("support-")',
        },
      }),
    );
    const headers = { 'x-api-key': key.key };
    const search = async () => {
      const client = await connect(serverA.mcpUrl, headers);
      try {
        return await client.callTool({ name: 'search_tickets', arguments: { limit: 1 } });
      } finally {
        await client.close();
      }
    };
    await afterPropagation(
      () => toolNames(serverA.mcpUrl, headers),
      (n) => n.length === 1,
    );
    const refused = await search();
    expect(refused.isError).toBe(true);
    expect((refused.content as { text: string }[])[0]!.text).toContain(
      'caller.key_name.startsWith("support-") is false',
    );
    await unwrap(api.PATCH('/api_keys/{id}', { params: { path: { id: key.id } }, body: { name: 'support-eu' } }));
    const renamed = await afterPropagation(search, (r) => !r.isError);
    expect(renamed.isError).toBeFalsy();
    await unwrap(api.DELETE('/access_policies/{id}', { params: { path: { id: policy.id } } }));
  });

  it('SMART mode: search shows allowed tools only, execute_tool of another is denied and recorded', async () => {
    const key = await newKey({ name: 'smart-one', scopes: ['runtime'] });
    await unwrap(
      api.POST('/access_policies', {
        body: {
          name: 'smart-one',
          principals: [{ type: 'api_key', value: key.id }],
          servers: [smartId],
          tools: ['get_ticket'],
        },
      }),
    );
    const search = async () => {
      const c = await connect(smartUrl, { 'x-api-key': key.key });
      const found = await c.callTool({ name: 'search_tools', arguments: { query: 'ticket', limit: 10 } });
      await c.close();
      return (found.structuredContent as { results: { name: string }[] }).results.map((r) => r.name);
    };
    expect(await afterPropagation(search, (names) => names.length === 1)).toEqual(['get_ticket']);
    const client = await connect(smartUrl, { 'x-api-key': key.key });
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual([
      'search_tools',
      'describe_tool',
      'execute_tool',
      'run_code',
      'list_connections',
      'connect',
    ]);
    const connections = await client.callTool({ name: 'list_connections', arguments: {} });
    expect(
      (connections.structuredContent as { connections: { tools: number }[] }).connections.map((c) => c.tools),
    ).toEqual([1]);
    const ok = await client.callTool({
      name: 'execute_tool',
      arguments: { name: 'get_ticket', arguments: { ticket_id: 'TCK-2' } },
    });
    expect(ok.isError).toBeFalsy();
    const denied = await client.callTool({
      name: 'execute_tool',
      arguments: { name: 'create_ticket', arguments: { title: 'x' } },
    });
    const described = await client.callTool({ name: 'describe_tool', arguments: { name: 'create_ticket' } });
    await client.close();
    expect(denied.isError).toBe(true);
    expect((denied.content as { text: string }[])[0]!.text).toContain('Access denied');
    expect(described.isError).toBe(true);
    expect((described.content as { text: string }[])[0]!.text).toContain('Access denied');
    await findRecord(
      { server_id: smartId, outcome: 'rejected' },
      (r) => r.tool === 'create_ticket' && r.error_code === 'access.denied' && r.caller.key_id === key.id,
    );
  });

  it('external users need a grant: an allowed user lists tools, another is refused and its call recorded', async () => {
    for (const name of ['ann', 'ben']) await unwrap(api.POST('/external_users', { body: { name } }));
    await unwrap(
      api.POST('/access_policies', {
        body: {
          name: 'ann-reads',
          principals: [{ type: 'external_user', value: 'ann' }],
          servers: [serverA.serverId],
          tools: ['search_tickets'],
        },
      }),
    );
    const ann = { 'x-api-key': stack.bootstrapKey, 'x-username': 'ann' };
    expect(
      await afterPropagation(
        () => toolNames(serverA.mcpUrl, ann),
        (n) => n.length === 1,
      ),
    ).toEqual(['search_tickets']);
    expect(await refused(serverB.mcpUrl, ann)).toContain('no access policy grants external user "ann" access');
    const ben = { 'x-api-key': stack.bootstrapKey, 'x-username': 'ben' };
    expect(await refused(serverA.mcpUrl, ben)).toContain('no access policy grants external user "ben"');
    const call = await rpc(serverA.mcpUrl, ben, 'tools/call', {
      name: 'get_ticket',
      arguments: { ticket_id: 'TCK-1' },
    });
    expect(call.status).toBe(403);
    expect(call.body.error!.message).toContain('Access denied');
    await findRecord(
      { server_id: serverA.serverId, outcome: 'rejected' },
      (r) => r.caller.username === 'ben' && r.tool === 'get_ticket' && r.error_code === 'access.denied',
    );
    // Without x-username the same key is not limited by user policies.
    expect(await toolNames(serverA.mcpUrl, { 'x-api-key': stack.bootstrapKey })).toEqual(serverA.tools);
  });

  it('OAuth subjects and groups need a grant', async () => {
    const bearer = async (sub: string, groups?: string[]) => ({ authorization: `Bearer ${await token(sub, groups)}` });
    expect(await refused(serverA.mcpUrl, await bearer('dave', ['sales']))).toContain(
      'no access policy grants OAuth subject "dave" (groups: sales)',
    );
    await unwrap(
      api.POST('/access_policies', {
        body: {
          name: 'support-group',
          principals: [{ type: 'oauth_group', value: 'support' }],
          servers: [serverA.serverId],
          tools: ['get_ticket', 'search_tickets'],
        },
      }),
    );
    await unwrap(
      api.POST('/access_policies', {
        body: { name: 'erin', principals: [{ type: 'oauth_subject', value: 'erin' }], servers: ['*'], tools: ['*'] },
      }),
    );
    expect(
      await afterPropagation(
        async () => toolNames(serverA.mcpUrl, await bearer('carol', ['support', 'sales'])).catch(() => []),
        (n) => n.length === 2,
      ),
    ).toEqual(['search_tickets', 'get_ticket']);
    expect(await toolNames(serverA.mcpUrl, await bearer('erin'))).toEqual(serverA.tools);
    expect(await refused(serverA.mcpUrl, await bearer('dave', ['sales']))).toContain('Access denied');

    const client = await connect(serverA.mcpUrl, await bearer('carol', ['support']));
    const ok = await client.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } });
    const denied = await client.callTool({ name: 'create_ticket', arguments: { title: 'x' } });
    await client.close();
    expect(ok.structuredContent).toMatchObject({ id: 'TCK-1' });
    expect((denied.content as { text: string }[])[0]!.text).toBe(
      'Access denied: OAuth subject "carol" (groups: support) may not use tool "create_ticket" on this MCP server (no access policy grants it).',
    );
    await findRecord(
      { server_id: serverA.serverId, outcome: 'rejected' },
      (r) => r.tool === 'create_ticket' && r.message !== null && r.message.includes('"carol"'),
    );
  });
});
