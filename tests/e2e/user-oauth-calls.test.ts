// People's OAuth connections in calls (ADR 0027), on the real stack with two workers: a connector whose descriptor
// declares `oauth2_authorization_code` calls a local provider's API with the calling person's own token, refreshed
// by the workers (once for many calls, across workers) when it expires or the API refuses it. The connect link and
// its browser flow are not built yet: the tests store a person's tokens as the flow's end would (sealed, in the
// stack's secrets store).
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { userSecrets, type Catalog } from '../../packages/contracts/src/index.ts';
import type { Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { LocalSealedSecretsWriter } from '../../packages/secrets/src/index.ts';
import { Redis } from 'ioredis';
import { startUserOAuthProvider, type UserOAuthProvider } from '../fixtures/user-oauth-provider.ts';
import { startTestStack, yamlBody } from '../helpers.ts';

let stack: Stack;
let api: ManagementClient;
let provider: UserOAuthProvider;
let redis: Redis;
let writer: LocalSealedSecretsWriter;
let mcpUrl: string;
let workspaceId: string;
let instanceId: string;
const userIds = new Map<string, string>();

const descriptor = (p: UserOAuthProvider) => `
metadata: { name: Calendar, slug: calendar, version: "1.0.0" }
authentication:
  - type: oauth2_authorization_code
    authorization_url: "${p.url}/authorize"
    token_url: "${p.tokenUrl}"
    scopes: [calendar.read]
    fields:
      - { key: client_id, field_type: string, required: true }
      - { key: client_secret, field_type: secret, required: true, secret: true }
operations:
  - operation_id: my_events
    endpoint: "${p.apiUrl}/events"
    method: GET
    auth_type_ref: oauth2_authorization_code
    parameters: []
mcp_config:
  enabled: true
  server_name: calendar
  server_description: Calendar
  route_mappings:
    - { operation_id: my_events, mcp_tool_name: my_events, mcp_tool_description: "My calendar events" }
`;

/** One `my_events` call through the MCP SDK client, as `username` (or nobody). */
async function myEvents(username?: string): Promise<{ isError: boolean; text: string }> {
  const client = new Client({ name: 'people', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(mcpUrl), {
      requestInit: { headers: { 'x-api-key': stack.bootstrapKey, ...(username ? { 'x-username': username } : {}) } },
    }),
  );
  try {
    const r = await client.callTool({ name: 'my_events', arguments: {} });
    return { isError: r.isError === true, text: (r.content as { text: string }[])[0]!.text };
  } finally {
    await client.close();
  }
}

const connection = (user: string) => userSecrets.oauth(workspaceId, userIds.get(user)!, instanceId);

/** Stores `user`'s tokens as the end of the authorization code flow would (the worker's write, sealed). */
async function connect(user: string, expiresAt = Date.now() + 3_600_000): Promise<string> {
  const t = provider.issueTokensFor(user);
  await writer.put(
    connection(user),
    JSON.stringify({ access_token: t.accessToken, refresh_token: t.refreshToken, expires_at: expiresAt }),
  );
  return t.accessToken;
}

const statusKey = (user: string) => `${stack.redisPrefix}:oauth-connection-status:${connection(user)}`;

beforeAll(async () => {
  provider = await startUserOAuthProvider();
  ({ stack, api } = await startTestStack('user-oauth-calls', { workers: 2 }));
  redis = new Redis(stack.redisUrl);
  const publicKey = createPublicKey(readFileSync(join(stack.dataDir, 'keys', 'secrets-seal.key.pem'), 'utf8'))
    .export({ type: 'spki', format: 'pem' })
    .toString();
  writer = new LocalSealedSecretsWriter(join(stack.dataDir, 'secrets'), publicKey);
  const connector = await unwrap(api.POST('/connectors', yamlBody(descriptor(provider))));
  const instance = await unwrap(
    api.POST('/connector_instances', {
      body: {
        createServer: false,
        connector_id: connector.id,
        name: 'calendar',
        credentials: { client_id: provider.clientId, client_secret: provider.clientSecret },
      },
    }),
  );
  instanceId = instance.id;
  const server = await unwrap(
    api.POST('/mcp_manager', { body: { name: 'calendar', mode: 'NORMAL', connectorInstanceId: instanceId } }),
  );
  mcpUrl = server.url;
  const catalog = JSON.parse((await redis.get(`${stack.redisPrefix}:catalog:${server.id}`))!) as Catalog;
  workspaceId = catalog.workspaceId;
  for (const name of ['alice', 'bob', 'carol', 'dave']) {
    const user = await unwrap(api.POST('/external_users', { body: { name } }));
    userIds.set(name, user.id);
  }
  await unwrap(
    api.POST('/access_policies', {
      body: { name: 'all-users', principals: [{ type: 'external_user', value: '*' }], servers: ['*'], tools: ['*'] },
    }),
  );
}, 120_000);

afterAll(async () => {
  redis?.disconnect();
  await stack?.stop();
  await provider?.close();
});

describe("a person's own account in calls (oauth2_authorization_code)", () => {
  it("sends the calling person's own token; someone not connected, or nobody in particular, gets an error to act on", async () => {
    const token = await connect('alice');
    const alice = await myEvents('alice');
    expect(alice).toEqual({ isError: false, text: JSON.stringify({ user: 'alice', path: '/events' }) });
    expect(provider.apiCalls.at(-1)).toMatchObject({ user: 'alice', token, status: 200 });

    const calls = provider.apiCalls.length;
    const bob = await myEvents('bob');
    expect(bob.isError).toBe(true);
    expect(bob.text).toContain('User "bob" has not connected their own account');
    const nobody = await myEvents();
    expect(nobody.isError).toBe(true);
    expect(nobody.text).toContain("acts on a person's own account");
    expect(provider.apiCalls.length).toBe(calls); // neither reached the API
  });

  it('an expired token: 20 concurrent calls across 2 workers cause exactly 1 refresh, and all succeed', async () => {
    await connect('carol', Date.now() - 1_000);
    const before = provider.refreshCount;
    const results = await Promise.all(Array.from({ length: 20 }, () => myEvents('carol')));
    expect(results.filter((r) => r.isError)).toEqual([]);
    expect(provider.refreshCount - before).toBe(1);
    expect(new Set(provider.apiCalls.filter((c) => c.user === 'carol').map((c) => c.token)).size).toBe(1);
  });

  it('a token the API refuses (401) is refreshed once and the call sent once more, for any number of calls', async () => {
    await connect('dave');
    expect((await myEvents('dave')).isError).toBe(false);
    provider.expireAccessTokens();
    const before = provider.refreshCount;
    const results = await Promise.all(Array.from({ length: 10 }, () => myEvents('dave')));
    expect(results.filter((r) => r.isError)).toEqual([]);
    expect(provider.refreshCount - before).toBe(1);
  });

  it('a refused refresh marks the connection "needs re-authorisation"; a provider that is down marks nothing', async () => {
    await connect('alice', Date.now() - 1_000);
    provider.down = true;
    try {
      const down = await myEvents('alice');
      expect(down.isError).toBe(true);
      expect(down.text).toMatch(/token endpoint/i);
      expect(await redis.get(statusKey('alice'))).toBeNull();
    } finally {
      provider.down = false;
    }
    provider.refuseRefresh = true;
    try {
      const refused = await myEvents('alice');
      expect(refused.isError).toBe(true);
      expect(refused.text).toContain('User "alice" has to authorise again their own account');
      expect(await redis.get(statusKey('alice'))).toBe('needs_reauthorization');
    } finally {
      provider.refuseRefresh = false;
    }
  });

  it('no access token, refresh token or client secret in any tool result or execution record', async () => {
    const records = JSON.stringify(await unwrap(api.GET('/execution_records', { params: { query: { limit: 200 } } })));
    expect(records).toContain('my_events');
    for (const secret of [...provider.issuedTokens(), provider.clientSecret]) expect(records).not.toContain(secret);
  });
});
