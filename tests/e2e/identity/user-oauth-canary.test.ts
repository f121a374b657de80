// The canary rule for people's OAuth connections (ADR 0027): every access token and refresh token the provider
// issues, and the OAuth app's client secret, appear in no output of the stack, through a whole life of a connection:
// a call without a connection (its connect link, as a tool error and as URL-mode elicitation), SMART `connect` (a
// link a worker makes for the edge), the link followed to the provider and back (the code exchanged by a worker),
// calls with the person's token under a debug session (a tool's and a workflow step's), an expired token refreshed
// (for each), the listing, and the
// disconnect with its revocation. Searched: every log line of the services,
// every span they exported, every command sent to Redis and every key left there, every PostgreSQL row, every REST
// answer, tool result and page the test got.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Stack } from '@toolplane/cli';
import { type components, createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { startUserOAuthProvider, type UserOAuthProvider } from '../../fixtures/user-oauth-provider.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';
import { logLines } from '../../helpers/records.ts';
import {
  calendarDocument,
  callToolAs,
  connectLinkIn,
  followConnectLink,
  mcpClientAs,
  setUpCalendar,
} from '../../fixtures/calendar-connector.ts';
import { recordingFetch, watchOutputs, type OutputWatch } from '../../helpers/output-search.ts';

let watch: OutputWatch;
let stack: Stack;
let api: ManagementClient;
let provider: UserOAuthProvider;
let mcpUrl: string;
let smartUrl: string;
let agendaUrl: string;
let instanceId: string;
/** REST answers, tool results and pages, searched at the end. */
const outputs: string[] = [];

async function myEvents(username: string): Promise<string> {
  const { raw } = await callToolAs(mcpUrl, stack.bootstrapKey, username);
  outputs.push(raw);
  return raw;
}

/** Follows a connect link as a browser would (the page, its button, the provider, the callback page). */
async function follow(text: string): Promise<void> {
  const link = connectLinkIn(text);
  outputs.push(await (await fetch(link)).text());
  const done = await followConnectLink(link);
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
  const calendar = await setUpCalendar(api, provider, ['alice']);
  instanceId = calendar.instanceId;
  mcpUrl = calendar.server.url;
  smartUrl = (await unwrap(api.POST('/mcp_manager', { body: { name: 'calendar-smart', mode: 'SMART' } }))).url;
  // A workflow whose step runs on the person's own account: an OpenAPI connector opted in (ADR 0028), its instance
  // holding the same OAuth app, and an Arazzo workflow calling its operation.
  const openapi = await unwrap(
    api.POST('/connectors', {
      body: {
        kind: 'openapi',
        slug: 'calendar-api',
        document: calendarDocument(provider),
        user_oauth: { revocation_url: provider.revocationUrl },
      } as unknown as components['schemas']['ConnectorSource'],
    }),
  );
  await unwrap(
    api.POST('/connector_instances', {
      body: {
        createServer: false,
        connector_id: openapi.id,
        name: 'calendar-api',
        credentials: { client_id: provider.clientId, client_secret: provider.clientSecret },
      },
    }),
  );
  const agenda = await unwrap(api.POST('/mcp_manager', { body: { name: 'agenda', mode: 'NORMAL' } }));
  await unwrap(
    api.POST('/mcp_servers/{id}/deploy', { params: { path: { id: agenda.id } }, body: { definition: agendaWorkflow } }),
  );
  agendaUrl = agenda.url;
  // Debug sessions: their captures of the calls are searched too.
  for (const server of [calendar.server, agenda]) {
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
  }
}, 120_000);

const agendaWorkflow = `
arazzo: 1.0.1
info: { title: Agenda, version: 1.0.0 }
sourceDescriptions:
  - { name: calendar, url: "toolplane:connectors/calendar-api", type: openapi }
workflows:
  - workflowId: agenda
    summary: The person's events, through a workflow step
    steps:
      - stepId: events
        operationId: my_events
        successCriteria: [{ condition: $statusCode == 200 }]
        outputs: { user: $response.body#/user }
    outputs: { user: $steps.events.outputs.user }
`;
async function agendaOf(username: string): Promise<string> {
  const { raw } = await callToolAs(agendaUrl, stack.bootstrapKey, username, 'agenda');
  outputs.push(raw);
  return raw;
}

afterAll(async () => {
  await stack?.stop();
  await watch?.close();
  await provider?.close();
});

describe("people's OAuth tokens and the app's client secret in no output", () => {
  it('through connecting, calls, refreshes, the listing and the disconnect', async () => {
    provider.consentAs = 'alice';
    // The link as each path gives it: the tool error, URL-mode elicitation (-32042), SMART connect; the last followed.
    expect(await myEvents('alice')).toContain('/connect/');
    expect(await agendaOf('alice')).toContain('/connect/');
    const declaring = await mcpClientAs(mcpUrl, stack.bootstrapKey, 'alice', {
      capabilities: { elicitation: { url: {} } },
    });
    const elicitation = await declaring.callTool({ name: 'my_events', arguments: {} }).then(
      () => undefined,
      (err: unknown) => err as { code: number; message: string; data: unknown },
    );
    await declaring.close();
    expect(elicitation?.code).toBe(-32042);
    outputs.push(JSON.stringify({ message: elicitation?.message, data: elicitation?.data }));
    const connect = await callToolAs(smartUrl, stack.bootstrapKey, 'alice', 'connect', { tool: 'my_events' });
    outputs.push(connect.raw);
    await follow((JSON.parse(connect.text) as { link: string }).link);
    expect(await myEvents('alice')).toContain('\\"user\\":\\"alice\\"');
    // The workflow's connector is another instance: its own connection, through the link its error carries.
    await follow(await agendaOf('alice'));
    expect(await agendaOf('alice')).toContain('\\"user\\":\\"alice\\"');
    // The access token expires: the worker refreshes it before the call (a tool's, then a workflow step's).
    provider.expireAccessTokens();
    expect(await myEvents('alice')).toContain('\\"user\\":\\"alice\\"');
    provider.expireAccessTokens();
    expect(await agendaOf('alice')).toContain('\\"user\\":\\"alice\\"');
    expect(provider.refreshCount).toBeGreaterThanOrEqual(2);
    // The records (with the debug session's captures) and the listing.
    await unwrap(api.GET('/execution_records', { params: { query: { limit: 200 } } }));
    const listed = await unwrap(api.GET('/external_users/{name}/connections', { params: { path: { name: 'alice' } } }));
    expect(listed.data).toHaveLength(2);
    for (const connection of listed.data) expect(connection).toMatchObject({ kind: 'oauth', status: 'connected' });
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
    expect(places.postgres).toContain('agenda');
    expect(places.outputs).toContain('"revocation":"revoked"');
  });
});
