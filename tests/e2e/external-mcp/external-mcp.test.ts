import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, SSEClientTransport, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { type components, type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import {
  startSseMcpServer,
  startStreamableMcpServer,
  type ExternalMcpServer,
  type FixtureTool,
} from '../../fixtures/mcp-servers.ts';
import { startTestStack } from '../../helpers/stack.ts';

// Seed 002 externalMcpConfigs: an external MCP server's tools listed alongside, calls proxied by the
// worker with the configured headers (treated as secrets), and a dead server never breaks the list.
const REMOTE_SECRET = 'remote-secret-9f3a1c';
const tools: FixtureTool[] = [
  {
    name: 'lookup_order',
    description: 'Find an order by id',
    inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
    annotations: { readOnlyHint: true, openWorldHint: true },
  },
  {
    name: 'get_ticket',
    description: 'A remote tool whose name collides',
    inputSchema: { type: 'object' },
    annotations: { openWorldHint: true },
  },
  { name: 'hidden_tool', description: 'Filtered out by the tools list', inputSchema: { type: 'object' } },
];

let stack: Stack;
let api: ManagementClient;
let upstream: TicketSystem;
let example: RegisteredExample;
let remote: ExternalMcpServer;
let server: components['schemas']['McpServer'];

beforeAll(async () => {
  remote = await startStreamableMcpServer({ tools, requiredHeader: ['authorization', `Bearer ${REMOTE_SECRET}`] });
  const dead = await startStreamableMcpServer({ tools });
  await dead.close(); // a server that died: its URL refuses connections
  upstream = await startTicketSystem({ apiKey: 'k' });
  ({ stack, api } = await startTestStack('external'));
  example = await registerTicketExample(api, upstream.url, 'k');
  server = await unwrap(
    api.POST('/mcp_manager', {
      body: {
        name: 'with-externals',
        mode: 'NORMAL',
        connectorInstanceId: example.instanceId,
        externalMcpConfigs: [
          {
            name: 'orders',
            url: remote.url,
            headers: { authorization: `Bearer ${REMOTE_SECRET}` },
            tools: ['lookup_order', 'get_ticket'],
          },
          { name: 'dead', url: dead.url, tools: [] },
        ],
      },
    }),
  );
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await upstream?.close();
  await remote?.close();
});

async function listVia(transport: 'streamable' | 'sse'): Promise<string[]> {
  const headers = { 'x-api-key': stack.bootstrapKey };
  const client = new Client({ name: 'ext', version: '1.0.0' });
  if (transport === 'streamable')
    await client.connect(new StreamableHTTPClientTransport(new URL(server.url), { requestInit: { headers } }));
  else {
    const withKey = (u: string | URL | Request, init?: RequestInit) => {
      const h = new Headers(init?.headers);
      h.set('x-api-key', stack.bootstrapKey);
      return fetch(u, { ...init, headers: h });
    };
    await client.connect(
      new SSEClientTransport(new URL(`${stack.edgeUrl}/api/v1/mcp/${server.id}`), {
        requestInit: { headers },
        eventSourceInit: { fetch: withKey },
      }),
    );
  }
  const { tools: listed } = await client.listTools();
  await client.close();
  return listed.map((t) => t.name);
}

describe('external MCP servers merged into a server', () => {
  it('lists the external tools alongside (filtered, prefixed on collision) and reports the dead server', async () => {
    expect(server.tools).toEqual([
      'search_tickets',
      'get_ticket',
      'create_ticket',
      'lookup_order',
      'orders__get_ticket',
    ]);
    expect(server.warnings).toEqual([expect.stringMatching(/^external MCP server "dead" could not be listed: /)]);
  });

  it('reads an external tool’s openWorldHint as a hint of its data-flow labels (ADR 0078)', async () => {
    const listed = await unwrap(api.GET('/mcp_manager/{id}/tools', { params: { path: { id: server.id } } }));
    expect(Object.fromEntries(listed.data.map((t) => [t.name, t.labels]))).toMatchObject({
      // A read of the open world brings content written by outsiders; a write there sends data out.
      lookup_order: [{ label: 'untrusted', source: 'annotation' }],
      orders__get_ticket: [{ label: 'external_write', source: 'annotation' }],
      // The connector's tools declare nothing, and their methods are no hint.
      search_tickets: [],
      create_ticket: [],
    });
  });

  it('serves the merged list over Streamable HTTP and the legacy SSE runtime', async () => {
    const expected = ['search_tickets', 'get_ticket', 'create_ticket', 'lookup_order', 'orders__get_ticket'];
    expect(await listVia('streamable')).toEqual(expected);
    expect(await listVia('sse')).toEqual(expected);
  });

  it('proxies calls through the worker with the configured headers', async () => {
    const client = new Client({ name: 'ext', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(server.url), {
        requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
      }),
    );
    const before = remote.requests.length;
    const result = await client.callTool({ name: 'lookup_order', arguments: { id: 'o-1' } });
    const renamed = await client.callTool({ name: 'orders__get_ticket', arguments: {} });
    const invalid = await client.callTool({ name: 'lookup_order', arguments: {} });
    await client.close();
    expect(result.content).toEqual([{ type: 'text', text: 'called lookup_order' }]);
    expect(renamed.content).toEqual([{ type: 'text', text: 'called get_ticket' }]);
    expect(invalid.isError).toBe(true); // validated against the remote schema on the edge
    expect(remote.requests.slice(before).every((h) => h.authorization === `Bearer ${REMOTE_SECRET}`)).toBe(true);
  });

  it('never returns the header values from the API', async () => {
    const texts = [
      JSON.stringify(server),
      JSON.stringify(await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: server.id } } }))),
      JSON.stringify(await unwrap(api.GET('/mcp_manager/{id}/config', { params: { path: { id: server.id } } }))),
      JSON.stringify(await unwrap(api.GET('/mcp_manager'))),
    ];
    for (const t of texts) expect(t).not.toContain(REMOTE_SECRET);
    const config = await unwrap(api.GET('/mcp_manager/{id}/config', { params: { path: { id: server.id } } }));
    expect(config.externalMcpConfigs).toEqual([
      { name: 'orders', url: remote.url, tools: ['lookup_order', 'get_ticket'], headerNames: ['authorization'] },
      { name: 'dead', url: expect.any(String), tools: [], headerNames: [] },
    ]);
  });

  it('keeps serving when an external server dies after registration: its tools answer a clear error, the others work', async () => {
    const mortal = await startSseMcpServer({
      tools: [{ name: 'mortal_tool', description: 'Lives on a legacy SSE server', inputSchema: { type: 'object' } }],
    });
    const mixed = await unwrap(
      api.POST('/mcp_manager', {
        body: {
          name: 'with-mortal',
          mode: 'NORMAL',
          selectedTools: [],
          externalMcpConfigs: [
            {
              name: 'orders',
              url: remote.url,
              headers: { authorization: `Bearer ${REMOTE_SECRET}` },
              tools: ['lookup_order'],
            },
            { name: 'mortal', url: mortal.url, tools: [] },
          ],
        },
      }),
    );
    expect(mixed.tools).toEqual(['lookup_order', 'mortal_tool']);
    const client = new Client({ name: 'ext', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(mixed.url), {
        requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
      }),
    );
    try {
      expect((await client.callTool({ name: 'mortal_tool', arguments: {} })).content).toEqual([
        { type: 'text', text: 'called mortal_tool' },
      ]);
      await mortal.close();
      // The list is the cached one of the catalog: the dead server does not break it.
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['lookup_order', 'mortal_tool']);
      const dead = await client.callTool({ name: 'mortal_tool', arguments: {} });
      expect(dead.isError).toBe(true);
      expect(JSON.stringify(dead.content)).toMatch(/mortal/);
      expect((await client.callTool({ name: 'lookup_order', arguments: { id: 'o-2' } })).content).toEqual([
        { type: 'text', text: 'called lookup_order' },
      ]);
    } finally {
      await client.close();
    }
  });
});
