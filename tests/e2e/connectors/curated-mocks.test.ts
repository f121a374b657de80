// The curated connectors end to end against mocks of their providers: each provider's own OpenAPI document (the one
// packages/connectors checks the curated operations against) served by openapi-backend, which routes every request to
// its operation, validates it against the document (path, query, headers, body) and answers with a response the
// document's examples or schemas give. Each curated connector is added as a workspace adds it
// (`POST /connectors/curated/{slug}`, the provider's token held by the instance), and every one of its tools is
// called through the edge with the official MCP client. A request the provider's document refuses fails the test,
// naming the tool, the operation and what the document says.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Stack } from '@toolplane/cli';
import { createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { type CuratedConnector, curatedConnectors } from '@toolplane/connectors';
import { connectLinkIn, followConnectLink, mcpClientAs } from '../../fixtures/calendar-connector.ts';
import { argumentsFor, type ProviderMock, startProviderMock } from '../../fixtures/provider-mocks.ts';
import { startUserOAuthProvider, type UserOAuthProvider } from '../../fixtures/user-oauth-provider.ts';
import { startTestStack } from '../../helpers/stack.ts';

type Json = Record<string, unknown>;

/** Whether an Authorization header carries the token: as a bearer token, or in Basic credentials. */
function carries(authorization: string | null, token: string): boolean {
  if (!authorization) return false;
  const basic = /^Basic (.+)$/i.exec(authorization)?.[1];
  return (basic ? Buffer.from(basic, 'base64').toString('utf8') : authorization).includes(token);
}

/** The curated connectors whose instance can hold the provider's token (the others connect people's accounts only). */
const withToken = curatedConnectors().filter((c) => c.tokenDocument !== undefined || !c.document.user_oauth);
/** The curated connectors people connect their own accounts to. */
const forPeople = curatedConnectors().filter((c) => c.document.user_oauth !== undefined);

let stack: Stack;
let api: ManagementClient;
let provider: UserOAuthProvider;
const mocks = new Map<string, ProviderMock>();

beforeAll(async () => {
  ({ stack, api } = await startTestStack('curated-mocks', { logLevel: 'warn' }));
  provider = await startUserOAuthProvider();
  for (const c of curatedConnectors()) mocks.set(c.slug, await startProviderMock(c.slug));
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await provider?.close();
  for (const m of mocks.values()) m.close();
});

/** The connector added as a workspace adds it, an instance holding a token and pointing at the mock, and its server. */
async function addWithToken(c: CuratedConnector, mock: ProviderMock): Promise<{ mcpUrl: string; token: string }> {
  const connector = await unwrap(
    api.POST('/connectors/curated/{slug}', { params: { path: { slug: c.slug } }, body: { auth: 'token' } }),
  );
  const token = `tok-${c.slug}-${Math.random().toString(36).slice(2)}`;
  const fields = ((connector as { credentialFields?: { key: string }[] }).credentialFields ?? []).map((f) => f.key);
  expect(fields.length).toBeGreaterThan(0);
  const created = await api.POST('/connector_instances', {
    body: {
      connector_id: connector.id,
      name: `${c.slug}-mock`,
      base_url: mock.url,
      credentials: Object.fromEntries(fields.map((f) => [f, token])),
    },
  });
  if (!created.data) throw new Error(`${c.slug}: ${JSON.stringify(created.error)} (fields ${fields.join(', ')})`);
  const instance = created.data;
  const server = await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: instance.mcp_server_id! } } }));
  return { mcpUrl: server.url, token };
}

describe.each(withToken.map((c) => [c.slug, c] as const))('%s against its provider’s mock', (slug, c) => {
  it('every tool, called through the edge with the instance’s token, sends what the provider’s document accepts', async () => {
    const mock = mocks.get(slug)!;
    const { mcpUrl, token } = await addWithToken(c, mock);
    const client = new Client({ name: 'curated-mocks', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(mcpUrl), {
        requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
      }),
    );
    try {
      const { tools } = await client.listTools();
      expect(tools.length).toBeGreaterThanOrEqual(5);
      const failed: string[] = [];
      for (const tool of tools) {
        const before = (await mock.log()).seen.length;
        const result = await client.callTool({
          name: tool.name,
          arguments: argumentsFor(tool.inputSchema as Json) as Record<string, unknown>,
        });
        const text = JSON.stringify(result.content).slice(0, 300);
        const { seen } = await mock.log();
        if (result.isError) failed.push(`${tool.name}: ${text}`);
        else if (seen.length !== before + 1) failed.push(`${tool.name}: the mock saw ${seen.length - before} requests`);
        else if (!carries(seen.at(-1)!.authorization, token))
          failed.push(`${tool.name}: the instance's token did not reach the provider`);
      }
      expect({ failed, refused: (await mock.log()).refused }).toEqual({ failed: [], refused: [] });
    } finally {
      await client.close();
    }
  }, 60_000);
});

describe('a curated connector that drifted from its provider', () => {
  it('is refused by the provider’s mock, naming the operation', async () => {
    const github = withToken.find((c) => c.slug === 'github')!;
    const envelope = structuredClone(github.tokenDocument!);
    const document = envelope.document as Json;
    const paths = document.paths as Record<string, Json>;
    // A typo in the path: a search GitHub does not have.
    paths['/search/isues'] = paths['/search/issues']!;
    delete paths['/search/issues'];
    const connector = await unwrap(
      api.POST('/connectors', { body: { ...envelope, slug: 'github-drifted', name: 'GitHub (drifted)' } as never }),
    );
    const mock = mocks.get('github')!;
    const created = await unwrap(
      api.POST('/connector_instances', {
        body: {
          connector_id: connector.id,
          name: 'github-drifted',
          base_url: mock.url,
          credentials: { github_token: 'tok-drifted' },
        },
      }),
    );
    const server = await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: created.mcp_server_id! } } }));
    const client = new Client({ name: 'curated-mocks', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(server.url), {
        requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
      }),
    );
    try {
      const result = await client.callTool({ name: 'search_issues', arguments: { q: 'repo:octo/hello is:open' } });
      expect(result.isError).toBe(true);
      expect((await mock.log()).refused).toContain("no operation of github's document at get /search/isues");
    } finally {
      await client.close();
    }
  });
});

describe('setting one up in one step', () => {
  it('adds the connector, an instance with the token and a server exposing the chosen tools; a wrong tool stores nothing', async () => {
    const listed = (await unwrap(api.GET('/connectors/curated'))).data.find((c) => c.slug === 'slack')!;
    expect(listed.credentials).toEqual({ user_oauth: ['client_id', 'client_secret'], token: ['slack_token'] });
    const instancesBefore = (await unwrap(api.GET('/connector_instances'))).data.length;
    const wrong = await api.POST('/connectors/curated/{slug}/setup', {
      params: { path: { slug: 'slack' } },
      body: {
        auth: 'token',
        name: 'slack-wrong',
        credentials: { slack_token: 't' },
        tools: ['post_message', 'post_mesage'],
      },
    });
    expect(wrong.response.status).toBe(422);
    expect(JSON.stringify(wrong.error)).toContain('"path":"/tools/1"');
    expect((await unwrap(api.GET('/connector_instances'))).data.length).toBe(instancesBefore);

    const mock = mocks.get('slack')!;
    const setup = await unwrap(
      api.POST('/connectors/curated/{slug}/setup', {
        params: { path: { slug: 'slack' } },
        body: {
          auth: 'token',
          name: 'slack-one-step',
          base_url: mock.url,
          credentials: { slack_token: 'tok-one-step' },
          tools: ['post_message', 'list_channels'],
        },
      }),
    );
    // Slack was added by the first test of this file: its connector is reused.
    expect(setup.connector).toMatchObject({ slug: 'slack', added: false });
    const client = new Client({ name: 'curated-mocks', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(setup.server!.url), {
        requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
      }),
    );
    try {
      expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['list_channels', 'post_message']);
      const sent = await client.callTool({ name: 'post_message', arguments: { channel: 'C0123456789', text: 'hi' } });
      expect(sent.isError).toBeFalsy();
      expect((await mock.log()).seen.at(-1)).toEqual({
        operationId: 'chat_postMessage',
        authorization: 'Bearer tok-one-step',
      });
    } finally {
      await client.close();
    }
  });
});

describe('a newer version shipped', () => {
  it('is shown, previewed without changing anything, and applied only when asked', async () => {
    // The workspace's Stripe connector (added by the first test of this file) as an older release had it: one tool fewer.
    const stripe = withToken.find((c) => c.slug === 'stripe')!;
    const older = structuredClone(stripe.document);
    older.version = '0.9.0';
    const mcp = older.mcp_config as { route_mappings: { mcp_tool_name: string }[] };
    mcp.route_mappings = mcp.route_mappings.filter((m) => m.mcp_tool_name !== 'list_invoices');
    const connector = (await unwrap(api.GET('/connectors'))).data.find((c) => c.slug === 'stripe')!;
    await unwrap(api.PUT('/connectors/{id}', { params: { path: { id: connector.id } }, body: older as never }));

    const listed = (await unwrap(api.GET('/connectors/curated'))).data.find((c) => c.slug === 'stripe')!;
    expect(listed.update).toEqual({ from: '0.9.0', to: '1.0.0' });
    const preview = await unwrap(
      api.POST('/connectors/curated/{slug}/upgrade', {
        params: { path: { slug: 'stripe' }, query: { dry_run: 'true' } },
      }),
    );
    expect(preview).toMatchObject({ state: 'validated', connector: { version: '1.0.0' } });
    const changes = (preview as { servers: { added: string[]; removed: string[] }[] }).servers;
    expect(changes.map((c) => [c.added, c.removed])).toEqual([[['list_invoices'], []]]);
    // Nothing changed, and nothing was recorded as changed.
    expect((await unwrap(api.GET('/connectors/{id}', { params: { path: { id: connector.id } } }))).version).toBe(
      '0.9.0',
    );
    const upgrades = () =>
      unwrap(api.GET('/audit_events', { params: { query: { action: 'connector.upgrade_curated' } } }));

    const applied = await unwrap(
      api.POST('/connectors/curated/{slug}/upgrade', { params: { path: { slug: 'stripe' } } }),
    );
    expect(applied).toMatchObject({ id: connector.id, version: '1.0.0' });
    expect((await unwrap(api.GET('/connectors/curated'))).data.find((c) => c.slug === 'stripe')!.update).toBeNull();
    expect((await upgrades()).data.map((e) => e.resource.id)).toEqual([connector.id]);
  });
});

describe('SMART mode over the curated connectors', () => {
  it('finds their tools by what they do, and runs one against its provider’s mock', async () => {
    const smart = await unwrap(api.POST('/mcp_manager', { body: { name: 'smart-curated', mode: 'SMART' } }));
    const client = new Client({ name: 'curated-mocks', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(smart.url), {
        requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
      }),
    );
    try {
      // Two Slack instances (this file set one up twice): their tools carry the instance's suffix.
      const top = async (query: string) => {
        const found = await client.callTool({ name: 'search_tools', arguments: { query, limit: 3 } });
        const [first] = (found.structuredContent as { results: { name: string; source: { connector: string } }[] })
          .results;
        return first && { ...first, name: first.name.replace(/__.*$/, '') };
      };
      expect(await top('send a message to a slack channel')).toMatchObject({
        name: 'post_message',
        source: { connector: 'slack' },
      });
      expect(await top('find open pull requests and issues in a repository')).toMatchObject({
        source: { connector: 'github' },
      });
      expect(await top('refund a payment or list a customer’s invoices')).toMatchObject({
        source: { connector: 'stripe' },
      });
      expect(await top('create a jira ticket in a project')).toMatchObject({
        name: 'create_issue',
        source: { connector: 'jira' },
      });
      const mock = mocks.get('notion')!;
      const before = (await mock.log()).seen.length;
      const found = await top('search notion pages by title');
      expect(found).toMatchObject({ source: { connector: 'notion' } });
      const described = await client.callTool({ name: 'describe_tool', arguments: { name: found!.name } });
      const schema = (described.structuredContent as { inputSchema: Json }).inputSchema;
      const run = await client.callTool({
        name: 'execute_tool',
        arguments: { name: found!.name, arguments: { ...(argumentsFor(schema) as Json), query: 'roadmap' } },
      });
      expect(run.isError).toBeFalsy();
      expect((await mock.log()).seen.length).toBe(before + 1);
    } finally {
      await client.close();
    }
  });
});

describe('people’s own accounts', () => {
  /** Another workspace: a slug has one variant per workspace, and the first tests added the token variants here. */
  let people: ManagementClient;
  let peopleKey: string;
  beforeAll(async () => {
    const created = await unwrap(api.POST('/workspaces', { body: { name: 'curated-people' } }));
    peopleKey = created.apiKey.key;
    people = createManagementClient(stack.controlPlaneUrl, peopleKey);
    await unwrap(people.POST('/external_users', { body: { name: 'alice' } }));
    await unwrap(
      people.POST('/access_policies', {
        body: { name: 'people', principals: [{ type: 'external_user', value: '*' }], servers: ['*'], tools: ['*'] },
      }),
    );
    provider.consentAs = 'alice';
  });

  it.each(forPeople.map((c) => [c.slug, c] as const))(
    '%s: alice connects through the link, then every tool runs with her token, accepted by the provider’s mock',
    async (slug) => {
      const mock = mocks.get(slug)!;
      const setup = await unwrap(
        people.POST('/connectors/curated/{slug}/setup', {
          params: { path: { slug } },
          body: {
            auth: 'user_oauth',
            base_url: mock.url,
            oauth_urls: { authorization_url: provider.authorizeUrl, token_url: provider.tokenUrl },
            credentials: { client_id: provider.clientId, client_secret: provider.clientSecret },
          },
        }),
      );
      const client = await mcpClientAs(setup.server!.url, peopleKey, 'alice');
      try {
        const { tools } = await client.listTools();
        const call = (name: string) =>
          client.callTool({
            name,
            arguments: argumentsFor(tools.find((t) => t.name === name)!.inputSchema as Json) as Json,
          });
        const first = await call(tools[0]!.name);
        expect(first.isError).toBe(true);
        expect((await followConnectLink(connectLinkIn((first.content as { text: string }[])[0]!.text))).status).toBe(
          200,
        );
        const failed: string[] = [];
        const refusedBefore = (await mock.log()).refused.length;
        for (const tool of tools) {
          const before = (await mock.log()).seen.length;
          const result = await call(tool.name);
          const { seen } = await mock.log();
          const token = seen.at(-1)?.authorization?.replace(/^Bearer /, '');
          if (result.isError) failed.push(`${tool.name}: ${JSON.stringify(result.content).slice(0, 300)}`);
          else if (seen.length !== before + 1)
            failed.push(`${tool.name}: the mock saw ${seen.length - before} requests`);
          else if (!token || !provider.issuedTokens().includes(token)) failed.push(`${tool.name}: not alice's token`);
        }
        const refused = (await mock.log()).refused.slice(refusedBefore);
        expect({ failed, refused }).toEqual({ failed: [], refused: [] });
      } finally {
        await client.close();
      }
    },
    60_000,
  );
});
