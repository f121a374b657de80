import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import { startTestStack } from '../../helpers/stack.ts';
import { PROPAGATION_DEADLINE_MS } from '../../helpers/wait.ts';

let stack: Stack;
let upstream: TicketSystem;
let example: RegisteredExample;
let api: ManagementClient;
let smartUrl: string;

async function connect(): Promise<Client> {
  const client = new Client({ name: 'smart', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(smartUrl), {
      requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
    }),
  );
  return client;
}

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'k' });
  ({ stack, api } = await startTestStack('smart'));
  example = await registerTicketExample(api, upstream.url, 'k', 'normal-tickets');
  const smart = await unwrap(
    api.POST('/mcp_manager', { body: { name: 'smart-all', description: 'Everything in the workspace' } }),
  );
  expect(smart.mode).toBe('SMART'); // the seed's default mode
  smartUrl = smart.url;
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await upstream?.close();
});

describe('SMART mode: meta tools over the workspace catalog', () => {
  it('lists the meta tools only', async () => {
    const client = await connect();
    const { tools } = await client.listTools();
    await client.close();
    expect(tools.map((t) => t.name)).toEqual([
      'search_tools',
      'describe_tool',
      'execute_tool',
      'run_code',
      'list_connections',
      'connect',
    ]);
  });

  it('finds, describes and executes a catalog tool', async () => {
    const client = await connect();
    const found = await client.callTool({
      name: 'search_tools',
      arguments: { query: 'open a new support ticket', limit: 3 },
    });
    const results = (found.structuredContent as { results: { name: string; source: { connector: string } }[] }).results;
    expect(results[0]).toMatchObject({
      name: 'create_ticket',
      source: { connector: 'ticket-system', instance: 'normal-tickets-instance' },
    });

    const described = await client.callTool({ name: 'describe_tool', arguments: { name: 'get_ticket' } });
    expect(described.structuredContent).toMatchObject({ name: 'get_ticket', inputSchema: { required: ['ticket_id'] } });

    const before = upstream.requests.length;
    const executed = await client.callTool({
      name: 'execute_tool',
      arguments: { name: 'get_ticket', arguments: { ticket_id: 'TCK-3' } },
    });
    expect(executed.structuredContent).toMatchObject({ id: 'TCK-3', status: 'closed' });
    expect(upstream.requests.length).toBe(before + 1);

    const invalid = await client.callTool({ name: 'execute_tool', arguments: { name: 'get_ticket', arguments: {} } });
    expect(invalid.isError).toBe(true);
    expect(JSON.stringify(invalid.content)).toContain('missing required argument \\"ticket_id\\"');
    const unknown = await client.callTool({ name: 'execute_tool', arguments: { name: 'drop_tables' } });
    expect(unknown.content).toEqual([
      { type: 'text', text: 'No tool named "drop_tables" in this catalog. Use search_tools to find the right name.' },
    ]);
    expect(upstream.requests.length).toBe(before + 1);
    await client.close();
  });

  it('lists connections, and picks up a newly connected account', async () => {
    const client = await connect();
    const first = await client.callTool({ name: 'list_connections', arguments: {} });
    expect((first.structuredContent as { connections: unknown[] }).connections).toEqual([
      { connector: 'ticket-system', instance: 'normal-tickets-instance', tools: 3 },
    ]);
    await unwrap(
      api.POST('/connector_instances', {
        body: {
          createServer: false,
          connector_id: example.connectorId,
          name: 'eu',
          base_url: upstream.url,
          credentials: { api_key: 'k' },
        },
      }),
    );
    const deadline = Date.now() + PROPAGATION_DEADLINE_MS;
    let names: string[];
    do {
      const found = await client.callTool({ name: 'search_tools', arguments: { query: 'ticket', limit: 10 } });
      names = (found.structuredContent as { results: { name: string }[] }).results.map((r) => r.name);
    } while (names.length < 6 && Date.now() < deadline);
    expect(names.sort()).toEqual([
      'create_ticket',
      'create_ticket__eu',
      'get_ticket',
      'get_ticket__eu',
      'search_tickets',
      'search_tickets__eu',
    ]);
    await client.close();
  });

  it('NORMAL servers can pick tools by name from the whole workspace', async () => {
    const picked = await unwrap(
      api.POST('/mcp_manager', {
        body: { name: 'picked', mode: 'NORMAL', selectedTools: ['search_tickets', 'get_ticket__eu'] },
      }),
    );
    expect(picked.tools).toEqual(['search_tickets', 'get_ticket__eu']);
  });
});
