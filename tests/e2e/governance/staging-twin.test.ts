// The staging twin end to end (ADR 0112): curated connectors set up against counting mocks of their providers, a
// server or a key switched to twin mode, and the calls of an agent answered by the worker instead of the upstream:
// every rule runs as in production, nothing reaches the provider (whose mock answers and counts), a created object is
// read back, an update shows and a delete is gone, every answer valid against the tool's output schema (Ajv).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { curatedConnectors } from '@toolplane/connectors';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { argumentsFor, type ProviderMock, startProviderMock } from '../../fixtures/provider-mocks.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { PROPAGATION_DEADLINE_MS, waitFor } from '../../helpers/wait.ts';

type Json = Record<string, unknown>;
type Tool = { name: string; inputSchema: Json; outputSchema?: Json };

let stack: Stack;
let api: ManagementClient;
const mocks = new Map<string, ProviderMock>();
const servers = new Map<string, string>();
const opened: Client[] = [];

beforeAll(async () => {
  ({ stack, api } = await startTestStack('staging-twin', { edges: 2, logLevel: 'warn' }));
  for (const slug of ['github', 'jira']) {
    const mock = await startProviderMock(slug);
    mocks.set(slug, mock);
    servers.set(slug, await addWithToken(slug, mock));
  }
}, 180_000);

afterAll(async () => {
  for (const c of opened) await c.close().catch(() => undefined);
  await stack?.stop();
  for (const m of mocks.values()) m.close();
});

/** The curated connector added as a workspace adds it, its instance holding a token and pointing at the mock. */
async function addWithToken(slug: string, mock: ProviderMock): Promise<string> {
  const c = curatedConnectors().find((x) => x.slug === slug)!;
  const connector = await unwrap(
    api.POST('/connectors/curated/{slug}', { params: { path: { slug: c.slug } }, body: { auth: 'token' } }),
  );
  const fields = ((connector as { credentialFields?: { key: string }[] }).credentialFields ?? []).map((f) => f.key);
  const instance = await unwrap(
    api.POST('/connector_instances', {
      body: {
        connector_id: connector.id,
        name: `${slug}-twin`,
        base_url: mock.url,
        credentials: Object.fromEntries(fields.map((f) => [f, `tok-${slug}`])),
      },
    }),
  );
  return instance.mcp_server_id!;
}

/** An MCP client of `serverId` on edge `edge` with `key`. */
async function clientOf(serverId: string, key = stack.bootstrapKey, edge = 0): Promise<Client> {
  const client = new Client({ name: 'staging-twin', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${stack.edgeUrls[edge]}/mcp/${serverId}`), {
      requestInit: { headers: { 'x-api-key': key } },
    }),
  );
  opened.push(client);
  return client;
}

const setTwin = (serverId: string, twin: 'off' | 'recording' | 'on') =>
  unwrap(api.PATCH('/mcp_manager/{id}', { params: { path: { id: serverId } }, body: { twin } }));

const seen = async (slug: string) => (await mocks.get(slug)!.log()).seen.length;

/** Waits until the server's twin setting reached the edge `client` calls: its answer says whether the twin gave it. */
async function settled(client: Client, tool: Tool, twin: boolean): Promise<void> {
  const args = argumentsFor(tool.inputSchema) as Json;
  await waitFor(
    `the twin ${twin ? 'on' : 'off'}`,
    async () => ((await call(client, tool, args)).twin !== undefined) === twin,
    PROPAGATION_DEADLINE_MS,
  );
}

const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });

/** Calls a tool; its structured content checked against the tool's output schema. */
async function call(client: Client, tool: Tool, args: Json) {
  const result = await client.callTool({ name: tool.name, arguments: args });
  const content = result.structuredContent as Json | undefined;
  if (!result.isError && tool.outputSchema && content) {
    const valid = ajv.validate(tool.outputSchema, content);
    expect({ tool: tool.name, errors: valid ? null : ajv.errors }).toEqual({ tool: tool.name, errors: null });
  }
  return { result, content: content ?? {}, twin: (result._meta as Json | undefined)?.['toolplane/twin'] as Json };
}

/** The argument an item's tools name it by: required by the read, unknown to the create. */
function itemArgument(create: Tool, read: Tool): string {
  const known = new Set(Object.keys((create.inputSchema.properties ?? {}) as Json));
  return ((read.inputSchema.required ?? []) as string[]).find((name) => !known.has(name))!;
}

/** The identifier a created object is read by: its number, key or id. */
const idOf = (o: Json) => (o.number ?? o.key ?? o.id) as string | number;

const cases = [
  { slug: 'github', create: 'create_issue', read: 'get_issue', update: 'update_issue', field: 'title' },
  { slug: 'jira', create: 'create_issue', read: 'get_issue', update: 'update_issue', field: 'fields' },
] as const;

describe.each(cases)('$slug in twin mode', ({ slug, create, read, update, field }) => {
  it('answers create, read and update from its state; the reachable provider receives no request', async () => {
    const serverId = servers.get(slug)!;
    const client = await clientOf(serverId);
    const { tools } = (await client.listTools()) as unknown as { tools: Tool[] };
    const tool = (name: string) => tools.find((t) => t.name === name)!;
    // Production first: the provider's mock is up and counts what reaches it.
    const before = await seen(slug);
    const real = await call(client, tool(read), argumentsFor(tool(read).inputSchema) as Json);
    expect(real.result.isError).toBeFalsy();
    expect(await seen(slug)).toBe(before + 1);

    await setTwin(serverId, 'on');
    await settled(client, tool(read), true);
    const reached = await seen(slug);
    const generated = argumentsFor(tool(create).inputSchema) as Json;
    const value = field === 'title' ? 'Rehearsal' : { ...(generated.fields as Json), summary: 'Rehearsal' };
    const createArgs = { ...generated, [field]: value };
    const created = await call(client, tool(create), createArgs);
    expect(created.result.isError).toBeFalsy();
    expect(created.twin).toEqual({ source: 'state', operation: 'create' });
    const item = itemArgument(tool(create), tool(read));
    const readArgs = { ...(argumentsFor(tool(read).inputSchema) as Json), [item]: idOf(created.content) };
    const again = await call(client, tool(read), readArgs);
    expect(again.twin).toEqual({ source: 'state', operation: 'read' });
    expect(again.content).toMatchObject(created.content);

    const changed = field === 'title' ? 'Renamed' : { ...(value as Json), summary: 'Renamed' };
    const updateArgs = { ...(argumentsFor(tool(update).inputSchema) as Json), ...readArgs, [field]: changed };
    expect((await call(client, tool(update), updateArgs)).result.isError).toBeFalsy();
    const after = await call(client, tool(read), readArgs);
    expect(field === 'title' ? after.content.title : (after.content.fields as Json).summary).toBe('Renamed');
    expect(await seen(slug)).toBe(reached);
    await setTwin(serverId, 'off');
    await settled(client, tool(read), false);
  }, 120_000);
});

describe('switching', () => {
  it('takes effect on both edges on the next call, and is audited', async () => {
    const serverId = servers.get('github')!;
    const clients = [await clientOf(serverId, stack.bootstrapKey, 0), await clientOf(serverId, stack.bootstrapKey, 1)];
    const { tools } = (await clients[0]!.listTools()) as unknown as { tools: Tool[] };
    const get = tools.find((t) => t.name === 'get_issue')!;
    const args = argumentsFor(get.inputSchema) as Json;
    await setTwin(serverId, 'on');
    for (const c of clients) await settled(c, get, true);
    const reached = await seen('github');
    for (const c of clients) expect((await call(c, get, args)).twin).toBeDefined();
    expect(await seen('github')).toBe(reached);
    await setTwin(serverId, 'off');
    for (const c of clients) await settled(c, get, false);
    const events = await unwrap(
      api.GET('/audit_events', { params: { query: { action: 'server.update', limit: 100 } } }),
    );
    const switched = events.data.filter((e) => e.resource.id === serverId && e.changes?.twin !== undefined);
    expect(switched.map((e) => e.changes!.twin)).toEqual(
      expect.arrayContaining([
        { before: 'off', after: 'on' },
        { before: 'on', after: 'off' },
      ]),
    );
  }, 120_000);

  it('a key in twin mode is answered by the twin on every server; its records are apart from production', async () => {
    const key = await unwrap(api.POST('/api_keys', { body: { name: 'rehearsal', scopes: ['runtime'] } }));
    await unwrap(api.PATCH('/api_keys/{id}', { params: { path: { id: key.id } }, body: { twin: true } }));
    for (const slug of ['github', 'jira']) {
      const client = await clientOf(servers.get(slug)!, key.key);
      const { tools } = (await client.listTools()) as unknown as { tools: Tool[] };
      const before = await seen(slug);
      const get = tools.find((t) => t.name === 'get_issue')!;
      expect((await call(client, get, argumentsFor(get.inputSchema) as Json)).twin).toBeDefined();
      expect(await seen(slug)).toBe(before);
    }
    const twin = await waitFor('the twin’s records', async () => {
      const page = await unwrap(api.GET('/execution_records', { params: { query: { key_id: key.id, twin: 'true' } } }));
      return page.data.length >= 2 ? page : undefined;
    });
    const production = await unwrap(api.GET('/execution_records', { params: { query: { key_id: key.id } } }));
    expect(production.data).toEqual([]);
    expect(twin.data.map((r) => [r.tool, r.twin])).toEqual([
      ['get_issue', true],
      ['get_issue', true],
    ]);
  }, 120_000);
});
