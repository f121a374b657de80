import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, ticketSystemDescriptorYaml, type TicketSystem } from '@toolplane/examples';
import { startTestStack, yamlBody } from '../../helpers/stack.ts';
import { PROPAGATION_DEADLINE_MS } from '../../helpers/wait.ts';

// Server caching: credential updates, descriptor changes and instance deletion reach
// every edge and worker without a restart, within 1 s of the API call returning.

let stack: Stack;
let upstream: TicketSystem;
let example: RegisteredExample;
let api: ManagementClient;

async function connect(edgeUrl: string): Promise<Client> {
  const client = new Client({ name: 'cache-e2e', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${edgeUrl}/mcp/${example.serverId}`), {
      requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
    }),
  );
  return client;
}

/** Retries `check` until it passes or the propagation bound is exceeded. */
async function eventually(check: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + PROPAGATION_DEADLINE_MS;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'rotated-key' });
  ({ stack, api } = await startTestStack('cache', { edges: 2 }));
  // Registered with a stale key: the upstream only accepts "rotated-key".
  example = await registerTicketExample(api, upstream.url, 'stale-key');
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await upstream?.close();
});

describe('compiled server cache invalidation across two edges', () => {
  it('uses updated credentials on the next calls through every edge', async () => {
    const clients = await Promise.all(stack.edgeUrls.map(connect));
    for (const c of clients) {
      const r = await c.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } });
      expect(r.isError).toBe(true); // 401 from the upstream: stale key (and now cached by the worker)
    }
    await unwrap(
      api.PATCH('/connector_instances/{id}', {
        params: { path: { id: example.instanceId } },
        body: { credentials: { api_key: 'rotated-key' } },
      }),
    );
    const before = upstream.requests.length;
    for (const c of clients) {
      await eventually(async () => {
        const r = await c.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } });
        expect(r.isError).toBeFalsy();
      });
    }
    expect(upstream.requests.slice(before).at(-1)!.headers['x-api-key']).toBe('rotated-key');
    await Promise.all(clients.map((c) => c.close()));
  });

  it('serves the new tool list on every edge after the descriptor operations change', async () => {
    const clients = await Promise.all(stack.edgeUrls.map(connect));
    for (const c of clients)
      expect((await c.listTools()).tools.map((t) => t.name)).toEqual(['search_tickets', 'get_ticket', 'create_ticket']);
    const changed = ticketSystemDescriptorYaml
      .replace('version: "1.0.0"', 'version: "1.1.0"')
      .replace(
        / {4}- operation_id: create_ticket\n {6}mcp_tool_name: create_ticket\n {6}mcp_tool_description: .*\n/,
        '',
      );
    await unwrap(api.PUT('/connectors/{id}', { params: { path: { id: example.connectorId } }, ...yamlBody(changed) }));
    for (const c of clients) {
      await eventually(async () => {
        expect((await c.listTools()).tools.map((t) => t.name)).toEqual(['search_tickets', 'get_ticket']);
      });
    }
    // The removed tool is no longer callable either.
    await expect(clients[0]!.callTool({ name: 'create_ticket', arguments: { title: 'x' } })).rejects.toThrow(
      /Unknown tool/,
    );
    await Promise.all(clients.map((c) => c.close()));
  });

  it('serves no tools on any edge once the connector instance is deleted', async () => {
    const clients = await Promise.all(stack.edgeUrls.map(connect));
    const res = await fetch(`${stack.controlPlaneUrl}/api/v1/connector_instances/${example.instanceId}`, {
      method: 'DELETE',
      headers: { 'x-api-key': stack.bootstrapKey },
    });
    expect(res.status).toBe(204);
    for (const c of clients) {
      await eventually(async () => {
        expect((await c.listTools()).tools).toEqual([]);
      });
    }
    await Promise.all(clients.map((c) => c.close()));
  });
});
