import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Stack } from '@toolplane/cli';
import { ApiError, createManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, ticketSystemDescriptorYaml, type TicketSystem } from '@toolplane/examples';
import { Redis } from 'ioredis';
// Not a dependency of tests/: the package's source (the Redis key layout).
import { redisKeys } from '../../../packages/contracts/src/index.ts';
import { startTestStack, yamlBody } from '../../helpers/stack.ts';
import { postMcp } from '../../helpers/mcp.ts';
import { PROPAGATION_DEADLINE_MS, waitFor } from '../../helpers/wait.ts';

/**
 * Seed 001: "when a connector has MCP configuration enabled, the platform generates an MCP server for each
 * connector instance" (issue #28, part 2; ADR 0024). Every instance gets its own server, named by the rule
 * (`server_name`, then `server_name-<instance>`, then `-2`, …: never a 409); `enabled` false → true
 * generates servers for the existing instances, true → false leaves them listing none of the connector's
 * tools (same ids), deleting an instance deletes its server. Each transition is one change of the catalog
 * service: every affected server gets exactly one publication and one recorded catalog version.
 */

let stack: Stack;
let api: ReturnType<typeof createManagementClient>;
let prod: TicketSystem;
let staging: TicketSystem;
/** A subscriber to the catalog publication channel: server ids, in order, plus this test's markers. */
let subscriber: Redis;
let publisher: Redis;
const published: string[] = [];
let markers = 0;

beforeAll(async () => {
  prod = await startTicketSystem({ apiKey: 'prod-key' });
  staging = await startTicketSystem({ apiKey: 'staging-key' });
  ({ stack } = await startTestStack('server-per-instance'));
  api = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);
  const channel = redisKeys(stack.redisPrefix).catalogChanged;
  subscriber = new Redis(stack.redisUrl);
  publisher = new Redis(stack.redisUrl);
  subscriber.on('message', (_channel: string, message: string) => published.push(message));
  await subscriber.subscribe(channel);
}, 120_000);

afterAll(async () => {
  subscriber?.disconnect();
  publisher?.disconnect();
  await stack?.stop();
  await prod?.close();
  await staging?.close();
});

/**
 * Runs `change` and gives how many catalog publications each server got from it: a marker published after the
 * change's answer arrives after every publication the change made (the control plane publishes before it answers).
 */
async function publications<T>(change: () => Promise<T>): Promise<{ result: T; count: (id: string) => number }> {
  const from = published.length;
  const result = await change();
  const marker = `marker-${++markers}`;
  await publisher.publish(redisKeys(stack.redisPrefix).catalogChanged, marker);
  await waitFor(`marker ${marker}`, () => published.includes(marker));
  const seen = published.slice(from, published.indexOf(marker));
  return { result, count: (id) => seen.filter((s) => s === id).length };
}

/** The ticket-system descriptor under `slug`, tools prefixed, with this `mcp_config` header. */
function descriptor(slug: string, prefix: string, mcp: { enabled: boolean; name: string; description?: string }) {
  return ticketSystemDescriptorYaml
    .replace(/slug: "?ticket-system"?/, `slug: ${slug}`)
    .replace(/mcp_tool_name: (\w+)/g, `mcp_tool_name: ${prefix}$1`)
    .replace('  enabled: true\n', `  enabled: ${mcp.enabled}\n`)
    .replace('  server_name: "ticket_system"\n', `  server_name: "${mcp.name}"\n`)
    .replace(
      '  server_description: "Internal ticket management tools"\n',
      `  server_description: "${mcp.description ?? 'Ticket tools'}"\n`,
    );
}

function instance(connectorId: string, name: string, upstream: TicketSystem, key: string, createServer?: boolean) {
  return unwrap(
    api.POST('/connector_instances', {
      body: {
        connector_id: connectorId,
        name,
        base_url: upstream.url,
        credentials: { api_key: key },
        ...(createServer !== undefined ? { createServer } : {}),
      },
    }),
  );
}

const server = (id: string) => unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id } } }));
const versions = async (id: string) =>
  (await unwrap(api.GET('/mcp_manager/{id}/catalog_versions', { params: { path: { id } } }))).data;

async function mcpTools(url: string): Promise<string[]> {
  const client = new Client({ name: 'server-per-instance-e2e', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { 'x-api-key': stack.bootstrapKey } } }),
  );
  try {
    return (await client.listTools()).tools.map((t) => t.name).sort();
  } finally {
    await client.close();
  }
}

async function callGetTicket(url: string, tool: string): Promise<{ isError?: boolean }> {
  const client = new Client({ name: 'server-per-instance-e2e', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { 'x-api-key': stack.bootstrapKey } } }),
  );
  try {
    return (await client.callTool({ name: tool, arguments: { ticket_id: 'TCK-1' } })) as { isError?: boolean };
  } finally {
    await client.close();
  }
}

describe('a generated MCP server per connector instance', () => {
  it('gives every instance its own server: server_name for the first, server_name-<instance> after, never a 409', async () => {
    const connector = await unwrap(
      api.POST('/connectors', yamlBody(descriptor('tickets', 'tk_', { enabled: true, name: 'tickets' }))),
    );
    const first = await publications(() => instance(connector.id, 'production', prod, 'prod-key'));
    expect(first.result).toMatchObject({ mcp_server_id: expect.any(String), mcp_server_name: 'tickets' });
    const second = await publications(() => instance(connector.id, 'Staging EU', staging, 'staging-key'));
    expect(second.result).toMatchObject({ mcp_server_id: expect.any(String), mcp_server_name: 'tickets-staging-eu' });
    // A hand-made server holds the next name: the instance takes the one after it.
    await unwrap(api.POST('/mcp_manager', { body: { name: 'tickets-qa', mode: 'SMART' } }));
    const third = await publications(() => instance(connector.id, 'qa', prod, 'prod-key'));
    expect(third.result.mcp_server_name).toBe('tickets-qa-2');

    for (const created of [first, second, third]) {
      const id = created.result.mcp_server_id!;
      // One change: one publication of the new server, version 1 recorded.
      expect(created.count(id)).toBe(1);
      expect((await versions(id)).map((v) => v.version)).toEqual([1]);
      expect(await server(id)).toMatchObject({
        name: created.result.mcp_server_name,
        connectorInstanceId: created.result.id,
        fromDescriptor: true,
        catalogVersion: 1,
      });
      // The instance's own answers name its server too.
      expect(
        await unwrap(api.GET('/connector_instances/{id}', { params: { path: { id: created.result.id } } })),
      ).toMatchObject({ mcp_server_id: id, mcp_server_name: created.result.mcp_server_name });
    }
    const listed = (await unwrap(api.GET('/connector_instances'))).data;
    expect(listed.map((i) => [i.name, i.mcp_server_name])).toEqual([
      ['production', 'tickets'],
      ['Staging EU', 'tickets-staging-eu'],
      ['qa', 'tickets-qa-2'],
    ]);

    // Each server runs with its own instance's credentials and upstream.
    const prodServer = await server(first.result.mcp_server_id!);
    const stagingServer = await server(second.result.mcp_server_id!);
    expect(await mcpTools(stagingServer.url)).toEqual(['tk_create_ticket', 'tk_get_ticket', 'tk_search_tickets']);
    const before = { prod: prod.requests.length, staging: staging.requests.length };
    expect((await callGetTicket(stagingServer.url, 'tk_get_ticket')).isError).toBeFalsy();
    expect((await callGetTicket(prodServer.url, 'tk_get_ticket')).isError).toBeFalsy();
    expect(staging.requests.length - before.staging).toBe(1);
    expect(prod.requests.length - before.prod).toBe(1);
    expect(staging.requests.at(-1)?.headers['x-api-key']).toBe('staging-key');

    // createServer: false still opts out.
    const optOut = await instance(connector.id, 'no-server', prod, 'prod-key', false);
    expect(optOut).toMatchObject({ mcp_server_id: null, mcp_server_name: null });
  });

  it('enabled false → true generates a server for each existing instance, oldest first, in one change', async () => {
    const off = descriptor('desk', 'desk_', { enabled: false, name: 'desk' });
    const connector = await unwrap(api.POST('/connectors', yamlBody(off)));
    const a = await instance(connector.id, 'alpha', prod, 'prod-key');
    const b = await instance(connector.id, 'beta', staging, 'staging-key');
    expect([a.mcp_server_id, b.mcp_server_id]).toEqual([null, null]);

    const on = await publications(() =>
      unwrap(
        api.PUT('/connectors/{id}', {
          params: { path: { id: connector.id } },
          ...yamlBody(off.replace('  enabled: false\n', '  enabled: true\n')),
        }),
      ),
    );
    expect(on.result).toMatchObject({ kind: 'descriptor', mcp_enabled: true });
    const instances = (await unwrap(api.GET('/connector_instances'))).data.filter(
      (i) => i.connector_id === connector.id,
    );
    expect(instances.map((i) => [i.name, i.mcp_server_name])).toEqual([
      ['alpha', 'desk'],
      ['beta', 'desk-beta'],
    ]);
    for (const i of instances) {
      expect(on.count(i.mcp_server_id!)).toBe(1);
      expect((await versions(i.mcp_server_id!)).map((v) => v.version)).toEqual([1]);
      expect((await server(i.mcp_server_id!)).tools).toEqual([
        'desk_search_tickets',
        'desk_get_ticket',
        'desk_create_ticket',
      ]);
    }

    // The same descriptor again: nothing new is generated.
    await unwrap(
      api.PUT('/connectors/{id}', {
        params: { path: { id: connector.id } },
        ...yamlBody(off.replace('  enabled: false\n', '  enabled: true\n')),
      }),
    );
    const servers = (await unwrap(api.GET('/mcp_manager', { params: { query: { limit: 100 } } }))).data;
    expect(
      servers
        .filter((s) => s.name.startsWith('desk'))
        .map((s) => s.name)
        .sort(),
    ).toEqual(['desk', 'desk-beta']);
  });

  it('enabled true → false keeps the servers (same ids) listing none of its tools; → true gives them back', async () => {
    const yaml = descriptor('switch', 'sw_', { enabled: true, name: 'switch' });
    const connector = await unwrap(api.POST('/connectors', yamlBody(yaml)));
    const one = await instance(connector.id, 'one', prod, 'prod-key');
    const two = await instance(connector.id, 'two', staging, 'staging-key');
    const ids = [one.mcp_server_id!, two.mcp_server_id!];
    const url = (await server(ids[0]!)).url;
    expect(await mcpTools(url)).toEqual(['sw_create_ticket', 'sw_get_ticket', 'sw_search_tickets']);

    const off = await publications(() =>
      unwrap(
        api.PUT('/connectors/{id}', {
          params: { path: { id: connector.id } },
          ...yamlBody(yaml.replace('  enabled: true\n', '  enabled: false\n')),
        }),
      ),
    );
    for (const id of ids) {
      expect(off.count(id)).toBe(1);
      const shown = await server(id);
      expect(shown).toMatchObject({ catalogVersion: 2, tools: [] });
      expect(shown.warnings?.join('\n')).toContain('connector switch has mcp_config.enabled: false');
      expect((await versions(id)).map((v) => [v.version, v.removed.length])).toEqual([
        [2, 3],
        [1, 0],
      ]);
    }
    await waitFor(
      'the tools gone from MCP clients',
      async () => (await mcpTools(url)).length === 0,
      PROPAGATION_DEADLINE_MS,
    );
    const called = await callGetTicket(url, 'sw_get_ticket').then(
      (r) => (r.isError ? 'error' : 'called'),
      (err: unknown) => String(err),
    );
    expect(called).not.toBe('called');
    expect(
      (await unwrap(api.GET('/connector_instances/{id}', { params: { path: { id: one.id } } }))).mcp_server_id,
    ).toBe(ids[0]);

    const on = await publications(() =>
      unwrap(api.PUT('/connectors/{id}', { params: { path: { id: connector.id } }, ...yamlBody(yaml) })),
    );
    for (const id of ids) {
      expect(on.count(id)).toBe(1);
      expect(await server(id)).toMatchObject({
        catalogVersion: 3,
        tools: ['sw_search_tickets', 'sw_get_ticket', 'sw_create_ticket'],
      });
    }
    await waitFor('the tools back', async () => (await mcpTools(url)).length === 3, PROPAGATION_DEADLINE_MS);
    const names = (await unwrap(api.GET('/mcp_manager', { params: { query: { limit: 100 } } }))).data
      .map((s) => s.name)
      .filter((n) => n.startsWith('switch'));
    expect(names.sort()).toEqual(['switch', 'switch-two']);
  });

  it('a new server_name renames the generated servers by the rule (one change), except one the user renamed', async () => {
    const yaml = descriptor('renamed', 'rn_', { enabled: true, name: 'old-name' });
    const connector = await unwrap(api.POST('/connectors', yamlBody(yaml)));
    const one = await instance(connector.id, 'one', prod, 'prod-key');
    const two = await instance(connector.id, 'two', prod, 'prod-key');
    const three = await instance(connector.id, 'three', prod, 'prod-key');
    await unwrap(
      api.PATCH('/mcp_manager/{id}', { params: { path: { id: three.mcp_server_id! } }, body: { name: 'my-own' } }),
    );
    const renamed = await publications(() =>
      unwrap(
        api.PUT('/connectors/{id}', {
          params: { path: { id: connector.id } },
          ...yamlBody(yaml.replace('"old-name"', '"new-name"')),
        }),
      ),
    );
    expect((await server(one.mcp_server_id!)).name).toBe('new-name');
    expect((await server(two.mcp_server_id!)).name).toBe('new-name-two');
    expect((await server(three.mcp_server_id!)).name).toBe('my-own');
    for (const id of [one.mcp_server_id!, two.mcp_server_id!, three.mcp_server_id!]) expect(renamed.count(id)).toBe(1);
  });

  it('deleting an instance deletes its generated server (catalog unpublished), never another one', async () => {
    const yaml = descriptor('gone', 'gone_', { enabled: true, name: 'gone' });
    const connector = await unwrap(api.POST('/connectors', yamlBody(yaml)));
    const keep = await instance(connector.id, 'keep', prod, 'prod-key');
    const drop = await instance(connector.id, 'drop', staging, 'staging-key');
    // A server the user bound to the instance: detached (kept, without its tools), as before.
    const bound = await unwrap(
      api.POST('/mcp_manager', { body: { name: 'bound-to-drop', mode: 'NORMAL', connectorInstanceId: drop.id } }),
    );
    const droppedServer = await server(drop.mcp_server_id!);
    const deleted = await publications(async () => {
      const res = await api.DELETE('/connector_instances/{id}', { params: { path: { id: drop.id } } });
      return res.response.status;
    });
    expect(deleted.result).toBe(204);
    // Its removal from Redis is one publication too.
    expect(deleted.count(drop.mcp_server_id!)).toBe(1);
    expect(deleted.count(bound.id)).toBe(1);
    expect(deleted.count(keep.mcp_server_id!)).toBe(0);
    const missing = await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: drop.mcp_server_id! } } })).catch(
      (err: unknown) => err as ApiError,
    );
    expect(missing).toBeInstanceOf(ApiError);
    expect((missing as ApiError).status).toBe(404);
    await waitFor(
      'the edge to stop serving the deleted server',
      async () =>
        (
          await postMcp(
            droppedServer.url,
            { jsonrpc: '2.0', id: 1, method: 'tools/list' },
            { 'x-api-key': stack.bootstrapKey },
          )
        ).status === 404,
      PROPAGATION_DEADLINE_MS,
    );
    expect(await server(bound.id)).toMatchObject({ tools: [], connectorInstanceId: null });
    expect(await server(keep.mcp_server_id!)).toMatchObject({ name: 'gone' });
    // The freed name goes to the next instance that needs one: `gone-drop` was never reused by `keep`.
    const again = await instance(connector.id, 'drop', staging, 'staging-key');
    expect(again.mcp_server_name).toBe('gone-drop');
  });
});
