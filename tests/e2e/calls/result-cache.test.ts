import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, ticketSystemDescriptorYaml, type TicketSystem } from '@toolplane/examples';
import { startStreamableMcpServer, type ExternalMcpServer, type FixtureTool } from '../../fixtures/mcp-servers.ts';
import { startTestStack, yamlBody } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

/**
 * Results cached for read-only tools (the server's `config.resultCache`, ADR 0067), on a real stack with the official
 * SDK client, counting the ticket system's requests: a second identical call within the TTL does not reach the
 * upstream and says so in `_meta` and in its record; other arguments, another API key and another person (each with
 * their own connection) do, a `server` scope included; 2026-07-28 results carry `ttlMs` (what remains) and
 * `cacheScope`; an external MCP server's declared `ttlMs`/`cacheScope` is honoured, per principal; writing the
 * instance's credentials, or changing its connector, invalidates; a write tool in the config is refused (422).
 */

let stack: Stack;
let api: ManagementClient;
let upstream: TicketSystem;
let example: RegisteredExample;
let remote: ExternalMcpServer;
let remoteServerId: string;
const clients: Client[] = [];
/** The external server's `tools/call`s, by tool. */
const remoteCalls = new Map<string, number>();

/** External tools that declare a result's reuse (SEP-2549 fields on the result) or do not. */
const declarations: Record<string, { ttlMs?: number; cacheScope?: string }> = {
  declared_private: { ttlMs: 60_000, cacheScope: 'private' },
  declared_public: { ttlMs: 60_000, cacheScope: 'public' },
  declared_zero: { ttlMs: 0, cacheScope: 'public' },
  undeclared: {},
};
const remoteTools: FixtureTool[] = Object.keys(declarations).map((name) => ({
  name,
  description: `Reads something (${name})`,
  inputSchema: { type: 'object', properties: { id: { type: 'string' } } },
}));

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'k1' });
  remote = await startStreamableMcpServer({
    tools: remoteTools,
    onCall: (name, args) => {
      remoteCalls.set(name, (remoteCalls.get(name) ?? 0) + 1);
      return { content: [{ type: 'text', text: `${name} ${JSON.stringify(args)}` }], ...declarations[name] };
    },
  });
  ({ stack, api } = await startTestStack('result-cache', { logLevel: 'warn' }));
  example = await registerTicketExample(api, upstream.url, 'k1');
  await unwrap(
    api.PATCH('/mcp_manager/{id}', {
      params: { path: { id: example.serverId } },
      body: {
        config: {
          resultCache: { get_ticket: { ttlSeconds: 600 }, search_tickets: { ttlSeconds: 600, scope: 'server' } },
        },
      },
    }),
  );
  const body = {
    name: 'remote',
    mode: 'NORMAL' as const,
    connectorInstanceId: example.instanceId,
    externalMcpConfigs: [{ name: 'remote', url: remote.url, tools: Object.keys(declarations) }],
  };
  remoteServerId = (await unwrap(api.POST('/mcp_manager', { body }))).id;
  // Two people, each with their own connection to the ticket system, and a grant to use its tools.
  for (const name of ['alice', 'bob']) {
    await unwrap(api.POST('/external_users', { body: { name } }));
    await unwrap(
      api.PUT('/external_users/{name}/connections/{instanceId}', {
        params: { path: { name, instanceId: example.instanceId } },
        body: { credentials: { api_key: 'k1' } },
      }),
    );
  }
  await unwrap(
    api.POST('/access_policies', {
      body: { name: 'people', principals: [{ type: 'external_user', value: '*' }], servers: ['*'], tools: ['*'] },
    }),
  );
}, 120_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await stack?.stop();
  await upstream?.close();
  await remote?.close();
});

/** An SDK client of a server (the ticket system's by default) with a key, as a person (`x-username`), or 2026-07-28. */
async function mcpClient(
  key: string,
  opts: { username?: string; modern?: boolean; serverId?: string } = {},
): Promise<Client> {
  const client = new Client(
    { name: 'result-cache', version: '1.0.0' },
    opts.modern ? { versionNegotiation: { mode: 'auto' } } : undefined,
  );
  const headers = { 'x-api-key': key, ...(opts.username ? { 'x-username': opts.username } : {}) };
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${stack.edgeUrls[0]}/mcp/${opts.serverId ?? example.serverId}`), {
      requestInit: { headers },
    }),
  );
  clients.push(client);
  return client;
}

const ticketReads = () =>
  upstream.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/api/v1/tickets/')).length;
const ticketSearches = () => upstream.requests.filter((r) => r.method === 'GET' && r.path === '/api/v1/tickets').length;
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
    // A hit says its age and what remains of its TTL.
    expect(cacheMeta(second)).toMatchObject({ hit: true, cacheScope: 'private' });
    expect(cacheMeta(second)!.ttlMs).toBe(600_000 - (cacheMeta(second)!.ageMs as number));
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

  it("each person's own repeat is cached; another person's identical call reaches the upstream", async () => {
    const alice = await mcpClient(stack.bootstrapKey, { username: 'alice' });
    const bob = await mcpClient(stack.bootstrapKey, { username: 'bob' });
    const before = ticketReads();
    const call = (c: Client) => c.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } });
    const first = await call(alice);
    expect(first.content).toEqual([expect.objectContaining({ text: expect.stringContaining('TCK-1') })]);
    expect(cacheMeta(first)).toMatchObject({ hit: false, cacheScope: 'private' });
    expect(cacheMeta(await call(alice))).toMatchObject({ hit: true });
    expect(ticketReads()).toBe(before + 1);
    expect(cacheMeta(await call(bob))).toMatchObject({ hit: false });
    expect(ticketReads()).toBe(before + 2);
    expect(cacheMeta(await call(bob))).toMatchObject({ hit: true });
    expect(ticketReads()).toBe(before + 2);
  });

  it('a server-scoped tool is shared by keys, never by people (each runs with their own connection)', async () => {
    const other = await unwrap(api.POST('/api_keys', { body: { name: 'cache-shared', scopes: ['runtime'] } }));
    const search = (c: Client) => c.callTool({ name: 'search_tickets', arguments: { status: 'open' } });
    const before = ticketSearches();
    expect(cacheMeta(await search(await mcpClient(stack.bootstrapKey)))).toMatchObject({ cacheScope: 'public' });
    expect(cacheMeta(await search(await mcpClient(other.key)))).toMatchObject({ hit: true, cacheScope: 'public' });
    expect(ticketSearches()).toBe(before + 1);
    const alice = await mcpClient(stack.bootstrapKey, { username: 'alice' });
    const bob = await mcpClient(stack.bootstrapKey, { username: 'bob' });
    expect(cacheMeta(await search(alice))).toMatchObject({ hit: false, cacheScope: 'private' });
    expect(cacheMeta(await search(bob))).toMatchObject({ hit: false, cacheScope: 'private' });
    expect(ticketSearches()).toBe(before + 3);
    expect(cacheMeta(await search(alice))).toMatchObject({ hit: true, cacheScope: 'private' });
    expect(ticketSearches()).toBe(before + 3);
  });

  it('2026-07-28 results carry ttlMs and cacheScope; a cached answer says what remains of its TTL', async () => {
    const client = await mcpClient(stack.bootstrapKey, { modern: true });
    // Cached for this key by the second case, under the credentials written since: a miss first.
    const call = () => client.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-3' } });
    const first = (await call()) as { ttlMs?: number; cacheScope?: string; _meta?: unknown };
    expect(first).toMatchObject({ ttlMs: 600_000, cacheScope: 'private' });
    expect(cacheMeta(first)).toMatchObject({ hit: false });
    const second = (await call()) as { ttlMs?: number; cacheScope?: string; _meta?: unknown };
    expect(second.cacheScope).toBe('private');
    const age = cacheMeta(second)!.ageMs as number;
    expect(second.ttlMs).toBe(600_000 - age);
    expect(cacheMeta(second)).toMatchObject({ hit: true, ttlMs: second.ttlMs });
  });

  it("an external server's declared ttlMs/cacheScope is honoured per principal; 0 or none is not cached", async () => {
    const other = await unwrap(api.POST('/api_keys', { body: { name: 'cache-remote', scopes: ['runtime'] } }));
    const mine = await mcpClient(stack.bootstrapKey, { serverId: remoteServerId });
    const theirs = await mcpClient(other.key, { serverId: remoteServerId });
    const call = (c: Client, name: string) => c.callTool({ name, arguments: { id: 'r1' } });
    for (const name of ['declared_private', 'declared_public']) {
      const first = await call(mine, name);
      expect(first).toMatchObject({ ttlMs: 60_000, cacheScope: 'private' });
      expect(cacheMeta(first)).toEqual({ hit: false, ttlMs: 60_000, cacheScope: 'private' });
      expect(cacheMeta(await call(mine, name))).toMatchObject({ hit: true, cacheScope: 'private' });
      expect(remoteCalls.get(name)).toBe(1);
      // `public` is not shared across principals unless the server's config says `scope: "server"`.
      expect(cacheMeta(await call(theirs, name))).toMatchObject({ hit: false });
      expect(remoteCalls.get(name)).toBe(2);
    }
    for (const name of ['declared_zero', 'undeclared']) {
      expect(cacheMeta(await call(mine, name))).toBeUndefined();
      expect(cacheMeta(await call(mine, name))).toBeUndefined();
      expect(remoteCalls.get(name)).toBe(2);
    }
  });

  it('changing the connector (a new catalog version) invalidates what was cached', async () => {
    const client = await mcpClient(stack.bootstrapKey);
    const call = () => client.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } });
    await call();
    expect(cacheMeta(await call())).toMatchObject({ hit: true });
    const changed = ticketSystemDescriptorYaml
      .replace('version: "1.0.0"', 'version: "1.1.0"')
      .replace('Get full details of a support ticket', 'Read a ticket');
    expect(changed).not.toBe(ticketSystemDescriptorYaml);
    await unwrap(api.PUT('/connectors/{id}', { params: { path: { id: example.connectorId } }, ...yamlBody(changed) }));
    await waitFor('the changed description on the edge', async () => {
      const { tools } = await client.listTools();
      return tools.find((t) => t.name === 'get_ticket')?.description?.startsWith('Read a ticket');
    });
    const before = ticketReads();
    expect(cacheMeta(await call())).toMatchObject({ hit: false });
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
