// Any tool as a workflow step (docs/adr/0039), on the real stack with the official SDK client: an Arazzo and a Flower
// workflow call a connector descriptor's operations, a hosted server's tool and an external MCP server's tool, and a
// person's own account (the calendar connector); SMART `connect` gives that account's link for the workflow; the
// steps spend the called connector's rate limits; the record shows each step; a failing upstream names its step; no
// credential reaches an output or a record.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Stack } from '@toolplane/cli';
import { createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { connectLinkIn, followConnectLink, mcpClientAs, setUpCalendar } from '../../fixtures/calendar-connector.ts';
import { startStreamableMcpServer, type ExternalMcpServer } from '../../fixtures/mcp-servers.ts';
import { startUserOAuthProvider, type UserOAuthProvider } from '../../fixtures/user-oauth-provider.ts';
import { inOneWindow } from '../../helpers/quotas.ts';
import { startTestStack, yamlBody } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';
import type { ElicitRequest } from '@modelcontextprotocol/client';

const NOTES_KEY = `notes-key-${randomBytes(8).toString('hex')}`;
const ORDERS_TOKEN = `orders-token-${randomBytes(8).toString('hex')}`;

let stack: Stack;
let api: ManagementClient;
let provider: UserOAuthProvider;
let notes: Server;
let notesUrl: string;
let orders: ExternalMcpServer;
/** Requests the notes API answered (path and the key it was sent). */
const notesCalls: { path: string; key: string | undefined }[] = [];
let smartUrl: string;
let flowerUrl: string;
let notesServerUrl: string;

/** A connector descriptor (not OpenAPI): notes by id (the answer echoes the key it got), and an operation that fails. */
const notesDescriptor = () => `
metadata: { name: Notes, slug: notes, version: "1.0.0" }
authentication:
  - type: api_key
    fields: [{ key: api_key, field_type: secret, required: true, secret: true }]
operations:
  - operation_id: get_note
    endpoint: "${notesUrl}/notes/{id}"
    method: GET
    auth_type_ref: api_key
    auth_headers: { X-API-Key: "{api_key}" }
    parameters: [{ name: id, location: path, field_type: string, required: true }]
  - operation_id: broken
    endpoint: "${notesUrl}/broken"
    method: GET
    auth_type_ref: api_key
    auth_headers: { X-API-Key: "{api_key}" }
    parameters: []
rate_limits: [{ scope: per_account, limit: 4, interval_seconds: 3600 }]
mcp_config:
  enabled: true
  server_name: notes
  server_description: Notes
  route_mappings:
    - { operation_id: get_note, mcp_tool_name: get_note, mcp_tool_description: "A note by id" }
`;

const arazzo = `
arazzo: 1.0.1
info: { title: Everything, version: 1.0.0 }
sourceDescriptions:
  - { name: notes, url: "toolplane:connectors/notes", type: openapi }
  - { name: calendar, url: "toolplane:connectors/calendar", type: openapi }
  - { name: hosted, url: "toolplane:mcp_servers/notes", type: openapi }
  - { name: orders, url: "toolplane:external_mcp_servers/orders", type: openapi }
workflows:
  - workflowId: summary
    inputs: { type: object, properties: { note: { type: string }, order: { type: string } } }
    steps:
      - stepId: note
        operationId: $sourceDescriptions.notes.get_note
        parameters: [{ name: id, in: path, value: $inputs.note }]
        outputs: { text: $response.body#/text }
      - stepId: hosted
        operationId: $sourceDescriptions.hosted.get_note
        requestBody: { payload: { id: "h1" } }
        outputs: { text: $response.body#/text }
      - stepId: order
        operationId: lookup_order
        requestBody: { payload: { id: "{$inputs.order}" } }
        outputs: { status: $response.body#/status }
      - stepId: events
        operationId: my_events
        outputs: { user: $response.body#/user }
    outputs:
      note: $steps.note.outputs.text
      hosted: $steps.hosted.outputs.text
      order: $steps.order.outputs.status
      user: $steps.events.outputs.user
  - workflowId: failing
    steps:
      - stepId: first
        operationId: $sourceDescriptions.hosted.get_note
        requestBody: { payload: { id: "f1" } }
      - stepId: boom
        operationId: broken
      - stepId: never
        operationId: lookup_order
`;

const flower = `
flower: "0.1"
id: everything
flows:
  - id: flower_summary
    inputs: { type: object, properties: { note: { type: string }, order: { type: string } } }
    steps:
      - id: note
        request: { method: POST, url: "toolplane:connectors/notes/operations/get_note", body: { id: $inputs.note } }
        outputs: { text: $response.body.text, echo: $response.body.key }
      - id: hosted
        request: { method: POST, url: "toolplane:mcp_servers/notes/tools/get_note", body: { id: "h2" } }
        outputs: { text: $response.body.text }
      - id: order
        request: { method: POST, url: "toolplane:external_mcp_servers/orders/tools/lookup_order", body: { id: $inputs.order } }
        outputs: { status: $response.body.status }
      - id: events
        request: { method: POST, url: "toolplane:mcp_servers/calendar/tools/my_events" }
        outputs: { user: $response.body.user }
    outputs:
      note: $steps.note.outputs.text
      echo: $steps.note.outputs.echo
      hosted: $steps.hosted.outputs.text
      order: $steps.order.outputs.status
      user: $steps.events.outputs.user
  - id: two_notes
    steps:
      - id: one
        request: { method: POST, url: "toolplane:connectors/notes/operations/get_note", body: { id: "r1" } }
      - id: two
        request: { method: POST, url: "toolplane:mcp_servers/notes/tools/get_note", body: { id: "r2" } }
`;

/** A node of a record's step tree, as far as these tests read it. */
interface TreeNode {
  stepId?: string;
  status: string;
  children: TreeNode[];
}

/** One call through the SDK client as `username`: the result's first text, structured content and error flag. */
async function call(url: string, username: string | undefined, name: string, args: Record<string, unknown> = {}) {
  const client = await mcpClientAs(url, stack.bootstrapKey, username);
  try {
    const r = await client.callTool({ name, arguments: args });
    const text = (r.content as { text: string }[])[0]?.text ?? '';
    return { isError: r.isError === true, text, structured: r.structuredContent, raw: JSON.stringify(r) };
  } finally {
    await client.close();
  }
}

/** Deploys `definition` on the server; a refusal fails with its problems listed. */
async function deploy(serverId: string, definition: string) {
  const r = await api.POST('/mcp_servers/{id}/deploy', { params: { path: { id: serverId } }, body: { definition } });
  if (r.response.status !== 201) throw new Error(`deployment refused: ${JSON.stringify(r.error)}`);
}

/** The execution record of the last call of `tool` with `outcome`, in full. */
async function recordOf(tool: string, outcome: string) {
  const found = await waitFor(`a ${outcome} record of ${tool}`, async () => {
    const { data } = await unwrap(api.GET('/execution_records', { params: { query: { limit: 200 } } }));
    return data.find((r) => r.tool === tool && r.outcome === outcome);
  });
  return unwrap(api.GET('/execution_records/{id}', { params: { path: { id: found.id } } }));
}

beforeAll(async () => {
  provider = await startUserOAuthProvider();
  notes = createServer((req, res) => {
    const key = req.headers['x-api-key'] as string | undefined;
    notesCalls.push({ path: req.url ?? '', key });
    if (key !== NOTES_KEY) return void res.writeHead(401).end();
    if (req.url === '/broken') return void res.writeHead(500, { 'content-type': 'application/json' }).end('{"e":1}');
    const id = decodeURIComponent((req.url ?? '').split('/').pop() ?? '');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ text: `note ${id}`, key }));
  });
  await new Promise<void>((r) => notes.listen(0, '127.0.0.1', r));
  notesUrl = `http://127.0.0.1:${(notes.address() as AddressInfo).port}`;
  orders = await startStreamableMcpServer({
    tools: [{ name: 'lookup_order', description: 'An order by id', inputSchema: { type: 'object' } }],
    requiredHeader: ['authorization', `Bearer ${ORDERS_TOKEN}`],
    onCall: (_name, args) => ({
      content: [{ type: 'text', text: JSON.stringify({ id: args.id, status: 'shipped' }) }],
      structuredContent: { id: args.id, status: 'shipped' },
    }),
  });
  ({ stack, api } = await startTestStack('workflow-tools'));
  await setUpCalendar(api, provider, ['bob', 'carol', 'dave']);
  const connector = await unwrap(api.POST('/connectors', yamlBody(notesDescriptor())));
  const instance = await unwrap(
    api.POST('/connector_instances', {
      body: { createServer: false, connector_id: connector.id, name: 'notes', credentials: { api_key: NOTES_KEY } },
    }),
  );
  // External users use the shared notes key and orders token (the calendar is each person's own account).
  const config = { fallbackToShared: true };
  notesServerUrl = (
    await unwrap(
      api.POST('/mcp_manager', { body: { name: 'notes', mode: 'NORMAL', connectorInstanceId: instance.id, config } }),
    )
  ).url;
  await unwrap(
    api.POST('/external_mcp_servers', {
      body: { name: 'orders', url: orders.url, headers: { authorization: `Bearer ${ORDERS_TOKEN}` } },
    }),
  );
  const smart = await unwrap(api.POST('/mcp_manager', { body: { name: 'smart-flows', mode: 'SMART', config } }));
  await deploy(smart.id, arazzo);
  smartUrl = smart.url;
  const normal = await unwrap(api.POST('/mcp_manager', { body: { name: 'flower-flows', mode: 'NORMAL', config } }));
  await deploy(normal.id, flower);
  flowerUrl = normal.url;
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await provider?.close();
  await orders?.close();
  notes?.closeAllConnections();
  await new Promise<void>((r) => (notes ? notes.close(() => r()) : r()));
});

describe('any tool as a workflow step', () => {
  it("SMART connect on the Arazzo workflow gives bob his account's link; then every kind of step runs with his token", async () => {
    const connect = await call(smartUrl, 'bob', 'connect', { tool: 'summary' });
    const link = (connect.structured as { link?: string }).link;
    expect(link).toMatch(/\/connect\/[A-Za-z0-9_-]{43}$/);
    provider.consentAs = 'bob';
    expect((await followConnectLink(link!)).status).toBe(200);

    const run = await call(smartUrl, 'bob', 'execute_tool', {
      name: 'summary',
      arguments: { note: 'n1', order: 'o1' },
    });
    expect(run.isError).toBe(false);
    expect(run.structured).toEqual({ note: 'note n1', hosted: 'note h1', order: 'shipped', user: 'bob' });
    expect(provider.apiCalls.at(-1)).toMatchObject({ user: 'bob', status: 200 });
  });

  it('the Flower workflow calls the same tools; an echoed credential comes back redacted', async () => {
    const run = await call(flowerUrl, 'bob', 'flower_summary', { note: 'n2', order: 'o2' });
    expect(run.isError).toBe(false);
    expect(run.structured).toEqual({
      note: 'note n2',
      echo: '[redacted]',
      hosted: 'note h2',
      order: 'shipped',
      user: 'bob',
    });
    expect(run.raw).not.toContain(NOTES_KEY);
    expect(orders.requests.at(-1)?.authorization).toBe(`Bearer ${ORDERS_TOKEN}`);
  });

  it('dave, not connected: the Flower step on the hosted calendar tool gives his link; once followed, his token', async () => {
    const first = await call(flowerUrl, 'dave', 'flower_summary', { note: 'n3', order: 'o3' });
    expect(first.isError).toBe(true);
    expect(first.text).toContain('User "dave" has not connected their own account');
    provider.consentAs = 'dave';
    expect((await followConnectLink(connectLinkIn(first.text))).status).toBe(200);
    const again = await call(flowerUrl, 'dave', 'flower_summary', { note: 'n3', order: 'o3' });
    expect(again.structured).toMatchObject({ note: 'note n3', user: 'dave' });
  });

  it('the record shows each step (the tree and the flat steps)', async () => {
    const record = await recordOf('flower_summary', 'success');
    const steps = record.steps as { name: string; kind: string }[];
    expect(steps.map((s) => [s.name, s.kind])).toEqual([
      ['flower_summary/note', 'http'],
      ['flower_summary/hosted', 'http'],
      ['flower_summary/order', 'mcp'],
      ['flower_summary/events', 'http'],
    ]);
    const flow = (record.tree as TreeNode[])[0]!;
    expect(flow.children.map((c) => [c.stepId, c.status])).toEqual([
      ['note', 'ok'],
      ['hosted', 'ok'],
      ['order', 'ok'],
      ['events', 'ok'],
    ]);
    expect(flow.children[2]!.children[0]).toMatchObject({
      urlTemplate: 'toolplane:external_mcp_servers/orders/tools/lookup_order',
      method: 'tools/call',
    });
  });

  it('an upstream failing mid-workflow stops the run with an error naming the step; nothing after it runs', async () => {
    const before = orders.requests.length;
    const run = await call(smartUrl, undefined, 'execute_tool', { name: 'failing' });
    expect(run.isError).toBe(true);
    expect(run.text).toContain('Workflow "failing" failed at step "boom"');
    expect(run.text).toContain('HTTP 500');
    expect(orders.requests.length).toBe(before);
  });

  it("the steps spend the called connector's rate limit, with the tool's plain calls", async () => {
    for (let i = 0; i < 2; i++)
      expect((await call(notesServerUrl, 'carol', 'get_note', { id: `p${i}` })).isError).toBe(false);
    const seen = notesCalls.length;
    // Two of carol's four calls are left: the first step takes one, the second the last; then none is left.
    expect((await call(flowerUrl, 'carol', 'two_notes')).isError).toBe(false);
    const refused = await call(flowerUrl, 'carol', 'two_notes');
    expect(refused.isError).toBe(true);
    expect(refused.text).toContain('Rate limit reached');
    expect(notesCalls.length).toBe(seen + 2);
    const record = await recordOf('two_notes', 'rejected');
    expect(record).toMatchObject({ error_code: 'rate_limited' });
  });

  it('no credential reaches a record', async () => {
    const records = JSON.stringify(await unwrap(api.GET('/execution_records', { params: { query: { limit: 200 } } })));
    for (const secret of [NOTES_KEY, ORDERS_TOKEN, ...provider.issuedTokens(), provider.clientSecret])
      expect(records).not.toContain(secret);
  });
});

/** A Flower document of one flow `id` whose only step calls the tool `url`. */
const oneStep = (id: string, url: string) => `
flower: "0.1"
id: ${id}
flows:
  - id: ${id}
    steps:
      - id: only
        request: { method: POST, url: "${url}", body: { id: "x1" } }
        outputs: { body: $response.body }
    outputs: { body: $steps.only.outputs.body }
`;

/** Every string of a value (a problem's detail and its issues' messages), one a line. */
const strings = (v: unknown): string[] =>
  typeof v === 'string' ? [v] : typeof v === 'object' && v !== null ? Object.values(v).flatMap(strings) : [];

/** A problem+json answer's status and text (its detail and issues). */
function problemOf(r: { response: Response; error?: unknown }) {
  return { status: r.response.status, detail: strings(r.error).join('\n') };
}

describe('workflow steps inherit the rules of the tools they call (ADR 0045)', () => {
  let guardedFlowsUrl: string;
  let guardedFlowsId: string;

  beforeAll(async () => {
    // The notes server again, its get_note confirmed by a person; a workflow on another server calls it.
    const [instance] = (await unwrap(api.GET('/connector_instances'))).data.filter((i) => i.name === 'notes');
    await unwrap(
      api.POST('/mcp_manager', {
        body: {
          name: 'notes-guarded',
          mode: 'NORMAL',
          connectorInstanceId: instance!.id,
          confirmTools: ['get_note'],
          // Every result of the notes is the company's own (ADR 0078): its tools, and the steps calling them, bring it.
          config: { fallbackToShared: true, dataLabels: ['private'] },
        },
      }),
    );
    const flows = await unwrap(api.POST('/mcp_manager', { body: { name: 'guarded-flows', mode: 'NORMAL' } }));
    await deploy(flows.id, oneStep('guarded_note', 'toolplane:mcp_servers/notes-guarded/tools/get_note'));
    guardedFlowsUrl = flows.url;
    guardedFlowsId = flows.id;
  }, 60_000);

  // A client that cannot ask is refused, nothing sent: tests/e2e/governance/stage-paths.test.ts.
  it('a step calling a tool marked confirm: the workflow tool asks first; accepted, the step runs once', async () => {
    const seen = notesCalls.length;
    const asked: string[] = [];
    const client = await mcpClientAs(guardedFlowsUrl, stack.bootstrapKey, undefined, {
      capabilities: { elicitation: { form: {} } },
    });
    client.setRequestHandler('elicitation/create', (request: ElicitRequest) => {
      asked.push(String(request.params.message));
      return Promise.resolve({ action: 'accept' as const, content: {} });
    });
    try {
      const r = await client.callTool({ name: 'guarded_note', arguments: {} });
      expect(r.isError).not.toBe(true);
      expect(r.structuredContent).toEqual({ body: { text: 'note x1', key: '[redacted]' } });
    } finally {
      await client.close();
    }
    expect(asked).toHaveLength(1);
    expect(asked[0]).toContain('get_note (MCP server "notes-guarded")');
    expect(notesCalls.length).toBe(seen + 1);
  });

  it('a workflow tool brings the data-flow labels of its steps’ tools, with their sources (ADR 0078)', async () => {
    const listed = await unwrap(api.GET('/mcp_manager/{id}/tools', { params: { path: { id: guardedFlowsId } } }));
    expect(listed.data.map((t) => [t.name, t.labels])).toEqual([
      ['guarded_note', [{ label: 'private', source: 'classification' }]],
    ]);
  });

  it("a key limited to its server cannot deploy a step on another server's tools (not found, nothing deployed)", async () => {
    const limited = await unwrap(
      api.POST('/api_keys', {
        body: { name: 'guarded-admin', scopes: ['management', 'server_admin'], serverIds: [guardedFlowsId] },
      }),
    );
    const other = createManagementClient(stack.controlPlaneUrl, limited.key);
    const active = async () =>
      (
        await unwrap(api.GET('/mcp_servers/{id}/deployments', { params: { path: { id: guardedFlowsId } } }))
      ).data.filter((d) => d.state === 'active');
    const before = await active();
    for (const url of [
      'toolplane:mcp_servers/notes/tools/get_note',
      'toolplane:mcp_servers/notes-guarded/tools/get_note',
    ]) {
      const p = problemOf(
        await other.POST('/mcp_servers/{id}/deploy', {
          params: { path: { id: guardedFlowsId } },
          body: { definition: oneStep('borrowed', url) },
        }),
      );
      expect(p.status).toBe(422);
      expect(p.detail).toMatch(/no MCP server "notes(-guarded)?" in this workspace/);
    }
    expect(await active()).toEqual(before);
    // Nor bring back, withdrawn, a deployment whose step calls another server's tool (deployed by a wider key).
    const path = { id: guardedFlowsId, deploymentId: before[0]!.id };
    await unwrap(api.POST('/mcp_servers/{id}/deployments/{deploymentId}/withdraw', { params: { path } }));
    const back = problemOf(
      await other.POST('/mcp_servers/{id}/deployments/{deploymentId}/redeploy', { params: { path } }),
    );
    expect(back.status).toBe(422);
    expect(back.detail).toContain('no MCP server "notes-guarded" in this workspace');
    await unwrap(api.POST('/mcp_servers/{id}/deployments/{deploymentId}/redeploy', { params: { path } }));
    // Its own server's tools it may call.
    const own = await other.POST('/mcp_servers/{id}/deploy', {
      params: { path: { id: guardedFlowsId } },
      body: { definition: oneStep('own', `toolplane:mcp_servers/${guardedFlowsId}/tools/guarded_note`) },
    });
    expect(own.response.status).toBe(422); // a workflow tool is never a step: the server was found
    expect(JSON.stringify(own.error)).toContain('is a workflow');
  });

  it('deleting a server, an external server or a connector instance a deployed workflow calls: 409 naming it', async () => {
    const server = problemOf(await api.DELETE('/mcp_manager/{id}', { params: { path: { id: 'notes-guarded' } } }));
    expect(server.status).toBe(409);
    expect(server.detail).toContain('"guarded_note" on MCP server "guarded-flows"');
    const registered = await unwrap(api.GET('/external_mcp_servers/{id}', { params: { path: { id: 'orders' } } }));
    const external = problemOf(
      await api.DELETE('/external_mcp_servers/{id}', { params: { path: { id: registered.id } } }),
    );
    expect(external.status).toBe(409);
    expect(external.detail).toContain('"flower_summary", "two_notes" on MCP server "flower-flows"');
    const [instance] = (await unwrap(api.GET('/connector_instances'))).data.filter((i) => i.name === 'notes');
    const bound = problemOf(await api.DELETE('/connector_instances/{id}', { params: { path: { id: instance!.id } } }));
    expect(bound.status).toBe(409);
    expect(bound.detail).toContain('on MCP server "guarded-flows"');
    // All still there.
    expect((await api.GET('/mcp_manager/{id}', { params: { path: { id: 'notes-guarded' } } })).response.status).toBe(
      200,
    );
    expect(
      (await api.GET('/external_mcp_servers/{id}', { params: { path: { id: registered.id } } })).response.status,
    ).toBe(200);
    expect(
      (await api.GET('/connector_instances/{id}', { params: { path: { id: instance!.id } } })).response.status,
    ).toBe(200);
  });

  it("a step whose external server's headers are gone fails closed: a clear tool error, nothing sent", async () => {
    const extra = await unwrap(
      api.POST('/external_mcp_servers', {
        body: { name: 'orders-b', url: orders.url, headers: { authorization: `Bearer ${ORDERS_TOKEN}` } },
      }),
    );
    const flows = await unwrap(api.POST('/mcp_manager', { body: { name: 'headers-flows', mode: 'NORMAL' } }));
    await deploy(flows.id, oneStep('order_b', 'toolplane:external_mcp_servers/orders-b/tools/lookup_order'));
    expect((await call(flows.url, undefined, 'order_b')).isError).toBe(false);
    const [deployment] = (
      await unwrap(api.GET('/mcp_servers/{id}/deployments', { params: { path: { id: flows.id } } }))
    ).data;
    // Withdrawn, the server may go; the deployment brought back runs its stored plan without the headers' secrets.
    await unwrap(
      api.POST('/mcp_servers/{id}/deployments/{deploymentId}/withdraw', {
        params: { path: { id: flows.id, deploymentId: deployment!.id } },
      }),
    );
    expect(
      (await api.DELETE('/external_mcp_servers/{id}', { params: { path: { id: extra.id } } })).response.status,
    ).toBe(204);
    await unwrap(
      api.POST('/mcp_servers/{id}/deployments/{deploymentId}/redeploy', {
        params: { path: { id: flows.id, deploymentId: deployment!.id } },
      }),
    );
    const before = orders.requests.length;
    const r = await waitFor('the redeployed workflow tool', async () => {
      const result = await call(flows.url, undefined, 'order_b');
      return result.text.includes('Unknown tool') ? undefined : result;
    });
    expect(r.isError).toBe(true);
    expect(r.text).toContain('has no value for its header "authorization"');
    expect(r.text).toContain('nothing was sent');
    expect(orders.requests.length).toBe(before);
  });
});

describe('a step is decided for the caller as a call of its tool would be (ADR 0045)', () => {
  it('a grant under a condition is evaluated on the step’s arguments; a tool not granted is refused; nothing sent', async () => {
    // The notes connector again, on an instance of its own (a rate-limit budget of its own).
    const [notes] = (await unwrap(api.GET('/connector_instances'))).data.filter((i) => i.name === 'notes');
    const instance = await unwrap(
      api.POST('/connector_instances', {
        body: {
          createServer: false,
          connector_id: notes!.connector_id,
          name: 'notes-two',
          credentials: { api_key: NOTES_KEY },
        },
      }),
    );
    const notesServer = await unwrap(
      api.POST('/mcp_manager', { body: { name: 'notes-two', mode: 'NORMAL', connectorInstanceId: instance.id } }),
    );
    const flows = await unwrap(api.POST('/mcp_manager', { body: { name: 'policy-flows', mode: 'NORMAL' } }));
    await deploy(
      flows.id,
      `
flower: "0.1"
id: note_by_id
flows:
  - id: note_by_id
    inputs: { type: object, properties: { id: { type: string } }, required: [id] }
    steps:
      - id: only
        request: { method: POST, url: "toolplane:mcp_servers/notes-two/tools/get_note", body: { id: $inputs.id } }
        outputs: { text: $response.body.text }
    outputs: { text: $steps.only.outputs.text }
`,
    );
    const newKey = (name: string) => unwrap(api.POST('/api_keys', { body: { name, scopes: ['runtime'] } }));
    const [granted, other] = [await newKey('steps-conditional'), await newKey('steps-none')];
    // Both may call the workflow tool; only the first is granted get_note on notes, and only for ids "ok…".
    await unwrap(
      api.POST('/access_policies', {
        body: {
          name: 'flows-for-both',
          principals: [granted.id, other.id].map((value) => ({ type: 'api_key' as const, value })),
          servers: [flows.id],
          tools: ['*'],
        },
      }),
    );
    const policy = await unwrap(
      api.POST('/access_policies', {
        body: {
          name: 'ok-notes-only',
          principals: [{ type: 'api_key' as const, value: granted.id }],
          servers: [notesServer.id],
          tools: ['get_note'],
          condition: 'args.id.startsWith("ok")',
        },
      }),
    );
    const callAs = async (key: string, id: string) => {
      const client = await mcpClientAs(flows.url, key, undefined);
      try {
        const r = await client.callTool({ name: 'note_by_id', arguments: { id } });
        return { isError: r.isError === true, text: (r.content as { text: string }[])[0]?.text ?? '' };
      } finally {
        await client.close();
      }
    };
    const ok = await waitFor('the policies at the edge', async () => {
      const r = await callAs(granted.key, 'ok1').catch(() => undefined);
      return r && !r.isError ? r : undefined;
    });
    expect(ok.isError).toBe(false);
    const seen = notesCalls.length;
    const over = await callAs(granted.key, 'no1');
    expect(over.isError).toBe(true);
    expect(over.text).toContain(`access policy "ok-notes-only" (${policy.id})`);
    expect(over.text).toContain('Nothing of this step was sent');
    const none = await callAs(other.key, 'ok2');
    expect(none.isError).toBe(true);
    expect(none.text).toContain(`no access policy grants API key ${other.id} access to MCP server ${notesServer.id}`);
    expect(notesCalls.length).toBe(seen);
  });
});

describe("a step asks its tool's quotas and guardrails on arguments, as a direct call of it (ADR 0048, 0050)", () => {
  it('a quota exhausted by direct calls refuses the step; steps are charged in the same counter; nothing sent', async () => {
    const { notesServer, flows } = await meteredNotes('metered');
    const quota = (name: string, limit: number) =>
      unwrap(
        api.POST('/quotas', {
          body: {
            name,
            match: { servers: [notesServer.id], tools: ['get_note'] },
            counts: 'calls',
            limit,
            window: 'day',
          },
        }),
      );
    const direct = (id: string) => call(notesServer.url, undefined, 'get_note', { id });
    const step = (id: string) => call(flows.url, undefined, 'note_by_id', { id });
    await inOneWindow('day', 120);
    const first = await quota('notes-3-a-day', 3);
    // Direct calls until the quota refuses one (it reached the edge, then three were counted).
    await waitFor('a direct call refused', async () => ((await direct('d')).isError ? true : undefined));
    let seen = notesCalls.length;
    const refused = await step('m1');
    expect(refused.isError).toBe(true);
    expect(refused.text).toContain(
      'quota "notes-3-a-day" (3 calls per day) has no room for the step\'s tool "get_note"',
    );
    expect(refused.text).toContain('Nothing of this step was sent');
    expect(notesCalls.length).toBe(seen);
    // A quota of 2 instead: two workflow calls run, the third is refused, and so is a direct call (one counter).
    // (Made before the first is deleted: while both apply, the exhausted one refuses, charging neither.)
    await quota('notes-2-a-day', 2);
    await unwrap(api.DELETE('/quotas/{id}', { params: { path: { id: first.id } } }));
    await waitFor('a step under the new quota', async () => ((await step('m2')).isError ? undefined : true));
    expect((await step('m3')).isError).toBe(false);
    seen = notesCalls.length;
    const third = await step('m4');
    expect(third.text).toContain('quota "notes-2-a-day" (2 calls per day)');
    expect((await direct('d2')).isError).toBe(true);
    expect(notesCalls.length).toBe(seen);
  }, 60_000);

  // A block refuses the step, nothing sent: tests/e2e/governance/stage-paths.test.ts.
  it('a guardrail on arguments: a redaction sends the step redacted', async () => {
    const { notesServer, flows } = await meteredNotes('carded');
    const card = '4111111111111111';
    const guardrail = {
      serverId: notesServer.id,
      name: 'no-cards-redact',
      tools: ['get_note'],
      on: ['arguments'],
      detectors: [{ kind: 'pii', types: ['card'] }],
      action: 'redact',
      enforce: true,
    };
    await unwrap(api.POST('/guardrails', { body: guardrail as never }));
    const redacted = await waitFor('the redacting guardrail in the catalog', async () => {
      const before = notesCalls.length;
      const r = await call(flows.url, undefined, 'note_by_id', { id: card });
      const sent = notesCalls.slice(before).map((c) => decodeURIComponent(c.path));
      return sent.some((p) => p.includes('[redacted:pii:card]')) ? { r, sent } : undefined;
    });
    expect(redacted.r.isError).toBe(false);
    expect(redacted.sent.join(' ')).not.toContain(card);
  }, 60_000);
});

/**
 * A notes server of its own (`<name>-notes`: the notes connector without its rate limit, the shared notes key) and a
 * server whose workflow calls its get_note.
 */
async function meteredNotes(name: string) {
  const descriptor = notesDescriptor()
    .replace('name: Notes, slug: notes', `name: Notes ${name}, slug: ${name}-notes`)
    .replace(/rate_limits: .*\n/, '');
  const connector = await unwrap(api.POST('/connectors', yamlBody(descriptor)));
  const instance = await unwrap(
    api.POST('/connector_instances', {
      body: {
        createServer: false,
        connector_id: connector.id,
        name: `${name}-notes`,
        credentials: { api_key: NOTES_KEY },
      },
    }),
  );
  const notesServer = await unwrap(
    api.POST('/mcp_manager', { body: { name: `${name}-notes`, mode: 'NORMAL', connectorInstanceId: instance.id } }),
  );
  const flows = await unwrap(api.POST('/mcp_manager', { body: { name: `${name}-flows`, mode: 'NORMAL' } }));
  await deploy(
    flows.id,
    `
flower: "0.1"
id: note_by_id
flows:
  - id: note_by_id
    inputs: { type: object, properties: { id: { type: string } }, required: [id] }
    steps:
      - id: only
        request: { method: POST, url: "toolplane:mcp_servers/${name}-notes/tools/get_note", body: { id: $inputs.id } }
        outputs: { text: $response.body.text }
    outputs: { text: $steps.only.outputs.text }
`,
  );
  return { notesServer, flows };
}
