import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { ApiError, createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, ticketSystemDescriptorYaml, type TicketSystem } from '@toolplane/examples';
import { startTestStack } from '../../helpers/stack.ts';
import { PROPAGATION_DEADLINE_MS } from '../../helpers/wait.ts';

let stack: Stack;
let upstream: TicketSystem;
let example: RegisteredExample;
let api: ManagementClient;
const serverIds: string[] = [];

async function toolNames(url: string): Promise<string[]> {
  const client = new Client({ name: 'mgr', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { 'x-api-key': stack.bootstrapKey } } }),
  );
  const { tools } = await client.listTools();
  await client.close();
  return tools.map((t) => t.name);
}

/** The `ApiError` a call of the management API (`unwrap`ped) fails with. */
async function rejected(call: Promise<unknown>): Promise<ApiError> {
  try {
    await call;
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('the request was accepted');
}

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'k' });
  ({ stack, api } = await startTestStack('mgr'));
  example = await registerTicketExample(api, upstream.url, 'k', 'srv-a');
  serverIds.push(example.serverId);
  for (const name of ['srv-b', 'srv-c', 'srv-d', 'srv-e']) {
    const s = await unwrap(
      api.POST('/mcp_manager', { body: { name, mode: 'NORMAL', connectorInstanceId: example.instanceId } }),
    );
    serverIds.push(s.id);
  }
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await upstream?.close();
});

describe('GET /api/v1/mcp_manager pagination', () => {
  type Page = {
    data: { id: string; name: string }[];
    pagination: { page?: number; limit: number; total: number; nextCursor: string | null };
  };

  it('pages by page and limit in creation order', async () => {
    const p1 = await unwrap(api.GET('/mcp_manager', { params: { query: { page: 1, limit: 2 } } }));
    const p3 = await unwrap(api.GET('/mcp_manager', { params: { query: { page: 3, limit: 2 } } }));
    const p4 = await unwrap(api.GET('/mcp_manager', { params: { query: { page: 4, limit: 2 } } }));
    expect(p1.data.map((s) => s.name)).toEqual(['srv-a', 'srv-b']);
    expect(p1.pagination).toEqual({ page: 1, limit: 2, total: 5, nextCursor: serverIds[1] });
    expect(p3.data.map((s) => s.name)).toEqual(['srv-e']);
    expect(p3.pagination.nextCursor).toBeNull();
    expect(p4.data).toEqual([]);
  });

  it('follows cursors to the end', async () => {
    const names: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Page = await unwrap(
        api.GET('/mcp_manager', { params: { query: { limit: 2, ...(cursor ? { cursor } : {}) } } }),
      );
      names.push(...page.data.map((s) => s.name));
      cursor = page.pagination.nextCursor;
    } while (cursor);
    expect(names).toEqual(['srv-a', 'srv-b', 'srv-c', 'srv-d', 'srv-e']);
  });

  it('rejects invalid paging parameters with every field listed', async () => {
    const err = await rejected(
      unwrap(api.GET('/mcp_manager', { params: { query: { page: 0, limit: 1000, cursor: 'nope' } } })),
    );
    expect(err.status).toBe(422);
    expect((err.body as { errors: { path: string }[] }).errors.map((e) => e.path).sort()).toEqual([
      '/cursor',
      '/limit',
      '/page',
    ]);
  });
});

describe('GET /api/v1/mcp_manager/{id}/tools and /api/v1/connector_instances/{id}/tools', () => {
  it('lists the instance’s tools and a server’s, with their schemas and where they come from', async () => {
    const instance = await unwrap(
      api.GET('/connector_instances/{id}/tools', { params: { path: { id: example.instanceId } } }),
    );
    expect(instance.instanceId).toBe(example.instanceId);
    expect(instance.connector).toBe('ticket-system');
    expect(instance.data.map((t) => t.name).sort()).toEqual([...example.tools].sort());
    for (const t of instance.data) {
      expect(t.inputSchema.type).toBe('object');
      expect(t.source).toMatchObject({ kind: 'connector_instance', instanceId: example.instanceId });
    }
    // srv-c: bound to the instance without a selection, by id or by name; the schemas the edge serves.
    const byId = await unwrap(api.GET('/mcp_manager/{id}/tools', { params: { path: { id: serverIds[2]! } } }));
    const byName = await unwrap(api.GET('/mcp_manager/{id}/tools', { params: { path: { id: 'srv-c' } } }));
    expect(byName).toEqual(byId);
    expect(byId).toMatchObject({ serverId: serverIds[2], mode: 'NORMAL', catalogVersion: 1 });
    expect(byId.data).toEqual(instance.data);
    const config = await unwrap(api.GET('/mcp_manager/{id}/config', { params: { path: { id: serverIds[2]! } } }));
    // What clients see (the config's tools, as in tools/list) is each tool without its source, marks, cost and labels.
    expect(
      byId.data.map(({ source: _s, confirm: _c, confirmSuggested: _cs, cost: _cost, labels: _l, ...tool }) => tool),
    ).toEqual(config.tools);
    expect(byId.data.map((t) => t.cost)).toEqual([1, 1, 1]);
    expect(byId.data.map((t) => t.labels)).toEqual([[], [], []]);
    // Confirmation is suggested for what cannot be undone or safely sent twice (a POST without idempotency key).
    expect(byId.data.map((t) => [t.name, t.confirm, t.confirmSuggested])).toEqual([
      ['search_tickets', false, false],
      ['get_ticket', false, false],
      ['create_ticket', false, true],
    ]);
  });

  it('lets a key limited to servers read its own server’s tools only, and no instance’s', async () => {
    const created = await unwrap(
      api.POST('/api_keys', { body: { name: 'tools-limited', scopes: ['management'], serverIds: [serverIds[2]!] } }),
    );
    const limited = createManagementClient(stack.controlPlaneUrl, created.key);
    const own = await unwrap(limited.GET('/mcp_manager/{id}/tools', { params: { path: { id: serverIds[2]! } } }));
    expect(own.data.length).toBe(example.tools.length);
    const other = limited.GET('/mcp_manager/{id}/tools', { params: { path: { id: serverIds[1]! } } });
    expect((await rejected(unwrap(other))).status).toBe(404);
    const instance = limited.GET('/connector_instances/{id}/tools', { params: { path: { id: example.instanceId } } });
    expect((await rejected(unwrap(instance))).status).toBe(403);
  });

  it('answers 404 for unknown servers and instances', async () => {
    const unknown = { params: { path: { id: '00000000-0000-4000-8000-000000000000' } } };
    expect((await rejected(unwrap(api.GET('/mcp_manager/{id}/tools', unknown)))).status).toBe(404);
    expect((await rejected(unwrap(api.GET('/connector_instances/{id}/tools', unknown)))).status).toBe(404);
    const notUuid = { params: { path: { id: 'not-a-uuid' } } };
    expect((await rejected(unwrap(api.GET('/connector_instances/{id}/tools', notUuid)))).status).toBe(404);
  });
});

describe('PATCH and DELETE /api/v1/mcp_manager/{id}', () => {
  it('narrows the exposed tools with selectedTools, live on the edge', async () => {
    const updated = await unwrap(
      api.PATCH('/mcp_manager/{id}', {
        params: { path: { id: example.serverId } },
        body: { selectedTools: ['get_ticket'] },
      }),
    );
    expect(updated.tools).toEqual(['get_ticket']);
    expect(updated.catalogVersion).toBe(2);
    expect(await toolNames(example.mcpUrl)).toEqual(['get_ticket']);
  });

  it('rejects an unknown selected tool or field and changes nothing', async () => {
    const before = await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: example.serverId } } }));
    const unknownTool = await rejected(
      unwrap(
        api.PATCH('/mcp_manager/{id}', {
          params: { path: { id: example.serverId } },
          body: { selectedTools: ['get_ticket', 'drop_database'] },
        }),
      ),
    );
    expect(unknownTool.status).toBe(422);
    expect((unknownTool.body as { errors: { path: string; message: string }[] }).errors).toEqual([
      { path: '/selectedTools/1', message: 'no tool "drop_database" in connector ticket-system' },
    ]);
    const unknownField = await rejected(
      unwrap(
        api.PATCH('/mcp_manager/{id}', {
          params: { path: { id: example.serverId } },
          body: { selectTools: [] } as never,
        }),
      ),
    );
    expect(unknownField.status).toBe(422);
    const after = await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: example.serverId } } }));
    expect(after).toEqual(before);
    expect(await toolNames(example.mcpUrl)).toEqual(['get_ticket']);
  });

  it('makes a server callable without a key when isPublic is set, and private again when unset', async () => {
    const target = serverIds[3]!;
    const anonymous = () =>
      fetch(`${stack.edgeUrl}/mcp/${target}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2025-11-25',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
    // Catalog changes reach the edge over pub/sub.
    const statusSoon = async (want: number) => {
      const deadline = Date.now() + PROPAGATION_DEADLINE_MS;
      let res = await anonymous();
      while (res.status !== want && Date.now() < deadline) res = await anonymous();
      return res;
    };
    expect((await anonymous()).status).toBe(401); // private by default
    await unwrap(api.PATCH('/mcp_manager/{id}', { params: { path: { id: target } }, body: { isPublic: true } }));
    const open = await statusSoon(200);
    expect(open.status).toBe(200);
    expect(await open.text()).toContain('search_tickets');
    await unwrap(api.PATCH('/mcp_manager/{id}', { params: { path: { id: target } }, body: { isPublic: false } }));
    expect((await statusSoon(401)).status).toBe(401);
  });

  it('answers 404 for unknown ids, malformed ids included', async () => {
    const unknown = { params: { path: { id: '00000000-0000-4000-8000-000000000000' } } };
    const notUuid = { params: { path: { id: 'not-a-uuid' } } };
    expect((await rejected(unwrap(api.GET('/mcp_manager/{id}', unknown)))).status).toBe(404);
    expect(
      (await rejected(unwrap(api.PATCH('/mcp_manager/{id}', { ...notUuid, body: { description: 'x' } })))).status,
    ).toBe(404);
    expect((await rejected(unwrap(api.DELETE('/mcp_manager/{id}', notUuid)))).status).toBe(404);
  });

  it('deletes a server: gone from the API and from the edge', async () => {
    const victim = serverIds[4]!;
    const res = await fetch(`${stack.controlPlaneUrl}/api/v1/mcp_manager/${victim}`, {
      method: 'DELETE',
      headers: { 'x-api-key': stack.bootstrapKey },
    });
    expect(res.status).toBe(204);
    expect((await rejected(unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: victim } } })))).status).toBe(
      404,
    );
    const mcp = await fetch(`${stack.edgeUrl}/mcp/${victim}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'x-api-key': stack.bootstrapKey,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(mcp.status).toBe(404);
  });
});

// Last: replacing the connector's document makes a new catalog version of every server above.
describe('data-flow labels of a server’s tools (ADR 0078)', () => {
  it('carries each tool’s data-flow labels: declared by its route, the server’s classification; never to clients', async () => {
    // The server's classification is checked when it is saved: every problem at its path.
    const refused = await rejected(
      unwrap(
        api.POST('/mcp_manager', {
          body: {
            name: 'srv-labelled',
            mode: 'NORMAL',
            connectorInstanceId: example.instanceId,
            config: { dataLabels: ['private', 'external_write', 'private'] },
          },
        }),
      ),
    );
    expect(refused.status).toBe(422);
    expect(refused.issues.map((e) => e.path)).toEqual(['/config/dataLabels/1', '/config/dataLabels/2']);
    const server = await unwrap(
      api.POST('/mcp_manager', {
        body: {
          name: 'srv-labelled',
          mode: 'NORMAL',
          connectorInstanceId: example.instanceId,
          config: { dataLabels: ['private'] },
        },
      }),
    );
    // The connector declares labels on two routes (a document replaced: every server of its instances recompiled).
    const labelled = ticketSystemDescriptorYaml
      .replace(/(mcp_tool_name: search_tickets\n(\s*)mcp_tool_description: [^\n]*\n)/, '$1$2labels: [untrusted]\n')
      .replace(/(mcp_tool_name: create_ticket\n(\s*)mcp_tool_description: [^\n]*\n)/, '$1$2labels: [external_write]\n');
    expect(labelled).toMatch(/labels: \[untrusted\][\s\S]*labels: \[external_write\]/);
    await unwrap(
      api.PUT('/connectors/{id}', {
        params: { path: { id: example.connectorId } },
        body: labelled as never,
        bodySerializer: (b) => b as unknown as string,
        headers: { 'content-type': 'application/yaml' },
      }),
    );
    const tools = await unwrap(api.GET('/mcp_manager/{id}/tools', { params: { path: { id: server.id } } }));
    const classified = { label: 'private', source: 'classification' };
    expect(Object.fromEntries(tools.data.map((t) => [t.name, t.labels]))).toEqual({
      search_tickets: [classified, { label: 'untrusted', source: 'declared' }],
      get_ticket: [classified],
      create_ticket: [classified, { label: 'external_write', source: 'declared' }],
    });
    // A server without a classification has the declared ones only.
    const plain = await unwrap(api.GET('/mcp_manager/{id}/tools', { params: { path: { id: serverIds[2]! } } }));
    expect(plain.data.map((t) => [t.name, t.labels.map((l) => l.label)])).toEqual([
      ['search_tickets', ['untrusted']],
      ['get_ticket', []],
      ['create_ticket', ['external_write']],
    ]);
    // Agents never see them: tools/list as the edge serves it.
    const client = new Client({ name: 'mgr', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(server.url), {
        requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
      }),
    );
    const { tools: listed } = await client.listTools();
    await client.close();
    expect(listed.map((t) => t.name).sort()).toEqual(['create_ticket', 'get_ticket', 'search_tickets']);
    expect(JSON.stringify(listed)).not.toMatch(/external_write|classification|"labels"/);
  });
});
