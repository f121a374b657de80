import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, SSEClientTransport, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport as SSEClientTransportV1 } from '@modelcontextprotocol/sdk/client/sse.js';
import { Validator } from '@seriousme/openapi-schema-validator';
import { createMCPClient } from '@ai-sdk/mcp';
import { StreamableHTTPClientTransport as StreamableHTTPClientTransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { registerTicketExample, reuseTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, ticketSystemDescriptorYaml, type TicketSystem } from '@toolplane/examples';
import { startTestStack, tempDir } from '../../helpers/stack.ts';
import { PROPAGATION_DEADLINE_MS, waitFor } from '../../helpers/wait.ts';

const UPSTREAM_KEY = 'upstream-secret-key-4f1c';

let stack: Stack;
let upstream: TicketSystem;
let example: RegisteredExample;
let api: ManagementClient;

async function connectV2(url: string, apiKey: string, era: 'legacy' | 'auto' = 'legacy'): Promise<Client> {
  const client = new Client({ name: 'e2e-v2', version: '1.0.0' }, { versionNegotiation: { mode: era } });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { 'x-api-key': apiKey } } }),
  );
  return client;
}

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: UPSTREAM_KEY });
  ({ stack, api } = await startTestStack('skeleton'));
  example = await registerTicketExample(api, upstream.url, UPSTREAM_KEY);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await upstream?.close();
});

describe('a connector descriptor served as an MCP server (edge → Redis → worker)', () => {
  it('lists exactly the mapped tools with the seed descriptions and JSON Schema inputs', async () => {
    const client = await connectV2(example.mcpUrl, stack.bootstrapKey);
    const { tools } = await client.listTools();
    await client.close();
    expect(tools.map((t) => t.name)).toEqual(['search_tickets', 'get_ticket', 'create_ticket']);
    expect(tools.map((t) => t.description)).toEqual([
      'Search support tickets by status, assignee, or other filters. Returns ticket IDs, titles, statuses, and assignees.',
      'Get full details of a support ticket including description, comments, and history.',
      'Create a new support ticket with title, description, and priority.',
    ]);
    expect(tools[0]!.inputSchema).toEqual({
      type: 'object',
      additionalProperties: false,
      properties: {
        status: { type: 'string', description: 'Filter by status (open, closed, in_progress)' },
        assignee: { type: 'string', description: 'Filter by assignee email' },
        limit: { type: 'integer', default: 25 },
      },
    });
    expect(tools[1]!.inputSchema.required).toEqual(['ticket_id']);
    expect(tools[2]!.inputSchema).toMatchObject({
      required: ['title'],
      properties: { priority: { type: 'string', default: 'medium' } },
    });
  });

  it('calls each tool against the upstream with the API key header and the right method, path, query and body', async () => {
    const client = await connectV2(example.mcpUrl, stack.bootstrapKey);
    const before = upstream.requests.length;

    const search = await client.callTool({
      name: 'search_tickets',
      arguments: { status: 'open', assignee: 'ada@example.com' },
    });
    expect(search.isError).toBeFalsy();
    expect(search.structuredContent).toEqual({
      tickets: [{ id: 'TCK-1', title: 'Login page returns 500', status: 'open', assignee: 'ada@example.com' }],
      total: 1,
    });

    const get = await client.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-2' } });
    expect(get.structuredContent).toMatchObject({ id: 'TCK-2', title: 'Export to CSV is slow' });

    const created = await client.callTool({
      name: 'create_ticket',
      arguments: { title: 'Printer on fire', description: 'Third floor' },
    });
    expect(created.structuredContent).toMatchObject({
      title: 'Printer on fire',
      description: 'Third floor',
      priority: 'medium',
      status: 'open',
    });
    await client.close();

    const seen = upstream.requests.slice(before);
    expect(seen.map((r) => ({ method: r.method, path: r.path, query: r.query, body: r.body }))).toEqual([
      {
        method: 'GET',
        path: '/api/v1/tickets',
        query: { status: 'open', assignee: 'ada@example.com', limit: '25' },
        body: undefined,
      },
      { method: 'GET', path: '/api/v1/tickets/TCK-2', query: {}, body: undefined },
      {
        method: 'POST',
        path: '/api/v1/tickets',
        query: {},
        body: { title: 'Printer on fire', description: 'Third floor', priority: 'medium' },
      },
    ]);
    for (const r of seen) expect(r.headers['x-api-key']).toBe(UPSTREAM_KEY);
  });

  it('returns an isError result naming the field when a required argument is missing, without calling the upstream', async () => {
    const client = await connectV2(example.mcpUrl, stack.bootstrapKey);
    const before = upstream.requests.length;
    const result = await client.callTool({ name: 'get_ticket', arguments: {} });
    const wrongType = await client.callTool({ name: 'search_tickets', arguments: { limit: 'ten' } });
    await client.close();
    expect(result.isError).toBe(true);
    expect(JSON.stringify(result.content)).toContain('missing required argument \\"ticket_id\\"');
    expect(wrongType.isError).toBe(true);
    expect(JSON.stringify(wrongType.content)).toContain('argument \\"limit\\" must be integer');
    expect(upstream.requests.length).toBe(before);
  });

  it('reports upstream failures as tool errors the model can read', async () => {
    const client = await connectV2(example.mcpUrl, stack.bootstrapKey);
    const result = await client.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-404' } });
    await client.close();
    expect(result.isError).toBe(true);
    expect(result.content).toEqual([
      { type: 'text', text: 'The upstream API answered HTTP 404. Body: {"error":"ticket TCK-404 not found"}' },
    ]);
  });

  it('answers HTTP 401 without an x-api-key and with a wrong one', async () => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} });
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const missing = await fetch(example.mcpUrl, { method: 'POST', headers, body });
    const wrong = await fetch(example.mcpUrl, {
      method: 'POST',
      headers: { ...headers, 'x-api-key': 'tp_wrong' },
      body,
    });
    expect(missing.status).toBe(401);
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as { error: { message: string } }).error.message).toBe('Invalid API key.');
    await expect(connectV2(example.mcpUrl, 'tp_wrong')).rejects.toThrow();
  });

  it('refuses browser origins that are not allowed (DNS rebinding) and keys without the runtime scope', async () => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} });
    const headers = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'x-api-key': stack.bootstrapKey,
    };
    const foreign = await fetch(example.mcpUrl, {
      method: 'POST',
      headers: { ...headers, origin: 'http://evil.example' },
      body,
    });
    expect(foreign.status).toBe(403);
    const managementOnly = await unwrap(
      api.POST('/api_keys', { body: { name: 'admin-only', scopes: ['management'] } }),
    );
    const denied = await fetch(example.mcpUrl, {
      method: 'POST',
      headers: { ...headers, 'x-api-key': managementOnly.key },
      body,
    });
    expect(denied.status).toBe(403);
  });

  it('stops accepting a revoked key on the edge', async () => {
    const created = await unwrap(api.POST('/api_keys', { body: { name: 'short-lived' } }));
    const client = await connectV2(example.mcpUrl, created.key);
    expect((await client.listTools()).tools).toHaveLength(3);
    await client.close();
    const res = await fetch(`${stack.controlPlaneUrl}/api/v1/api_keys/${created.id}`, {
      method: 'DELETE',
      headers: { 'x-api-key': stack.bootstrapKey },
    });
    expect(res.status).toBe(204);
    const deadline = Date.now() + PROPAGATION_DEADLINE_MS;
    let status: number;
    do {
      status = (
        await fetch(example.mcpUrl, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            'x-api-key': created.key,
          },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
        })
      ).status;
    } while (status !== 401 && Date.now() < deadline);
    expect(status).toBe(401);
    const listed = await unwrap(api.GET('/api_keys'));
    expect(listed.data.find((k) => k.id === created.id)!.revokedAt).not.toBeNull();
  });

  it('serves MCP 2026-07-28: a negotiating v2 client gets the modern era and calls tools', async () => {
    const client = await connectV2(example.mcpUrl, stack.bootstrapKey, 'auto');
    expect(client.getNegotiatedProtocolVersion()).toBe('2026-07-28');
    const { tools } = await client.listTools();
    const result = await client.callTool({ name: 'search_tickets', arguments: { status: 'in_progress' } });
    const invalid = await client.callTool({ name: 'get_ticket', arguments: {} });
    await client.close();
    expect(tools.map((t) => t.name)).toEqual(['search_tickets', 'get_ticket', 'create_ticket']);
    expect(result.structuredContent).toMatchObject({ tickets: [{ id: 'TCK-2' }], total: 1 });
    expect(invalid.isError).toBe(true);
  });

  /** A raw `tools/list` of `version` (the 2026-07-28 envelope naming it, unless `envelope` is false). */
  const rawList = (version: string, id: number, envelope = true) => {
    const meta = {
      'io.modelcontextprotocol/protocolVersion': version,
      'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
      'io.modelcontextprotocol/clientCapabilities': {},
    };
    return fetch(example.mcpUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'x-api-key': stack.bootstrapKey,
        'mcp-protocol-version': version,
        'mcp-method': 'tools/list',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/list', params: envelope ? { _meta: meta } : {} }),
    });
  };

  it('answers a raw 2026-07-28 tools/list with JSON, a deterministic order and a private caching hint', async () => {
    const res = await rawList('2026-07-28', 7);
    expect(res.headers.get('content-type')).toContain('application/json');
    const body = (await res.json()) as { result: { tools: { name: string }[]; ttlMs: number; cacheScope: string } };
    expect(body.result.tools.map((t) => t.name)).toEqual(['search_tickets', 'get_ticket', 'create_ticket']);
    expect(body.result).toMatchObject({ ttlMs: 10_000, cacheScope: 'private' });
  });

  it('answers a revision it serves in neither era with UnsupportedProtocolVersion (-32022) naming what server/discover names', async () => {
    // With and without the 2026-07-28 envelope (a 2025-era client's request).
    for (const envelope of [true, false]) {
      const res = await rawList('2099-01-01', 9, envelope);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({
        jsonrpc: '2.0',
        id: 9,
        error: {
          code: -32022,
          message: expect.stringContaining('2099-01-01') as unknown,
          data: { requested: '2099-01-01', supported: ['2026-07-28'] },
        },
      });
    }
  });

  it('serves 2025-11-25 clients: the default v2 client handshake negotiates it', async () => {
    const client = await connectV2(example.mcpUrl, stack.bootstrapKey);
    expect(client.getNegotiatedProtocolVersion()).toBe('2025-11-25');
    await client.close();
  });

  it('serves 2025-era clients too: the v1 SDK client lists and calls the same tools', async () => {
    const client = new ClientV1({ name: 'e2e-v1', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransportV1(new URL(example.mcpUrl), {
        requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
      }),
    );
    const { tools } = await client.listTools();
    const result = await client.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } });
    await client.close();
    expect(tools.map((t) => t.name)).toEqual(['search_tickets', 'get_ticket', 'create_ticket']);
    expect(result.structuredContent).toMatchObject({ id: 'TCK-1' });
  });

  it('serves the legacy HTTP+SSE transport at GET /api/v1/mcp/{serverId} (v1 and v2 SSE clients)', async () => {
    const url = new URL(`${stack.edgeUrl}/api/v1/mcp/${example.serverId}`);
    const headers = { 'x-api-key': stack.bootstrapKey };
    const withKey = (u: string | URL | Request, init?: RequestInit) => {
      const h = new Headers(init?.headers);
      h.set('x-api-key', stack.bootstrapKey);
      return fetch(u, { ...init, headers: h });
    };
    const v1 = new ClientV1({ name: 'sse-v1', version: '1.0.0' });
    await v1.connect(new SSEClientTransportV1(url, { requestInit: { headers }, eventSourceInit: { fetch: withKey } }));
    expect((await v1.listTools()).tools.map((t) => t.name)).toEqual(['search_tickets', 'get_ticket', 'create_ticket']);
    expect(
      (await v1.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-2' } })).structuredContent,
    ).toMatchObject({ id: 'TCK-2' });
    await v1.close();
    const v2 = new Client({ name: 'sse-v2', version: '1.0.0' });
    await v2.connect(new SSEClientTransport(url, { requestInit: { headers }, eventSourceInit: { fetch: withKey } }));
    expect((await v2.callTool({ name: 'get_ticket', arguments: {} })).isError).toBe(true);
    await v2.close();
    const anonymous = await fetch(url, { headers: { accept: 'text/event-stream' } });
    expect(anonymous.status).toBe(401);
  });

  it('is listed and called by the Vercel AI SDK client (@ai-sdk/mcp), including its AI SDK tool wrappers', async () => {
    const client = await createMCPClient({
      transport: { type: 'http', url: example.mcpUrl, headers: { 'x-api-key': stack.bootstrapKey } },
    });
    const listed = await client.listTools();
    expect(listed.tools.map((t) => t.name)).toEqual(['search_tickets', 'get_ticket', 'create_ticket']);
    const result = await client.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-3' } });
    expect(result.structuredContent).toMatchObject({ id: 'TCK-3' });
    const aiTools = await client.tools();
    expect(Object.keys(aiTools).sort()).toEqual(['create_ticket', 'get_ticket', 'search_tickets']);
    await client.close();
  });

  it('is listed and called by the @modelcontextprotocol/inspector v2 CLI', async () => {
    const require = createRequire(import.meta.url);
    const inspector = join(
      dirname(require.resolve('@modelcontextprotocol/inspector/package.json')),
      'clients',
      'launcher',
      'build',
      'index.js',
    );
    const run = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(
          process.execPath,
          [
            inspector,
            '--cli',
            example.mcpUrl,
            '--transport',
            'http',
            '--header',
            `x-api-key: ${stack.bootstrapKey}`,
            ...args,
          ],
          {
            env: {
              PATH: process.env.PATH ?? '',
              HOME: tempDir('inspector-home'),
              MCP_CATALOG_PATH: join(tempDir('inspector'), 'mcp.json'),
            },
          },
        );
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    const list = await run(['--method', 'tools/list']);
    expect(list.code).toBe(0);
    expect((JSON.parse(list.stdout) as { tools: { name: string }[] }).tools.map((t) => t.name)).toEqual([
      'search_tickets',
      'get_ticket',
      'create_ticket',
    ]);
    const call = await run(['--method', 'tools/call', '--tool-name', 'search_tickets', '--tool-arg', 'status=closed']);
    expect(call.code).toBe(0);
    expect(JSON.parse(call.stdout)).toMatchObject({
      structuredContent: { tickets: [{ id: 'TCK-3', status: 'closed' }], total: 1 },
    });
  }, 60_000);
});

describe('POST /api/v1/connector_instances/{id}/test', () => {
  it("runs the descriptor's test_endpoint from the worker with the instance's credentials", async () => {
    const before = upstream.requests.length;
    const passed = await unwrap(
      api.POST('/connector_instances/{id}/test', { params: { path: { id: example.instanceId } } }),
    );
    expect(passed).toMatchObject({ passed: true, status: 200, expected_status: 200 });
    const seen = upstream.requests.slice(before);
    expect(seen.map((r) => [r.method, r.path, r.headers['x-api-key']])).toEqual([['GET', '/api/v1/me', UPSTREAM_KEY]]);
  });

  it('reports a failure with the status seen when the credentials are wrong', async () => {
    const connector = (await unwrap(api.GET('/connectors'))).data[0]!;
    const wrong = await unwrap(
      api.POST('/connector_instances', {
        body: {
          createServer: false,
          connector_id: connector.id,
          name: 'wrong-key',
          base_url: upstream.url,
          credentials: { api_key: 'nope' },
        },
      }),
    );
    const result = await unwrap(api.POST('/connector_instances/{id}/test', { params: { path: { id: wrong.id } } }));
    expect(result).toMatchObject({
      passed: false,
      status: 401,
      expected_status: 200,
      error: 'expected HTTP 200, got 401',
    });
  });
});

describe('POST /api/v1/connectors validation', () => {
  const base = () => ticketSystemDescriptorYaml;
  async function rejected(text: string) {
    const before = (await unwrap(api.GET('/connectors'))).data.length;
    const res = await fetch(`${stack.controlPlaneUrl}/api/v1/connectors`, {
      method: 'POST',
      headers: { 'x-api-key': stack.bootstrapKey, 'content-type': 'application/yaml' },
      body: text,
    });
    const after = (await unwrap(api.GET('/connectors'))).data.length;
    expect(after).toBe(before);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    return {
      status: res.status,
      body: (await res.json()) as { code: string; errors: { path: string; message: string }[] },
    };
  }

  it('rejects every seed rule violation in one 422, each with its path, and stores nothing', async () => {
    const text = base()
      .replace('slug: "ticket-system"', 'slug: "ticket-system-bad"')
      .replace(
        '- operation_id: get_ticket\n      mcp_tool_name: get_ticket',
        '- operation_id: get_tickets_typo\n      mcp_tool_name: get_ticket',
      )
      .replace('mcp_tool_name: create_ticket', 'mcp_tool_name: search_tickets')
      .replace('  server_name: "ticket_system"\n', '')
      .replace('server_description: "Internal ticket management tools"', `server_description: "${'d'.repeat(501)}"`);
    const { status, body } = await rejected(text);
    expect(status).toBe(422);
    expect(body.code).toBe('document.invalid');
    expect(body.errors.map((e) => e.path).sort()).toEqual([
      '/mcp_config/route_mappings/1/operation_id',
      '/mcp_config/route_mappings/2/mcp_tool_name',
      '/mcp_config/server_description',
      '/mcp_config/server_name',
    ]);
    expect(body.errors.find((e) => e.path === '/mcp_config/server_name')!.message).toBe(
      'server_name is required when enabled is true',
    );
  });

  it('rejects a tool name longer than 100 characters', async () => {
    const { status, body } = await rejected(
      base().replace('mcp_tool_name: get_ticket', `mcp_tool_name: ${'g'.repeat(101)}`),
    );
    expect(status).toBe(422);
    expect(body.errors).toEqual([
      { path: '/mcp_config/route_mappings/1/mcp_tool_name', message: expect.stringContaining('100') },
    ]);
  });

  it('rejects broken YAML with the line and column of each problem', async () => {
    const { status, body } = await rejected('metadata: [unclosed\n  name: x');
    expect(status).toBe(422);
    expect(body.errors[0]!.message).toMatch(/^line \d+, column \d+: /);
    // A JSON descriptor is read as strictly: a duplicate key is a problem, not a silent overwrite.
    const duplicate = await rejected('{"metadata": {"name": "a", "name": "b"}}');
    expect(duplicate.status).toBe(422);
    expect(duplicate.body.errors[0]!.message).toMatch(/^line \d+, column \d+: .*unique/i);
  });

  it('generates a valid OpenAPI 3.1 document from the descriptor', async () => {
    const doc: Record<string, any> = await unwrap(
      api.GET('/connectors/{id}/openapi.json', { params: { path: { id: example.connectorId } } }),
    );
    const validator = new Validator();
    const result = await validator.validate(doc);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    expect(doc.servers).toEqual([{ url: 'https://tickets.internal.com' }]);
    expect(Object.keys(doc.paths)).toEqual(['/api/v1/tickets', '/api/v1/tickets/{ticket_id}']);
    expect(doc.paths['/api/v1/tickets'].post.requestBody.content['application/json'].schema).toMatchObject({
      required: ['title'],
      properties: { priority: { default: 'medium' } },
    });
    expect(doc.components.securitySchemes).toEqual({ api_key: { type: 'apiKey', in: 'header', name: 'X-API-Key' } });
  });

  it('accepts the seed descriptor once and refuses the same version twice', async () => {
    const res = await fetch(`${stack.controlPlaneUrl}/api/v1/connectors`, {
      method: 'POST',
      headers: { 'x-api-key': stack.bootstrapKey, 'content-type': 'application/yaml' },
      body: base(),
    });
    expect(res.status).toBe(409);
  });
});

describe('toolplane dev started again on the same data (reuseTicketExample)', () => {
  it('finds its example server again and points it at the new ticket system, registering nothing twice', async () => {
    expect(await reuseTicketExample(api, upstream.url, UPSTREAM_KEY, 'dev-example')).toBeUndefined();
    const first = await registerTicketExample(api, upstream.url, UPSTREAM_KEY, 'dev-example');
    // The next start: a new ticket system with a new key.
    const again = await startTicketSystem({ apiKey: 'second-start-key' });
    try {
      const reused = await reuseTicketExample(api, again.url, 'second-start-key', 'dev-example');
      expect(reused).toEqual({ ...first, tools: expect.arrayContaining(first.tools) as unknown as string[] });
      const servers = await unwrap(api.GET('/mcp_manager', { params: { query: { limit: 100 } } }));
      expect(servers.data.filter((s) => s.name.startsWith('dev-example'))).toHaveLength(1);
      const client = await connectV2(reused!.mcpUrl, stack.bootstrapKey);
      try {
        // The instance's new base URL and key reach the worker with the catalog version the PATCH published.
        const result = await waitFor(
          'the call to reach the new ticket system',
          async () => {
            const r = await client.callTool({ name: 'search_tickets', arguments: { status: 'open' } });
            return again.requests.length > 0 ? r : undefined;
          },
          PROPAGATION_DEADLINE_MS,
        );
        expect(result.isError).toBeFalsy();
        expect(again.requests.at(-1)?.headers['x-api-key']).toBe('second-start-key');
      } finally {
        await client.close();
      }
    } finally {
      await again.close();
    }
  });
});
