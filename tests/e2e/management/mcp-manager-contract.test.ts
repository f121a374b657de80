import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { ApiError, type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import { startTestStack } from '../../helpers/stack.ts';

// Contract tests of the seed-002 management API beyond mcp-manager.test.ts: creation (every invalid
// field listed at once, defaults, conflicts), GET shapes, /config in standard MCP tool format, PATCH
// semantics (omitted fields kept, null clears, renames), pagination edges, the external-users API,
// and the JSON-RPC runtime at POST /api/v1/mcp/{serverId}.

type Problem = { status: number; code: string; errors?: { path: string; message: string }[] };

let stack: Stack;
let upstream: TicketSystem;
let example: RegisteredExample;
let api: ManagementClient;

/** The status and problem a call of the management API (`unwrap`ped) fails with. */
async function rejected(call: Promise<unknown>): Promise<{ status: number; body: Problem }> {
  try {
    await call;
  } catch (err) {
    if (err instanceof ApiError) return { status: err.status, body: err.body as Problem };
    throw err;
  }
  throw new Error('the request was accepted');
}

async function rpc(
  serverId: string,
  body: unknown,
  headers: Record<string, string> = { 'x-api-key': stack.bootstrapKey },
): Promise<Response> {
  return fetch(`${stack.edgeUrl}/api/v1/mcp/${serverId}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-11-25',
      ...headers,
    },
    body: JSON.stringify(body),
  });
}

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'k' });
  ({ stack, api } = await startTestStack('mgrcontract'));
  example = await registerTicketExample(api, upstream.url, 'k', 'contract-tickets');
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await upstream?.close();
});

describe('POST /api/v1/mcp_manager', () => {
  it('lists every invalid field of a create request at once, as problem+json', async () => {
    const res = await fetch(`${stack.controlPlaneUrl}/api/v1/mcp_manager`, {
      method: 'POST',
      headers: { 'x-api-key': stack.bootstrapKey, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'Not A Slug',
        mode: 'CLEVER',
        selectedTools: 'get_ticket',
        isPublic: 'yes',
        externalMcpConfigs: [{ name: 'x', url: 'ftp://nope', tools: [] }],
      }),
    });
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const body = (await res.json()) as Problem;
    expect(body.errors!.map((e) => e.path).sort()).toEqual([
      '/externalMcpConfigs/0/url',
      '/isPublic',
      '/mode',
      '/name',
      '/selectedTools',
    ]);
    for (const e of body.errors!) expect(e.message.length).toBeGreaterThan(0);
  });

  it('requires a name, defaults to SMART and private, and refuses a duplicate name with 409', async () => {
    expect(
      (await rejected(unwrap(api.POST('/mcp_manager', { body: {} as never })))).body.errors!.map((e) => e.path),
    ).toEqual(['/name']);
    const created = await unwrap(api.POST('/mcp_manager', { body: { name: 'defaults' } }));
    expect(created).toMatchObject({
      name: 'defaults',
      mode: 'SMART',
      isPublic: false,
      perRequestAuth: false,
      codeMode: false,
      catalogVersion: 1,
      description: null,
      config: null,
    });
    expect(created.url).toBe(`${stack.edgeUrl}/mcp/${created.id}`);
    const dup = await rejected(unwrap(api.POST('/mcp_manager', { body: { name: 'defaults' } })));
    expect(dup.status).toBe(409);
    expect(dup.body.errors).toEqual([{ path: '/name', message: 'a server named "defaults" already exists' }]);
  });

  it('rejects unknown selected tools for NORMAL servers and stores nothing', async () => {
    const before = (await unwrap(api.GET('/mcp_manager'))).pagination.total;
    const err = await rejected(
      unwrap(
        api.POST('/mcp_manager', {
          body: {
            name: 'picky',
            mode: 'NORMAL',
            connectorInstanceId: example.instanceId,
            selectedTools: ['get_ticket', 'nope'],
          },
        }),
      ),
    );
    expect(err.status).toBe(422);
    expect(JSON.stringify(err.body.errors)).toContain('nope');
    expect(
      (
        await rejected(
          unwrap(
            api.POST('/mcp_manager', {
              body: { name: 'ghost', mode: 'NORMAL', connectorInstanceId: '00000000-0000-4000-8000-000000000000' },
            }),
          ),
        )
      ).body.errors![0]!.path,
    ).toBe('/connectorInstanceId');
    expect((await unwrap(api.GET('/mcp_manager'))).pagination.total).toBe(before);
  });
});

describe('GET /api/v1/mcp_manager/{id} and /config', () => {
  it('returns the server’s connection details and metadata', async () => {
    const got = await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: example.serverId } } }));
    expect(Object.keys(got).sort()).toEqual([
      'approvalRule',
      'approvalTools',
      'catalogVersion',
      'codeMode',
      'config',
      'confirmTools',
      'connectorInstanceId',
      'createdAt',
      'description',
      'externalMcpConfigs',
      'externalMcpServers',
      'fromDescriptor',
      'id',
      'isPublic',
      'mode',
      'name',
      'perRequestAuth',
      'ruleSettings',
      'selectedTools',
      'tools',
      'twin',
      'updatedAt',
      'url',
    ]);
    expect(got).toMatchObject({
      id: example.serverId,
      mode: 'NORMAL',
      twin: 'off',
      connectorInstanceId: example.instanceId,
      externalMcpConfigs: [],
      fromDescriptor: false,
      tools: ['search_tickets', 'get_ticket', 'create_ticket'],
    });
  });

  it('lists the exposed tools in standard MCP format (name, description, inputSchema)', async () => {
    const config = await unwrap(api.GET('/mcp_manager/{id}/config', { params: { path: { id: example.serverId } } }));
    expect(config.mode).toBe('NORMAL');
    expect(config.tools.map((t) => t.name).sort()).toEqual(['create_ticket', 'get_ticket', 'search_tickets']);
    for (const t of config.tools) {
      expect(typeof t.description).toBe('string');
      expect(t.inputSchema.type).toBe('object');
    }
    expect(
      (
        await rejected(
          unwrap(
            api.GET('/mcp_manager/{id}/config', { params: { path: { id: '00000000-0000-4000-8000-000000000000' } } }),
          ),
        )
      ).status,
    ).toBe(404);
  });
});

describe('PATCH /api/v1/mcp_manager/{id} semantics', () => {
  it('keeps omitted fields, clears description with null, renames, and bumps the catalog version', async () => {
    const s = await unwrap(
      api.POST('/mcp_manager', {
        body: {
          name: 'patchme',
          description: 'first',
          mode: 'NORMAL',
          connectorInstanceId: example.instanceId,
          config: { team: 'a' },
        },
      }),
    );
    const described = await unwrap(
      api.PATCH('/mcp_manager/{id}', { params: { path: { id: s.id } }, body: { description: 'second' } }),
    );
    expect(described).toMatchObject({
      name: 'patchme',
      description: 'second',
      mode: 'NORMAL',
      config: { team: 'a' },
      connectorInstanceId: example.instanceId,
      catalogVersion: 2,
    });
    const renamed = await unwrap(
      api.PATCH('/mcp_manager/{id}', { params: { path: { id: s.id } }, body: { name: 'patched', description: null } }),
    );
    expect(renamed).toMatchObject({ name: 'patched', description: null, config: { team: 'a' }, catalogVersion: 3 });
    const clash = await rejected(
      unwrap(api.PATCH('/mcp_manager/{id}', { params: { path: { id: s.id } }, body: { name: 'contract-tickets' } })),
    );
    expect(clash.status).toBe(409);
    const invalid = await rejected(
      unwrap(
        api.PATCH('/mcp_manager/{id}', { params: { path: { id: s.id } }, body: { name: 'UPPER', mode: 'X' } as never }),
      ),
    );
    expect(invalid.body.errors!.map((e) => e.path).sort()).toEqual(['/mode', '/name']);
    expect(await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: s.id } } }))).toMatchObject({
      name: 'patched',
      catalogVersion: 3,
    });
  });
});

describe('pagination edges', () => {
  it('accepts the largest limit, answers an empty page past the end, and rejects limit 0 and an unknown cursor gracefully', async () => {
    const all = await unwrap(api.GET('/mcp_manager', { params: { query: { limit: 100 } } }));
    expect(all.data.length).toBe(all.pagination.total);
    expect(all.pagination.nextCursor).toBeNull();
    const past = await unwrap(api.GET('/mcp_manager', { params: { query: { page: 999, limit: 100 } } }));
    expect(past.data).toEqual([]);
    expect(
      (await rejected(unwrap(api.GET('/mcp_manager', { params: { query: { limit: 0 } } })))).body.errors!.map(
        (e) => e.path,
      ),
    ).toEqual(['/limit']);
    expect(
      (await rejected(unwrap(api.GET('/mcp_manager', { params: { query: { page: 'abc' as never } } })))).status,
    ).toBe(422);
  });
});

describe('external users API', () => {
  it('creates, lists and deletes users by name; validates and answers 404/409', async () => {
    const created = await unwrap(api.POST('/external_users', { body: { name: 'ada@example.com' } }));
    expect(created.name).toBe('ada@example.com');
    expect((await rejected(unwrap(api.POST('/external_users', { body: { name: 'ada@example.com' } })))).status).toBe(
      409,
    );
    const invalid = await rejected(unwrap(api.POST('/external_users', { body: { name: '', extra: 1 } })));
    expect(invalid.status).toBe(422);
    expect(invalid.body.errors!.length).toBeGreaterThanOrEqual(2);
    const list = await unwrap(api.GET('/external_users'));
    expect(list.data.map((u) => u.name)).toContain('ada@example.com');
    expect(
      (await rejected(unwrap(api.GET('/external_users/{name}/connections', { params: { path: { name: 'nobody' } } }))))
        .status,
    ).toBe(404);
    expect(
      (
        await rejected(
          unwrap(
            api.PUT('/external_users/{name}/connections/{instanceId}', {
              params: { path: { name: 'nobody', instanceId: example.instanceId } },
              body: { credentials: { api_key: 'x' } },
            }),
          ),
        )
      ).status,
    ).toBe(404);
    const badConnection = await rejected(
      unwrap(
        api.PUT('/external_users/{name}/connections/{instanceId}', {
          params: { path: { name: 'ada@example.com', instanceId: example.instanceId } },
          body: { credentials: { no_such_field: 'x' } },
        }),
      ),
    );
    expect(badConnection.status).toBe(422);
    const res = await fetch(`${stack.controlPlaneUrl}/api/v1/external_users/${encodeURIComponent('ada@example.com')}`, {
      method: 'DELETE',
      headers: { 'x-api-key': stack.bootstrapKey },
    });
    expect(res.status).toBe(204);
    expect(
      (await rejected(unwrap(api.DELETE('/external_users/{name}', { params: { path: { name: 'ada@example.com' } } }))))
        .status,
    ).toBe(404);
  });
});

describe('POST /api/v1/mcp/{serverId} (JSON-RPC)', () => {
  it('answers tools/list and tools/call as JSON-RPC 2.0 with the API key', async () => {
    const list = await rpc(example.serverId, { jsonrpc: '2.0', id: 1, method: 'tools/list' });
    expect(list.status).toBe(200);
    const listed = (await list.json()) as { jsonrpc: string; id: number; result: { tools: { name: string }[] } };
    expect(listed).toMatchObject({ jsonrpc: '2.0', id: 1 });
    expect(listed.result.tools.map((t) => t.name).sort()).toEqual(['create_ticket', 'get_ticket', 'search_tickets']);

    const call = await rpc(example.serverId, {
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/call',
      params: { name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } },
    });
    const called = (await call.json()) as {
      id: number;
      result: { isError?: boolean; structuredContent: { id: string } };
    };
    expect(called.id).toBe(2);
    expect(called.result.isError).toBeFalsy();
    expect(called.result.structuredContent.id).toBe('TCK-1');

    const unknown = (await (
      await rpc(example.serverId, { jsonrpc: '2.0', id: 3, method: 'no/such/method' })
    ).json()) as { error: { code: number } };
    expect(unknown.error.code).toBe(-32601);
    expect((await rpc(example.serverId, { jsonrpc: '2.0', id: 4, method: 'tools/list' }, {})).status).toBe(401);
  });
});
