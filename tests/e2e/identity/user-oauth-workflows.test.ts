// People's own accounts (ADR 0027) beyond connector descriptors, on the real stack: an OpenAPI connector whose
// `oauth2` `authorizationCode` scheme is opted in (`user_oauth`, ADR 0028) calls the local provider's API with the
// calling person's own token, in its own tools and in Arazzo workflow steps (`toolplane:connectors/…`); a person
// without a connection gets the connect link a plain tool gives, and the workflow stops at that step. The same
// document not opted in still takes a ready access token. People connect over HTTP (the provider consents at once).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Stack } from '@toolplane/cli';
import { type components, type ManagementClient, unwrap } from '@toolplane/client';
import { startUserOAuthProvider, type UserOAuthProvider } from '../../fixtures/user-oauth-provider.ts';
import { calendarDocument, callToolAs, connectLinkIn, followConnectLink } from '../../fixtures/calendar-connector.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

let stack: Stack;
let api: ManagementClient;
let provider: UserOAuthProvider;
let directory: Server;
let directoryUrl: string;
/** Paths the directory API (the steps around the person's step) was asked for. */
const directoryCalls: string[] = [];
let toolsUrl: string;
let workflowUrl: string;

/** A public API the workflow calls before and after the person's step. */
const directoryDocument = () => `
openapi: 3.0.3
info: { title: Directory, version: "1" }
servers: [{ url: "${directoryUrl}" }]
paths:
  /before: { get: { operationId: before, responses: { "200": { description: ok } } } }
  /after: { get: { operationId: after, responses: { "200": { description: ok } } } }
`;

const workflow = () => `
arazzo: 1.0.1
info: { title: Agenda, version: 1.0.0 }
sourceDescriptions:
  - { name: calendar, url: "toolplane:connectors/calendar-api", type: openapi }
  - { name: directory, url: "${directoryUrl}/docs/directory.yaml", type: openapi }
workflows:
  - workflowId: agenda
    summary: The person's agenda, between two directory calls
    steps:
      - stepId: first
        operationId: before
        successCriteria: [{ condition: $statusCode == 200 }]
      - stepId: events
        operationId: my_events
        successCriteria: [{ condition: $statusCode == 200 }]
        outputs: { user: $response.body#/user, path: $response.body#/path }
      - stepId: last
        operationId: after
        successCriteria: [{ condition: $statusCode == 200 }]
    outputs: { user: $steps.events.outputs.user, path: $steps.events.outputs.path }
`;

type ConnectorSource = components['schemas']['ConnectorSource'];

async function addConnector(body: Record<string, unknown>) {
  return api.POST('/connectors', { body: body as unknown as ConnectorSource });
}

/** An instance of `connectorId` and a NORMAL server exposing its tools. */
async function serve(connectorId: string, name: string, credentials: Record<string, string>) {
  const instance = await unwrap(
    api.POST('/connector_instances', { body: { createServer: false, connector_id: connectorId, name, credentials } }),
  );
  const server = await unwrap(
    api.POST('/mcp_manager', { body: { name, mode: 'NORMAL', connectorInstanceId: instance.id } }),
  );
  return server.url;
}

const call = (url: string, username: string | undefined, tool: string) =>
  callToolAs(url, stack.bootstrapKey, username, tool).then(({ isError, text }) => ({ isError, text }));
const agenda = (username?: string) => call(workflowUrl, username, 'agenda');

/** Follows the link an error carries, consenting at the provider as `user`; the callback page says connected. */
async function connectWith(text: string, user: string): Promise<void> {
  provider.consentAs = user;
  const done = await followConnectLink(connectLinkIn(text));
  expect(done.status).toBe(200);
  expect(await done.text()).toContain('You can return to your agent');
}

beforeAll(async () => {
  provider = await startUserOAuthProvider();
  directory = createServer((req, res) => {
    if (req.url === '/docs/directory.yaml')
      return void res.writeHead(200, { 'content-type': 'application/yaml' }).end(directoryDocument());
    // The provider as an OpenID Connect issuer would describe itself.
    if (req.url === '/.well-known/openid-configuration')
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          issuer: provider.url,
          authorization_endpoint: `${provider.url}/authorize`,
          token_endpoint: provider.tokenUrl,
          revocation_endpoint: provider.revocationUrl,
        }),
      );
    directoryCalls.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  await new Promise<void>((r) => directory.listen(0, '127.0.0.1', r));
  directoryUrl = `http://127.0.0.1:${(directory.address() as AddressInfo).port}`;
  ({ stack, api } = await startTestStack('user-oauth-workflows'));

  const connector = await unwrap(
    addConnector({
      kind: 'openapi',
      slug: 'calendar-api',
      document: calendarDocument(provider),
      user_oauth: { revocation_url: provider.revocationUrl },
    }),
  );
  toolsUrl = await serve(connector.id, 'calendar', {
    client_id: provider.clientId,
    client_secret: provider.clientSecret,
  });
  for (const name of ['alice', 'bob']) await unwrap(api.POST('/external_users', { body: { name } }));
  await unwrap(
    api.POST('/access_policies', {
      body: { name: 'all-users', principals: [{ type: 'external_user', value: '*' }], servers: ['*'], tools: ['*'] },
    }),
  );
  const server = await unwrap(api.POST('/mcp_manager', { body: { name: 'agenda', mode: 'NORMAL' } }));
  await unwrap(
    api.POST('/mcp_servers/{id}/deploy', { params: { path: { id: server.id } }, body: { definition: workflow() } }),
  );
  workflowUrl = server.url;
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await provider?.close();
  await new Promise<void>((r) => (directory ? directory.close(() => r()) : r()));
});

describe("an OpenAPI connector opted in to people's own accounts (user_oauth)", () => {
  it("its tool gives alice a connect link, then runs with alice's own token", async () => {
    const before = provider.apiCalls.length;
    const first = await call(toolsUrl, 'alice', 'my_events');
    expect(first.isError).toBe(true);
    expect(first.text).toContain('User "alice" has not connected their own account');
    expect(provider.apiCalls.length).toBe(before);
    await connectWith(first.text, 'alice');
    // The scopes of the operation's security requirement, the app's client id (the instance's credential).
    expect(provider.authorizeRequests.at(-1)).toMatchObject({ client_id: provider.clientId, scope: 'calendar.read' });

    const connected = await call(toolsUrl, 'alice', 'my_events');
    expect(connected).toEqual({ isError: false, text: JSON.stringify({ user: 'alice', path: '/events' }) });
    expect(provider.apiCalls.at(-1)).toMatchObject({ user: 'alice', status: 200 });
  });

  it('the same document not opted in still takes a ready access token as its credential', async () => {
    const plain = await unwrap(
      addConnector({ kind: 'openapi', slug: 'calendar-token', document: calendarDocument(provider) }),
    );
    const ready = provider.issueTokensFor('carol').accessToken;
    const url = await serve(plain.id, 'calendar-token', { calendarAuth: ready });
    const result = await call(url, undefined, 'my_events');
    expect(result).toEqual({ isError: false, text: JSON.stringify({ user: 'carol', path: '/events' }) });
    expect(provider.apiCalls.at(-1)).toMatchObject({ user: 'carol', token: ready, status: 200 });
  });

  it("an openIdConnect scheme opted in: the endpoints from its discovery document (read by a worker), the person's token", async () => {
    const oidc = {
      ...calendarDocument(provider),
      components: {
        securitySchemes: {
          calendarAuth: { type: 'openIdConnect', openIdConnectUrl: `${directoryUrl}/.well-known/openid-configuration` },
        },
      },
    };
    const connector = await unwrap(
      addConnector({ kind: 'openapi', slug: 'calendar-oidc', document: oidc, user_oauth: true }),
    );
    const url = await serve(connector.id, 'calendar-oidc', {
      client_id: provider.clientId,
      client_secret: provider.clientSecret,
    });
    const first = await call(url, 'alice', 'my_events');
    expect(first.text).toContain('User "alice" has not connected their own account'); // another instance: another connection
    await connectWith(first.text, 'alice');
    const connected = await call(url, 'alice', 'my_events');
    expect(connected).toEqual({ isError: false, text: JSON.stringify({ user: 'alice', path: '/events' }) });
  });

  it('an opt-in that cannot be applied is refused with every problem listed', async () => {
    const oidc = {
      ...calendarDocument(provider),
      components: {
        securitySchemes: {
          calendarAuth: { type: 'openIdConnect', openIdConnectUrl: `${provider.url}/.well-known/openid-configuration` },
        },
      },
    };
    const refused = await addConnector({
      kind: 'openapi',
      slug: 'calendar-oidc-refused',
      document: oidc,
      user_oauth: { revocation_url: 'not a url' },
      mcp_config: {
        route_mappings: [{ operation_id: 'nope', mcp_tool_name: 'nope', mcp_tool_description: 'No such operation' }],
      },
    });
    expect(refused.response.status).toBe(422);
    const paths = (refused.error as { errors: { path: string }[] }).errors.map((e) => e.path).sort();
    expect(paths).toEqual([
      '/mcp_config/route_mappings/0/operation_id',
      '/user_oauth/authorization_url',
      '/user_oauth/revocation_url',
      '/user_oauth/token_url',
    ]);
    // The provider serves no discovery document: the worker's read failed, and the messages say so.
    expect(JSON.stringify(refused.error)).toContain('could not be read');
  });
});

describe("workflow steps on an operation of the person's own account", () => {
  it('bob, not connected: the workflow stops at that step with the connect link; nothing after it runs', async () => {
    const apiCalls = provider.apiCalls.length;
    directoryCalls.length = 0;
    const bob = await agenda('bob');
    expect(bob.isError).toBe(true);
    expect(bob.text).toContain('User "bob" has not connected their own account');
    connectLinkIn(bob.text);
    expect(directoryCalls).toEqual(['/before']); // the step before ran once; the one after never
    expect(provider.apiCalls.length).toBe(apiCalls);

    const nobody = await agenda();
    expect(nobody.isError).toBe(true);
    expect(nobody.text).toContain("acts on a person's own account");
  });

  it("bob follows the workflow's link: connected, the same call runs with his own token, each step once", async () => {
    const first = await agenda('bob');
    await connectWith(first.text, 'bob');
    directoryCalls.length = 0;
    const bob = await agenda('bob');
    expect(bob).toEqual({ isError: false, text: JSON.stringify({ user: 'bob', path: '/events' }) });
    expect(provider.apiCalls.at(-1)).toMatchObject({ user: 'bob', status: 200 });
    expect(directoryCalls).toEqual(['/before', '/after']);
  });

  it("alice (connected through the connector's tool): her token; a refused (401) token is refreshed once and the step sent once more", async () => {
    const ok = await agenda('alice');
    expect(ok).toEqual({ isError: false, text: JSON.stringify({ user: 'alice', path: '/events' }) });
    const sent = provider.apiCalls.at(-1)!;
    expect(sent).toMatchObject({ user: 'alice', status: 200 });

    provider.expireAccessTokens();
    const refreshes = provider.refreshCount;
    directoryCalls.length = 0;
    const again = await agenda('alice');
    expect(again).toEqual({ isError: false, text: JSON.stringify({ user: 'alice', path: '/events' }) });
    expect(provider.refreshCount - refreshes).toBe(1);
    const [refused, retried] = provider.apiCalls.slice(-2);
    expect(refused).toMatchObject({ token: sent.token, status: 401 });
    expect(retried).toMatchObject({ user: 'alice', status: 200 });
    expect(retried!.token).not.toBe(sent.token);
    expect(directoryCalls).toEqual(['/before', '/after']); // the 401 repeated no other step
  });

  it("records the stopped run as a plain tool's refusal: the steps before it, no link, no token", async () => {
    const rejected = await waitFor('the record of bob’s stopped run', async () => {
      const { data } = await unwrap(api.GET('/execution_records', { params: { query: { limit: 200 } } }));
      return data.find((r) => r.tool === 'agenda' && r.caller.username === 'bob' && r.outcome === 'rejected');
    });
    expect(rejected).toMatchObject({ error_code: 'connection.required' });
    expect(rejected.message).toContain('A connect link was given to the caller');
    const full = await unwrap(api.GET('/execution_records/{id}', { params: { path: { id: rejected.id } } }));
    expect(full.steps).toEqual([expect.objectContaining({ name: 'agenda/first', status: 200 })]);
    const records = JSON.stringify(await unwrap(api.GET('/execution_records', { params: { query: { limit: 200 } } })));
    expect(records).not.toMatch(/\/connect\/[A-Za-z0-9_-]{43}/);
    for (const secret of [...provider.issuedTokens(), provider.clientSecret]) expect(records).not.toContain(secret);
  });
});
