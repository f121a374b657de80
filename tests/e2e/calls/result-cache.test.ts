import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import { startTestStack } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

/**
 * Results cached for read-only tools (the server's `config.resultCache`, ADR 0067), on a real stack with the official
 * SDK client, counting the ticket system's requests: a second identical call within the TTL does not reach the
 * upstream and says so in `_meta` and in its record; other arguments and another API key do; writing the instance's
 * credentials invalidates; a write tool in the config is refused (422).
 */

let stack: Stack;
let api: ManagementClient;
let upstream: TicketSystem;
let example: RegisteredExample;
const clients: Client[] = [];

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'k1' });
  ({ stack, api } = await startTestStack('result-cache', { logLevel: 'warn' }));
  example = await registerTicketExample(api, upstream.url, 'k1');
  await unwrap(
    api.PATCH('/mcp_manager/{id}', {
      params: { path: { id: example.serverId } },
      body: { config: { resultCache: { get_ticket: { ttlSeconds: 600 } } } },
    }),
  );
}, 120_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await stack?.stop();
  await upstream?.close();
});

async function mcpClient(key: string): Promise<Client> {
  const client = new Client({ name: 'result-cache', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${stack.edgeUrls[0]}/mcp/${example.serverId}`), {
      requestInit: { headers: { 'x-api-key': key } },
    }),
  );
  clients.push(client);
  return client;
}

const ticketReads = () =>
  upstream.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/api/v1/tickets/')).length;
const cacheMeta = (r: { _meta?: unknown }) =>
  (r._meta as Record<string, Record<string, unknown>> | undefined)?.['toolplane/cache'];

describe('results cached for read-only tools', () => {
  it('a second identical call is answered from the cache: _meta and its record say so; other arguments are not', async () => {
    const client = await mcpClient(stack.bootstrapKey);
    const before = ticketReads();
    const first = await client.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } });
    expect(first.isError).toBeFalsy();
    expect(cacheMeta(first)).toEqual({ hit: false, ttlMs: 600_000, cacheScope: 'private' });
    const second = await client.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } });
    expect(ticketReads()).toBe(before + 1);
    expect(second.content).toEqual(first.content);
    expect(cacheMeta(second)).toMatchObject({ hit: true, ttlMs: 600_000, cacheScope: 'private' });
    expect(typeof cacheMeta(second)!.ageMs).toBe('number');
    await client.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-2' } });
    expect(ticketReads()).toBe(before + 2);
    const records = await waitFor('the records of the three calls', async () => {
      const { data } = await unwrap(
        api.GET('/execution_records', { params: { query: { server_id: example.serverId } } }),
      );
      const reads = data.filter((r) => r.tool === 'get_ticket');
      return reads.length >= 3 && reads;
    });
    expect(records.filter((r) => r.cached)).toHaveLength(1);
    const cached = records.find((r) => r.cached)!;
    expect(cached.outcome).toBe('success');
    const full = await unwrap(api.GET('/execution_records/{id}', { params: { path: { id: cached.id } } }));
    expect(full.steps).toEqual([]);
  });

  it("another API key's identical call reaches the upstream (per principal by default)", async () => {
    const other = await unwrap(api.POST('/api_keys', { body: { name: 'cache-other', scopes: ['runtime'] } }));
    const mine = await mcpClient(stack.bootstrapKey);
    const theirs = await mcpClient(other.key);
    await mine.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-3' } });
    const before = ticketReads();
    const r = await theirs.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-3' } });
    expect(cacheMeta(r)).toMatchObject({ hit: false });
    expect(ticketReads()).toBe(before + 1);
    expect(cacheMeta(await theirs.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-3' } }))).toMatchObject({
      hit: true,
    });
    expect(ticketReads()).toBe(before + 1);
  });

  it("writing the instance's credentials invalidates what was cached", async () => {
    const client = await mcpClient(stack.bootstrapKey);
    // Cached by the first case.
    expect(cacheMeta(await client.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-2' } }))).toMatchObject({
      hit: true,
    });
    await unwrap(
      api.PATCH('/connector_instances/{id}', {
        params: { path: { id: example.instanceId } },
        body: { credentials: { api_key: 'k1' } },
      }),
    );
    const before = ticketReads();
    const again = await client.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-2' } });
    expect(cacheMeta(again)).toMatchObject({ hit: false });
    expect(ticketReads()).toBe(before + 1);
  });

  it('a write tool, or a malformed entry, is refused when the config is saved, every problem listed', async () => {
    const bad = await api.PATCH('/mcp_manager/{id}', {
      params: { path: { id: example.serverId } },
      body: { config: { resultCache: { create_ticket: { ttlSeconds: 60 }, get_ticket: { ttlSeconds: 60 } } } },
    });
    expect(bad.response.status).toBe(422);
    expect((bad.error as { errors: { path: string; message: string }[] }).errors).toEqual([
      { path: '/config/resultCache/create_ticket', message: expect.stringContaining('POST operation may write') },
    ]);
    const malformed = await api.PATCH('/mcp_manager/{id}', {
      params: { path: { id: example.serverId } },
      body: { config: { resultCache: { get_ticket: { ttlSeconds: 0, scope: 'everyone' } } } },
    });
    expect(malformed.response.status).toBe(422);
    const paths = (malformed.error as { errors: { path: string }[] }).errors.map((e) => e.path).sort();
    expect(paths).toEqual(['/config/resultCache/get_ticket/scope', '/config/resultCache/get_ticket/ttlSeconds']);
  });
});
