// The canary rule for people's OAuth connections (ADR 0027): every access token and refresh token the provider
// issues, and the OAuth app's client secret, appear in no output of the stack, through a whole life of a connection:
// a call without a connection (its connect link), the link followed to the provider and back (the code exchanged by a
// worker), calls with the person's token under a debug session, an expired token refreshed, the listing, and the
// disconnect with its revocation. Searched: every log line of the services,
// every span they exported, every command sent to Redis and every key left there, every PostgreSQL row, every REST
// answer, tool result and page the test got.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Stack } from '@toolplane/cli';
import { createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { startUserOAuthProvider, type UserOAuthProvider } from '../fixtures/user-oauth-provider.ts';
import { logLines, startTestStack, waitFor, yamlBody } from '../helpers.ts';
import { recordingFetch, watchOutputs, type OutputWatch } from '../output-search.ts';

let watch: OutputWatch;
let stack: Stack;
let api: ManagementClient;
let provider: UserOAuthProvider;
let mcpUrl: string;
let instanceId: string;
/** REST answers, tool results and pages, searched at the end. */
const outputs: string[] = [];

const descriptor = (p: UserOAuthProvider) => `
metadata: { name: Calendar, slug: calendar, version: "1.0.0" }
authentication:
  - type: oauth2_authorization_code
    authorization_url: "${p.url}/authorize"
    token_url: "${p.tokenUrl}"
    revocation_url: "${p.revocationUrl}"
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

async function myEvents(username: string): Promise<string> {
  const client = new Client({ name: 'people', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(mcpUrl), {
      requestInit: { headers: { 'x-api-key': stack.bootstrapKey, 'x-username': username } },
    }),
  );
  try {
    const r = await client.callTool({ name: 'my_events', arguments: {} });
    const text = JSON.stringify(r);
    outputs.push(text);
    return text;
  } finally {
    await client.close();
  }
}

/** Follows a connect link as a browser would (the page, its button, the provider, the callback page). */
async function follow(text: string): Promise<void> {
  const link = /(http:\/\/127\.0\.0\.1:\d+\/connect\/[A-Za-z0-9_-]{43})/.exec(text)?.[1];
  if (!link) throw new Error(`no connect link in: ${text}`);
  outputs.push(await (await fetch(link)).text());
  const toProvider = await fetch(link, { method: 'POST', redirect: 'manual' });
  const toCallback = await fetch(toProvider.headers.get('location')!, { redirect: 'manual' });
  const done = await fetch(toCallback.headers.get('location')!);
  const page = await done.text();
  outputs.push(page);
  expect(page).toContain('You can return to your agent');
}

beforeAll(async () => {
  provider = await startUserOAuthProvider();
  watch = await watchOutputs(() => [...provider.issuedTokens(), provider.clientSecret]);
  ({ stack } = await startTestStack('user-oauth-canary', {
    redisUrl: watch.redisUrl,
    logLevel: 'debug',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: watch.otlpUrl, OTEL_BSP_SCHEDULE_DELAY: '100' },
  }));
  api = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey, recordingFetch(outputs));
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
  await unwrap(api.POST('/external_users', { body: { name: 'alice' } }));
  await unwrap(
    api.POST('/access_policies', {
      body: { name: 'all-users', principals: [{ type: 'external_user', value: '*' }], servers: ['*'], tools: ['*'] },
    }),
  );
  // A debug session: its captures of the calls are searched too.
  await unwrap(
    api.POST('/mcp_manager/{id}/debug_sessions', {
      params: { path: { id: server.id } },
      body: { duration_minutes: 30 },
    }),
  );
  const workers = stack.processes.filter((p) => p.service === 'worker');
  await waitFor('the workers to see the debug session', () =>
    workers.every((w) =>
      logLines(w, 'debug session changed; cached state dropped').some((l) => l.serverId === server.id),
    ),
  );
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await watch?.close();
  await provider?.close();
});

describe("people's OAuth tokens and the app's client secret in no output", () => {
  it('through connecting, calls, refreshes, the listing and the disconnect', async () => {
    provider.consentAs = 'alice';
    await follow(await myEvents('alice'));
    expect(await myEvents('alice')).toContain('\\"user\\":\\"alice\\"');
    // The access token expires: the worker refreshes it before the call.
    provider.expireAccessTokens();
    expect(await myEvents('alice')).toContain('\\"user\\":\\"alice\\"');
    const refreshes = provider.refreshCount;
    expect(refreshes).toBeGreaterThan(0);
    // The records (with the debug session's captures) and the listing.
    await unwrap(api.GET('/execution_records', { params: { query: { limit: 200 } } }));
    const listed = await unwrap(api.GET('/external_users/{name}/connections', { params: { path: { name: 'alice' } } }));
    expect(listed.data).toMatchObject([{ kind: 'oauth', status: 'connected' }]);
    const ended = await unwrap(
      api.DELETE('/external_users/{name}/connections/{instanceId}', {
        params: { path: { name: 'alice', instanceId } },
      }),
    );
    expect(ended).toMatchObject({ revocation: 'revoked' });

    const { places, leaks } = await watch.sweep(stack, { outputs: outputs.join('\n') });
    expect(leaks).toEqual([]);
    // The search covered real output: tokens were issued and used, services logged and exported spans, Redis saw
    // the traffic, and the debug session captured the calls.
    expect(provider.issuedTokens().length).toBeGreaterThanOrEqual(4);
    expect(provider.apiCalls.filter((c) => c.user === 'alice').length).toBeGreaterThanOrEqual(2);
    expect(places['log:worker-1']!.length).toBeGreaterThan(0);
    for (const service of ['toolplane-edge', 'toolplane-worker', 'toolplane-control-plane'])
      expect(places.spans).toContain(service);
    expect(watch.commandsSeen).toBeGreaterThan(0);
    expect(places.postgres).toContain('my_events');
    expect(places.outputs).toContain('"revocation":"revoked"');
  });
});
