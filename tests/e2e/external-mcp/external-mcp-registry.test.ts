import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Stack } from '@toolplane/cli';
import { type components, createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { startStreamableMcpServer, type ExternalMcpServer, type FixtureTool } from '../../fixtures/mcp-servers.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { PROPAGATION_DEADLINE_MS, waitFor } from '../../helpers/wait.ts';
import { watchOutputs, type OutputWatch } from '../../helpers/output-search.ts';

/**
 * External MCP servers registered on the workspace (`/external_mcp_servers`) and used by name from hosted
 * servers (`externalMcpServers`), on the real stack with real MCP servers on 127.0.0.1: two hosted servers
 * share one registered server and both follow a change of its URL and of one header (the other header kept
 * without being sent again); its tool list is refreshed like the servers' catalogs; header values are
 * write-only and appear in no output (logs, spans, Redis, PostgreSQL, answers).
 */

const TOKEN_A = 'tp-canary-ext-a-7f3e91c2';
const TOKEN_B = 'tp-canary-ext-b-2c84d0e5';
const TRACE = 'tp-canary-trace-55aa0f13';

const lookup: FixtureTool = {
  name: 'lookup_order',
  description: 'Find an order by id',
  inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
};
const refund: FixtureTool = { name: 'refund_order', description: 'Refund an order', inputSchema: { type: 'object' } };
const purge: FixtureTool = { name: 'purge_orders', description: 'Purge old orders', inputSchema: { type: 'object' } };
/** The second server's tools: a tool is added to it while the test runs (the refresh must see it). */
const toolsB: FixtureTool[] = [lookup, refund, purge];

let stack: Stack;
let client: ManagementClient;
let watch: OutputWatch;
let serverA: ExternalMcpServer;
let serverB: ExternalMcpServer;
/** Every REST answer and tool result the test saw, searched for the header values at the end. */
const outputs: string[] = [];

type Hosted = components['schemas']['McpServer'];
type Registered = components['schemas']['ExternalMcpServer'];

const seen = <T>(value: T): T => (outputs.push(JSON.stringify(value)), value);

async function mcp<T>(server: Hosted, use: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ name: 'registry-e2e', version: '1.0.0' });
  await c.connect(
    new StreamableHTTPClientTransport(new URL(server.url), {
      requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
    }),
  );
  try {
    return await use(c);
  } finally {
    await c.close();
  }
}

const toolNames = (server: Hosted) => mcp(server, async (c) => (await c.listTools()).tools.map((t) => t.name).sort());

async function hosted(name: string, body: Partial<components['schemas']['CreateServerBody']> = {}): Promise<Hosted> {
  return seen(
    await unwrap(
      client.POST('/mcp_manager', {
        body: { name, mode: 'NORMAL', externalMcpServers: [{ name: 'orders', tools: [] }], ...body },
      }),
    ),
  );
}

const registered = async (id: string): Promise<Registered> =>
  seen(await unwrap(client.GET('/external_mcp_servers/{id}', { params: { path: { id } } })));

beforeAll(async () => {
  serverA = await startStreamableMcpServer({ tools: [lookup], requiredHeader: ['authorization', `Bearer ${TOKEN_A}`] });
  serverB = await startStreamableMcpServer({ tools: toolsB, requiredHeader: ['authorization', `Bearer ${TOKEN_B}`] });
  watch = await watchOutputs([TOKEN_A, TOKEN_B, TRACE]);
  ({ stack } = await startTestStack('ext-registry', {
    redisUrl: watch.redisUrl,
    logLevel: 'debug',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: watch.otlpUrl, OTEL_BSP_SCHEDULE_DELAY: '100' },
    serviceEnv: { 'control-plane': { EXTERNAL_TOOLS_REFRESH_SECONDS: '0.5' } },
  }));
  client = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await watch?.close();
  await serverA?.close();
  await serverB?.close();
});

describe('external MCP servers registered on the workspace', () => {
  let entry: Registered;
  let alpha: Hosted;
  let beta: Hosted;

  it('registers a server by URL with write-only headers and lists its tools through the worker', async () => {
    const created = await client.POST('/external_mcp_servers', {
      body: {
        name: 'orders',
        url: serverA.url,
        headers: { Authorization: `Bearer ${TOKEN_A}`, 'X-Trace': TRACE },
        // Every change it lists published at once (held changes for review: external-refresh.test.ts).
        autoAccept: true,
      },
    });
    expect(created.response.status).toBe(201);
    entry = seen(created.data!);
    expect(entry).toMatchObject({
      name: 'orders',
      url: serverA.url,
      headerNames: ['Authorization', 'X-Trace'],
      tools: [{ name: 'lookup_order', description: 'Find an order by id' }],
      listError: null,
      usedBy: [],
    });
    expect(serverA.requests.some((h) => h.authorization === `Bearer ${TOKEN_A}` && h['x-trace'] === TRACE)).toBe(true);
    const again = await client.POST('/external_mcp_servers', { body: { name: 'orders', url: serverB.url } });
    expect(again.response.status).toBe(409);
    expect((await unwrap(client.GET('/external_mcp_servers'))).data.map((e) => e.name)).toEqual(['orders']);
  });

  it('is used by name from two hosted servers, which both expose its tools and call it with its headers', async () => {
    alpha = await hosted('alpha');
    // beta takes only some of its tools (one it does not list yet).
    beta = await hosted('beta', {
      externalMcpServers: [{ name: 'orders', tools: ['lookup_order', 'refund_order', 'cancel_order'] }],
    });
    expect(alpha.externalMcpServers).toEqual([
      { id: entry.id, name: 'orders', url: serverA.url, tools: [], headerNames: ['Authorization', 'X-Trace'] },
    ]);
    expect(alpha.tools).toEqual(['lookup_order']);
    expect(await toolNames(beta)).toEqual(['lookup_order']);
    const result = seen(await mcp(alpha, (c) => c.callTool({ name: 'lookup_order', arguments: { id: '7' } })));
    expect(result.content).toEqual([{ type: 'text', text: 'called lookup_order' }]);
    expect((await registered(entry.id)).usedBy.map((u) => u.name).sort()).toEqual(['alpha', 'beta']);
    const config = seen(await unwrap(client.GET('/mcp_manager/{id}/config', { params: { path: { id: beta.id } } })));
    expect(config.externalMcpServers.map((e) => e.name)).toEqual(['orders']);
  });

  it('refuses an unknown registered name and a name one of the server’s own external configs uses (422)', async () => {
    const unknown = await client.POST('/mcp_manager', {
      body: { name: 'gamma', mode: 'NORMAL', externalMcpServers: [{ name: 'nope', tools: [] }] },
    });
    expect(unknown.response.status).toBe(422);
    expect(JSON.stringify(unknown.error)).toContain('/externalMcpServers/0/name');
    const clash = await client.POST('/mcp_manager', {
      body: {
        name: 'gamma',
        mode: 'NORMAL',
        externalMcpServers: [{ name: 'orders', tools: [] }],
        externalMcpConfigs: [{ name: 'orders', url: serverA.url, headers: {}, tools: [] }],
      },
    });
    expect(clash.response.status).toBe(422);
    expect(JSON.stringify(clash.error)).toContain(
      'both a registered external MCP server and one of externalMcpConfigs',
    );
  });

  it('follows a change of its URL and of one header on both servers; the other header is kept without being resent', async () => {
    const versions = [alpha, beta].map((s) => s.catalogVersion);
    const sentToB = serverB.requests.length;
    const changed = seen(
      await unwrap(
        client.PATCH('/external_mcp_servers/{id}', {
          params: { path: { id: entry.id } },
          body: { url: serverB.url, headers: { authorization: `Bearer ${TOKEN_B}` } },
        }),
      ),
    );
    expect(changed).toMatchObject({ url: serverB.url, headerNames: ['X-Trace', 'authorization'], listError: null });
    expect(changed.tools.map((t) => t.name)).toEqual(['lookup_order', 'refund_order', 'purge_orders']);
    // Both hosted servers got a new catalog version, and their MCP clients see the new tools.
    for (const [i, s] of [alpha, beta].entries()) {
      const now = await unwrap(client.GET('/mcp_manager/{id}', { params: { path: { id: s.id } } }));
      expect(now.catalogVersion).toBeGreaterThan(versions[i]!);
      expect(now.externalMcpServers[0]!.url).toBe(serverB.url);
    }
    for (const [s, tools] of [
      [alpha, 'lookup_order,purge_orders,refund_order'],
      [beta, 'lookup_order,refund_order'],
    ] as const)
      await waitFor(
        `${s.name} serves the new URL's tools`,
        async () => ((await toolNames(s)).join() === tools ? true : undefined),
        PROPAGATION_DEADLINE_MS,
      );
    const result = seen(await mcp(beta, (c) => c.callTool({ name: 'refund_order', arguments: {} })));
    expect(result.content).toEqual([{ type: 'text', text: 'called refund_order' }]);
    const calls = serverB.requests.slice(sentToB);
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.every((h) => h.authorization === `Bearer ${TOKEN_B}` && h['x-trace'] === TRACE)).toBe(true);
  });

  it('removes one header and renames the server without touching the rest', async () => {
    const renamed = seen(
      await unwrap(
        client.PATCH('/external_mcp_servers/{id}', {
          params: { path: { id: entry.id } },
          body: { name: 'orders-v2', headers: { 'x-trace': null } },
        }),
      ),
    );
    expect(renamed).toMatchObject({ name: 'orders-v2', url: serverB.url, headerNames: ['authorization'] });
    const now = await unwrap(client.GET('/mcp_manager/{id}', { params: { path: { id: alpha.id } } }));
    expect(now.externalMcpServers.map((e) => e.name)).toEqual(['orders-v2']);
    const before = serverB.requests.length;
    await mcp(alpha, (c) => c.callTool({ name: 'lookup_order', arguments: { id: '8' } }));
    expect(serverB.requests.slice(before).every((h) => h['x-trace'] === undefined)).toBe(true);
  });

  it('keeps its tool list fresh: a tool the server adds reaches the registry and both hosted servers', async () => {
    toolsB.push({ name: 'cancel_order', description: 'Cancel an order', inputSchema: { type: 'object' } });
    await waitFor('the refresh lists the new tool', async () =>
      (await registered(entry.id)).tools.some((t) => t.name === 'cancel_order') ? true : undefined,
    );
    for (const s of [alpha, beta])
      await waitFor(`${s.name} serves the new tool`, async () =>
        (await toolNames(s)).includes('cancel_order') ? true : undefined,
      );
    // beta still takes only the tools it chose.
    expect(await toolNames(beta)).toEqual(['cancel_order', 'lookup_order', 'refund_order']);
  });

  it('cannot be unregistered while a server uses it; afterwards it can', async () => {
    const refused = await client.DELETE('/external_mcp_servers/{id}', { params: { path: { id: 'orders-v2' } } });
    expect(refused.response.status).toBe(409);
    expect((refused.error as { detail: string }).detail).toMatch(/used by "alpha", "beta"|used by "beta", "alpha"/);
    for (const s of [alpha, beta])
      seen(
        await unwrap(
          client.PATCH('/mcp_manager/{id}', { params: { path: { id: s.id } }, body: { externalMcpServers: [] } }),
        ),
      );
    expect(await toolNames(alpha)).toEqual([]);
    const gone = await client.DELETE('/external_mcp_servers/{id}', { params: { path: { id: entry.id } } });
    expect(gone.response.status).toBe(204);
    const missing = await client.GET('/external_mcp_servers/{id}', { params: { path: { id: entry.id } } });
    expect(missing.response.status).toBe(404);
  });

  it('leaves no header value in any output', async () => {
    const { places, leaks } = await watch.sweep(stack, { outputs: outputs.join('\n') });
    expect(leaks).toEqual([]);
    // The search covered real output: the services' logs, Redis traffic, the answers and results above.
    expect(Object.keys(places).filter((p) => p.startsWith('log:')).length).toBeGreaterThanOrEqual(3);
    expect(watch.commandsSeen).toBeGreaterThan(0);
    expect(places.outputs).toContain('orders-v2');
  });
});
