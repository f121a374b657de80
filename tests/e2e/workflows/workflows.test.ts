import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, SSEClientTransport, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Stack } from '@toolplane/cli';
import { ApiError, type components, createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { startTestStack } from '../../helpers/stack.ts';
import { scaled, waitFor } from '../../helpers/wait.ts';

/**
 * Flower documents deployed through the Bump-compatible API and run by the real stack (edge →
 * queue → worker → @toolplane/workflow → mock upstreams on 127.0.0.1). The examples' hosts are
 * rewritten to the mock (`https://bump.sh/x` → `http://127.0.0.1:<port>/bump.sh/x`).
 */

const fixtures = new URL('../../fixtures/workflows/flower/', import.meta.url);
const example = (name: string) => readFileSync(new URL(name, fixtures), 'utf8');

interface Seen {
  method: string;
  host: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

let mock: Server;
let mockUrl: string;
const seen: Seen[] = [];
const diffPolls = new Map<string, number>();
let diffs = 0;

function reply(req: Seen): { status: number; body: unknown; headers?: Record<string, string> } {
  switch (req.host) {
    case 'bump.sh': {
      if (req.method === 'POST') return { status: 201, body: { id: `d-${++diffs}` } };
      const id = req.path.split('/').at(-1)!;
      const polls = (diffPolls.get(id) ?? 0) + 1;
      diffPolls.set(id, polls);
      return polls === 1
        ? { status: 202, body: { id } }
        : { status: 200, body: { id, markdown: `## Changes in ${id}`, breaking: false } };
    }
    case 'data.angers.fr':
      return { status: 200, body: { total_count: 1, results: [{ nom: req.query.refine, disponible: 142 }] } };
    case 'nominatim.openstreetmap.org':
      return { status: 200, body: [{ lat: '47.4739', lon: '-0.5517', display_name: req.query.q }] };
    case 'api.open-meteo.com':
      return {
        status: 200,
        body: {
          current: { temperature_2m: 12.3, rain: 0.2, snowfall: 0 },
          current_units: { temperature_2m: '°C' },
          daily: {
            temperature_2m_min: [4.1, 5],
            temperature_2m_max: [13, 14.2],
            rain_sum: [0, 1.5],
            snowfall_sum: [0, 0],
          },
        },
      };
    case 'api.private.test':
      return req.headers.authorization === 'Bearer sk-wf-9f8e7d6c5b'
        ? { status: 200, body: { me: 'ann', echoed: req.headers.authorization } }
        : { status: 401, body: { error: 'bad key' } };
    case 'api.tenant.test':
      return { status: 200, body: { ok: true } };
    case 'oauth.example': {
      // The Arazzo oauth example's token endpoint (form-encoded client credentials).
      const form = new URLSearchParams(req.body);
      if (req.method === 'POST' && req.path === '/oauth/token' && form.get('grant_type') === 'client_credentials') {
        return form.get('client_id') === 'agent-1' && form.get('client_secret') === 'cs-1'
          ? { status: 200, body: { access_token: 'at-agent-1', token_type: 'Bearer', expires_in: 3600 } }
          : { status: 200, body: { error: 'invalid_client' } }; // 200 without a token: only the jsonpath criterion catches it
      }
      return { status: 404, body: { error: 'no such path' } };
    }
    default:
      return { status: 404, body: { error: 'no such host' } };
  }
}

/** Points every `https://<host>` of a document at the mock. */
function toMock(doc: string): string {
  return doc.replace(/https:\/\/([a-z0-9.-]+\.[a-z]+)/g, (_m, host: string) => `${mockUrl}/${host}`);
}

let stack: Stack;
let api: ManagementClient;

async function createServer_(name: string): Promise<{ id: string; name: string; url: string }> {
  return unwrap(api.POST('/mcp_manager', { body: { name, mode: 'NORMAL' } }));
}

async function deploy(serverId: string, definition: string): Promise<components['schemas']['DeployedWorkflow']> {
  // Without `dry_run` the answer is the deployment (201), not the validation a dry run answers (200).
  return (await unwrap(
    api.POST('/mcp_servers/{id}/deploy', { params: { path: { id: serverId } }, body: { definition } }),
  )) as components['schemas']['DeployedWorkflow'];
}

async function connect(url: string, extraHeaders: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'workflows-e2e', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { 'x-api-key': stack.bootstrapKey, ...extraHeaders } },
    }),
  );
  return client;
}

/** A legacy HTTP+SSE client (GET stream + POSTed messages), sending `extraHeaders` on both. */
async function connectSse(
  serverId: string,
  extraHeaders: Record<string, string> = {},
  setup?: (client: Client) => void,
): Promise<Client> {
  const headers = { 'x-api-key': stack.bootstrapKey, ...extraHeaders };
  const client = new Client({ name: 'workflows-e2e-sse', version: '1.0.0' });
  setup?.(client);
  const withHeaders = (u: string | URL | Request, init?: RequestInit) => {
    const h = new Headers(init?.headers);
    for (const [k, v] of Object.entries(headers)) h.set(k, v);
    return fetch(u, { ...init, headers: h });
  };
  await client.connect(
    new SSEClientTransport(new URL(`${stack.edgeUrl}/api/v1/mcp/${serverId}`), {
      requestInit: { headers },
      eventSourceInit: { fetch: withHeaders },
    }),
  );
  return client;
}

/** The newest execution record of a server's tool, with its detail (steps, tree, debug: open in the schema, `T` here). */
async function latestRecord<T>(serverId: string, tool: string, count = 1): Promise<T[]> {
  const page = await waitFor(`${count} records of ${tool}`, async () => {
    const { data } = await unwrap(
      api.GET('/execution_records', { params: { query: { server_id: serverId, tool, limit: 200 } } }),
    );
    if (data.length < count) throw new Error(`${data.length} so far`);
    return data;
  });
  return Promise.all(
    page.map(async (r) => (await unwrap(api.GET('/execution_records/{id}', { params: { path: { id: r.id } } }))) as T),
  );
}

async function deployError(
  serverId: string,
  definition: string,
): Promise<{ status: number; body: { message: string; errors: { path: string; message: string }[] } }> {
  try {
    await deploy(serverId, definition);
  } catch (err) {
    if (err instanceof ApiError)
      return { status: err.status, body: err.body as { message: string; errors: { path: string; message: string }[] } };
    throw err;
  }
  throw new Error('expected the deployment to be refused');
}

beforeAll(async () => {
  mock = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://mock');
      const [, host = '', ...rest] = url.pathname.split('/');
      const s: Seen = {
        method: req.method ?? 'GET',
        host,
        path: `/${rest.join('/')}`,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body,
      };
      seen.push(s);
      const r = reply(s);
      res.writeHead(r.status, { 'content-type': 'application/json', ...r.headers }).end(JSON.stringify(r.body));
    });
  });
  await new Promise<void>((resolve) => mock.listen(0, '127.0.0.1', resolve));
  mockUrl = `http://127.0.0.1:${(mock.address() as AddressInfo).port}`;
  ({ stack, api } = await startTestStack('workflows', { logLevel: 'warn' }));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await new Promise<void>((resolve) => (mock ? mock.close(() => resolve()) : resolve()));
});

describe('every valid Flower example deploys and runs', () => {
  it('bump.yml: one tool "diff"; creates, polls (202 → retry after 2 s), posts the raw body; returns the declared outputs', async () => {
    const server = await createServer_('bump');
    const deployed = await deploy(server.id, toMock(example('bump.yml')));
    expect(deployed).toMatchObject({ mcp_server_id: server.id, tools: ['diff'] });
    const client = await connect(server.url);
    const { tools } = await client.listTools();
    expect(tools.map((t) => [t.name, t.description])).toEqual([['diff', 'Get a diff between 2 API contracts']]);
    expect(tools[0]!.inputSchema).toMatchObject({ type: 'object', required: ['left_url', 'right_url'] });
    expect(tools[0]!.outputSchema).toEqual({
      type: 'object',
      properties: { breaking: {}, result: {} },
      additionalProperties: false,
    });

    const before = seen.length;
    const result = await client.callTool({
      name: 'diff',
      arguments: { left_url: 'https://a.example/v1.yml', right_url: 'https://a.example/v2.yml' },
    });
    await client.close();
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toEqual({ breaking: false, result: '## Changes in d-1' });
    const calls = seen.slice(before);
    expect(calls.map((c) => `${c.method} ${c.host}${c.path}`)).toEqual([
      'POST bump.sh/api/v1/diffs',
      'GET bump.sh/api/v1/diffs/d-1',
      'GET bump.sh/api/v1/diffs/d-1',
      'POST bump.sh/api/v1/diffs',
    ]);
    expect(JSON.parse(calls[0]!.body)).toEqual({
      previous_url: 'https://a.example/v1.yml',
      url: 'https://a.example/v2.yml',
    });
    expect(calls[0]!.headers['x-constant']).toBe('3');
    expect(JSON.parse(calls[3]!.body)).toEqual({
      previous_url: 'https://a.example/v1.yml',
      url: 'https://a.example/v2.yml',
    });
  }, 60_000);

  it('parking.yml: one tool "available_slots" with the enum input; sends the refine filter', async () => {
    const server = await createServer_('parking');
    await deploy(server.id, toMock(example('parking.yml')));
    const client = await connect(server.url);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(['available_slots']);
    expect((tools[0]!.inputSchema.properties as Record<string, { enum: string[] }>).parking!.enum).toContain(
      'Berges De Maine',
    );
    const before = seen.length;
    const result = await client.callTool({ name: 'available_slots', arguments: { parking: 'Berges De Maine' } });
    const refused = await client.callTool({ name: 'available_slots', arguments: { parking: 'Nowhere' } });
    await client.close();
    expect(result.structuredContent).toEqual({ remaining_slots: 142 });
    expect(seen.slice(before).map((c) => [c.host, c.path, c.query])).toEqual([
      [
        'data.angers.fr',
        '/api/explore/v2.1/catalog/datasets/parking-angers/records',
        { limit: '20', refine: 'nom:"Berges De Maine"' },
      ],
    ]);
    // Arguments are checked against the input schema on the edge: nothing reached the upstream.
    expect(refused.isError).toBe(true);
  });

  it('weather.yml: two tools; each geocodes, then queries the forecast with lat/lon', async () => {
    const server = await createServer_('weather');
    await deploy(server.id, toMock(example('weather.yml')));
    const client = await connect(server.url);
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['weather_current', 'weather_forecast']);
    const before = seen.length;
    const current = await client.callTool({ name: 'weather_current', arguments: { city: 'Angers' } });
    const forecast = await client.callTool({ name: 'weather_forecast', arguments: { city: 'Angers' } });
    await client.close();
    expect(current.structuredContent).toEqual({ temperature: '12.3 °C', rain: 0.2, snowfall: 0 });
    expect(forecast.structuredContent).toEqual({
      temperature_min: [4.1, 5],
      temperature_max: [13, 14.2],
      rain: [0, 1.5],
      snowfall: [0, 0],
    });
    const calls = seen.slice(before);
    expect(calls.map((c) => c.host)).toEqual([
      'nominatim.openstreetmap.org',
      'api.open-meteo.com',
      'nominatim.openstreetmap.org',
      'api.open-meteo.com',
    ]);
    expect(calls[1]!.query).toMatchObject({ latitude: '47.4739', longitude: '-0.5517', timezone: 'Europe/Berlin' });
  });

  it('refuses the invalid examples with 422 {message, errors} naming the path', async () => {
    const server = await createServer_('invalid');
    const actions = await deployError(server.id, example('invalid/actions.yml'));
    expect(actions.status).toBe(422);
    expect(actions.body.errors).toEqual([
      { path: '/flows/0/steps/0/actions/0/do', message: 'must be one of "next", "retry", "goto", "end"' },
    ]);
    expect(actions.body.message).toMatch(/Invalid definition file/);
    const request = await deployError(server.id, example('invalid/request.yml'));
    expect(request.body.errors).toEqual([
      { path: '/flows/0/steps/0/request/whatever', message: 'is not an allowed property here' },
    ]);
    const test = await deployError(server.id, example('invalid/test.yml'));
    expect(test.body.errors).toContainEqual({ path: '/id', message: 'is required' });
    const states = await unwrap(api.GET('/mcp_servers/{id}/deployments', { params: { path: { id: server.id } } }));
    expect(states.data.map((d) => d.state)).toEqual(['errored', 'errored', 'errored']);
  });
});

describe('deployments', () => {
  const doc = (id: string, flow: string) =>
    JSON.stringify({
      flower: '0.1',
      id,
      flows: [
        {
          id: flow,
          description: `flow ${flow}`,
          steps: [
            {
              id: 's',
              request: { method: 'GET', url: `${mockUrl}/data.angers.fr/x` },
              outputs: { n: '$response.body.results.0.disponible' },
            },
          ],
          outputs: { n: '$steps.s.outputs.n' },
        },
      ],
    });

  it('supersede the previous one; the same document again is a 204; an invalid one leaves the active one serving', async () => {
    const server = await createServer_('states');
    const first = await deploy(server.id, doc('v1', 'first'));
    const client = await connect(server.url);
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['first']);

    const second = await deploy(server.id, doc('v2', 'second'));
    const res = await fetch(`${stack.controlPlaneUrl}/api/v1/mcp_servers/${server.id}/deploy`, {
      method: 'POST',
      headers: { 'x-api-key': stack.bootstrapKey, 'content-type': 'application/json' },
      body: JSON.stringify({ definition: doc('v2', 'second') }),
    });
    expect(res.status).toBe(204);
    expect((await deployError(server.id, 'flower: "0.1"\nid: broken\nflows: [{ id: x }]')).status).toBe(422);

    const list = await unwrap(api.GET('/mcp_servers/{id}/deployments', { params: { path: { id: server.id } } }));
    expect(list.data.map((d) => [d.state, d.tools])).toEqual([
      ['errored', []],
      ['active', ['second']],
      ['superseded', ['first']],
    ]);
    expect(list.data[1]!.id).toBe(second.id);
    expect(list.data[2]!.id).toBe(first.id);

    // A new client sees the active deployment's tools, and they run.
    const fresh = await connect(server.url);
    expect((await fresh.listTools()).tools.map((t) => t.name)).toEqual(['second']);
    expect((await fresh.callTool({ name: 'second', arguments: {} })).structuredContent).toEqual({ n: 142 });
    await fresh.close();
    await client.close();
  });

  it('validates without deploying with dry_run=true (typed client): the tools it would create, 422 for an invalid one, nothing stored', async () => {
    const server = await createServer_('dry-run');
    const client = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);
    const path = { id: server.name };
    const valid = await client.POST('/mcp_servers/{id}/deploy', {
      params: { path, query: { dry_run: 'true' } },
      body: { definition: doc('v1', 'first') },
    });
    expect(valid.response.status).toBe(200);
    expect(valid.data).toEqual({
      mcp_server_id: server.id,
      state: 'validated',
      format: 'flower',
      tools: ['first'],
      warnings: [],
      sources: [],
    });
    const invalid = await client.POST('/mcp_servers/{id}/deploy', {
      params: { path, query: { dry_run: 'true' } },
      body: { definition: 'flower: "0.1"\nid: broken\nflows: [{ id: x }]' },
    });
    expect(invalid.response.status).toBe(422);
    expect(invalid.error).toMatchObject({
      message: expect.stringMatching(/^Invalid definition file/),
      errors: [expect.anything()],
    });
    // Neither left a deployment, and the server still has no tools.
    const deployments = await client.GET('/mcp_servers/{id}/deployments', { params: { path } });
    expect(deployments.data?.data).toEqual([]);
    const mcp = await connect(server.url);
    expect((await mcp.listTools()).tools).toEqual([]);
    await mcp.close();
  });

  it('answers 404 for an unknown server and 422 for a request without a definition', async () => {
    await expect(deploy('00000000-0000-4000-8000-000000000000', doc('x', 'x'))).rejects.toMatchObject({ status: 404 });
    const server = await createServer_('nodef');
    const res = await fetch(`${stack.controlPlaneUrl}/api/v1/mcp_servers/${server.id}/deploy`, {
      method: 'POST',
      headers: { 'x-api-key': stack.bootstrapKey, 'content-type': 'application/json' },
      body: JSON.stringify({}),
    });
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({
      message: 'Invalid MCP server deployment request',
      errors: [{ path: '/definition' }],
    });
  });
});

describe('Arazzo deployments', () => {
  const arazzo = new URL('../../fixtures/workflows/arazzo/', import.meta.url);
  const official = (name: string) => readFileSync(new URL(name, arazzo), 'utf8');

  it('oauth.arazzo.yaml with its OpenAPI source as a reference and the server overridden: one tool per workflow, runs through the stack', async () => {
    const server = await createServer_('arazzo-oauth');
    const deployed = await unwrap(
      api.POST('/mcp_servers/{id}/deploy', {
        params: { path: { id: server.id } },
        body: {
          definition: official('oauth.arazzo.yaml'),
          references: [{ location: './oauth.openapi.yaml', content: official('oauth.openapi.yaml') }],
          servers: { 'apim-auth': `${mockUrl}/oauth.example` },
        },
      }),
    );
    expect(deployed).toMatchObject({ mcp_server_id: server.id });
    expect([...deployed.tools].sort()).toEqual([
      'authorization-code-flow',
      'client-credentials-flow',
      'refresh-token-flow',
    ]);

    const client = await connect(server.url);
    const tools = (await client.listTools()).tools;
    const cc = tools.find((t) => t.name === 'client-credentials-flow')!;
    expect(cc.description).toBe('This is how you can get an access token using client credentials.');
    expect(cc.inputSchema).toMatchObject({
      type: 'object',
      properties: { client_id: { type: 'string' }, client_secret: { type: 'string' } },
    });
    expect(cc.outputSchema).toMatchObject({ type: 'object', properties: { access_token: expect.any(Object) } });

    const before = seen.length;
    const ok = await client.callTool({
      name: 'client-credentials-flow',
      arguments: { client_id: 'agent-1', client_secret: 'cs-1' },
    });
    expect(ok.isError).toBeFalsy();
    expect(ok.structuredContent).toEqual({ access_token: 'at-agent-1' });
    const sent = seen.slice(before);
    expect(sent.map((c) => `${c.method} ${c.host}${c.path}`)).toEqual(['POST oauth.example/oauth/token']);
    expect(String(sent[0]!.headers['content-type'])).toMatch(/^application\/x-www-form-urlencoded/);
    expect(Object.fromEntries(new URLSearchParams(sent[0]!.body))).toEqual({
      client_id: 'agent-1',
      client_secret: 'cs-1',
      grant_type: 'client_credentials',
    });

    // 200 without an access_token: the jsonpath success criterion fails the step, named in the error.
    const refused = await client.callTool({
      name: 'client-credentials-flow',
      arguments: { client_id: 'agent-1', client_secret: 'wrong' },
    });
    await client.close();
    expect(refused.isError).toBe(true);
    expect(JSON.stringify(refused.content)).toContain(
      'Workflow \\"client-credentials-flow\\" failed at step \\"get-client-creds-token\\" (step_failed)',
    );
  });

  it('refuses an Arazzo document whose source description has no reference, naming its path (422)', async () => {
    const server = await createServer_('arazzo-nosource');
    const refused = await deployError(server.id, official('oauth.arazzo.yaml'));
    expect(refused.status).toBe(422);
    expect(refused.body.errors).toEqual([
      {
        path: '/sourceDescriptions/0/url',
        message: expect.stringMatching(
          /^no document was provided for \.\/oauth\.openapi\.yaml: deploy it with the workflow document as a reference/,
        ),
      },
    ]);
  });
});

describe('secrets and execution records', () => {
  it('resolves $secrets in the worker only; the value is redacted from the result and the record', async () => {
    const server = await createServer_('secretive');
    const secretDoc = JSON.stringify({
      flower: '0.1',
      id: 'secretive',
      flows: [
        {
          id: 'whoami',
          steps: [
            {
              id: 'me',
              request: {
                method: 'GET',
                url: `${mockUrl}/api.private.test/me?key=$secrets.API_KEY`,
                headers: { Authorization: 'Bearer $secrets.API_KEY' },
              },
              outputs: { me: '$response.body.me', echoed: '$response.body.echoed' },
            },
          ],
          outputs: { me: '$steps.me.outputs.me', echoed: '$steps.me.outputs.echoed' },
        },
      ],
    });
    await deploy(server.id, secretDoc);
    const client = await connect(server.url);
    const missing = await client.callTool({ name: 'whoami', arguments: {} });
    expect(missing.isError).toBe(true);
    expect(JSON.stringify(missing.content)).toContain('secret_missing');

    await unwrap(
      api.PUT('/mcp_servers/{id}/secrets/{name}', {
        params: { path: { id: server.id, name: 'API_KEY' } },
        body: { value: 'sk-wf-9f8e7d6c5b' },
      }),
    );
    const before = seen.length;
    const result = await client.callTool({ name: 'whoami', arguments: {} });
    await client.close();
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toEqual({ me: 'ann', echoed: 'Bearer [REDACTED]' });
    expect(seen.slice(before).map((c) => c.headers.authorization)).toEqual(['Bearer sk-wf-9f8e7d6c5b']);

    // The control plane never holds the value: not in the catalog, the deployment, nor the records.
    const config = JSON.stringify(
      await unwrap(api.GET('/mcp_manager/{id}/config', { params: { path: { id: server.id } } })),
    );
    expect(config).not.toContain('sk-wf-9f8e7d6c5b');
    const hit = await waitFor('the record of the whoami call', async () =>
      (await unwrap(api.GET('/execution_records', { params: { query: { limit: 200 } } }))).data.find(
        (r) => r.tool === 'whoami' && r.outcome === 'success',
      ),
    );
    const record = await unwrap(api.GET('/execution_records/{id}', { params: { path: { id: hit.id } } }));
    expect(JSON.stringify(record)).not.toContain('sk-wf-9f8e7d6c5b');
    expect(record.steps).toEqual([
      expect.objectContaining({
        name: 'whoami/me',
        urlTemplate: `${mockUrl}/api.private.test/me?key=$secrets.API_KEY`,
        url: `${mockUrl}/api.private.test/me?key=[REDACTED]`,
        status: 200,
      }),
    ]);
  });
});

describe('per-caller values: Config-* headers', () => {
  const tenantDoc = () =>
    JSON.stringify({
      flower: '0.1',
      id: 'tenants',
      flows: [
        {
          id: 'tenant_info',
          steps: [
            {
              id: 'lookup',
              request: {
                method: 'GET',
                url: `${mockUrl}/api.tenant.test/info?t=$config.tenant`,
                headers: { 'X-Tenant': '$current_user.tenant', 'X-Org': '$config.org_id' },
              },
              outputs: { ok: '$response.body.ok' },
            },
          ],
          outputs: { ok: '$steps.lookup.outputs.ok' },
        },
      ],
    });
  const sent = (from: number) =>
    seen
      .slice(from)
      .filter((c) => c.host === 'api.tenant.test')
      .map((c) => ({ t: c.query.t, tenant: c.headers['x-tenant'], org: c.headers['x-org'] }));
  const config = { 'Config-Tenant': 'acme-7731', 'config-org-id': 'org-55' };

  it('reach $config and $current_user over Streamable HTTP (2025 and 2026-07-28 clients) and the legacy SSE transport; absent headers read as empty; the record keeps no value', async () => {
    const server = await createServer_('tenanted');
    await deploy(server.id, tenantDoc());
    const before = seen.length;

    const withConfig = await connect(server.url, config);
    const a = await withConfig.callTool({ name: 'tenant_info', arguments: {} });
    await withConfig.close();
    const sse = await connectSse(server.id, { 'CONFIG-TENANT': 'acme-7731', 'Config-Org-Id': 'org-55' });
    const b = await sse.callTool({ name: 'tenant_info', arguments: {} });
    await sse.close();
    const modern = new Client(
      { name: 'workflows-e2e-2026', version: '1.0.0' },
      { versionNegotiation: { mode: 'auto' } },
    );
    await modern.connect(
      new StreamableHTTPClientTransport(new URL(server.url), {
        requestInit: { headers: { 'x-api-key': stack.bootstrapKey, ...config } },
      }),
    );
    const m = await modern.callTool({ name: 'tenant_info', arguments: {} });
    await modern.close();
    const plain = await connect(server.url);
    const c = await plain.callTool({ name: 'tenant_info', arguments: {} });
    await plain.close();

    for (const r of [a, b, m, c]) expect(r.structuredContent).toEqual({ ok: true });
    expect(sent(before)).toEqual([
      { t: 'acme-7731', tenant: 'acme-7731', org: 'org-55' },
      { t: 'acme-7731', tenant: 'acme-7731', org: 'org-55' },
      { t: 'acme-7731', tenant: 'acme-7731', org: 'org-55' },
      // Without the headers: empty values, sent empty (the documented rule), never another caller's.
      { t: '', tenant: '', org: '' },
    ]);
    const records = await latestRecord<{ steps: { url: string }[] }>(server.id, 'tenant_info', 4);
    const text = JSON.stringify(records);
    expect(text).not.toContain('acme-7731');
    expect(text).not.toContain('org-55');
    expect(records.map((r) => r.steps[0]!.url).sort()).toEqual([
      `${mockUrl}/api.tenant.test/info?t=`,
      ...Array(3).fill(`${mockUrl}/api.tenant.test/info?t=[REDACTED]`),
    ]);
  }, 60_000);

  it('reach a workflow run by SMART mode execute_tool', async () => {
    const server = await unwrap(api.POST('/mcp_manager', { body: { name: 'tenanted-smart', mode: 'SMART' } }));
    await deploy(server.id, tenantDoc());
    const before = seen.length;
    const client = await connect(server.url, config);
    const r = await client.callTool({ name: 'execute_tool', arguments: { name: 'tenant_info', arguments: {} } });
    await client.close();
    expect(r.isError).toBeFalsy();
    expect(sent(before)).toEqual([{ t: 'acme-7731', tenant: 'acme-7731', org: 'org-55' }]);
  }, 30_000);
});

describe('execution records of workflow calls', () => {
  it('a multi-step call leaves its flow.run → step.run → action.run tree: order, statuses, retries, actions; no secret values', async () => {
    const server = await createServer_('treed');
    await unwrap(
      api.PUT('/mcp_servers/{id}/secrets/{name}', {
        params: { path: { id: server.id, name: 'TREE_KEY' } },
        body: { value: 'sk-wf-9f8e7d6c5b' },
      }),
    );
    await deploy(
      server.id,
      JSON.stringify({
        flower: '0.1',
        id: 'treed',
        flows: [
          {
            id: 'tree_demo',
            steps: [
              {
                id: 'create',
                request: {
                  method: 'POST',
                  url: `${mockUrl}/bump.sh/api/v1/diffs?key=$secrets.TREE_KEY`,
                  body: { n: 1 },
                },
                outputs: { id: '$response.body.id' },
              },
              {
                id: 'poll',
                request: { method: 'GET', url: `${mockUrl}/bump.sh/api/v1/diffs/$steps.create.outputs.id` },
                outputs: { md: '$response.body.markdown' },
                actions: [{ when: '$statusCode == 202', do: 'retry', wait: 1 }, { do: 'next' }],
              },
              {
                id: 'check',
                request: {
                  method: 'GET',
                  url: `${mockUrl}/api.private.test/me`,
                  headers: { Authorization: 'Bearer $secrets.TREE_KEY' },
                },
              },
            ],
            outputs: { md: '$steps.poll.outputs.md' },
          },
        ],
      }),
    );
    const client = await connect(server.url);
    const result = await client.callTool({ name: 'tree_demo', arguments: {} });
    await client.close();
    expect(result.isError).toBeFalsy();

    type Node = {
      kind: string;
      workflowId: string;
      stepId?: string;
      status: string;
      outcome?: string;
      attempts?: number;
      retries?: number;
      action?: string;
      method?: string;
      urlTemplate?: string;
      url?: string;
      httpStatus?: number;
      attempt?: number;
      durationMs: number;
      children: Node[];
    };
    const [record] = await latestRecord<{ tree: Node[]; steps: unknown[]; debug: unknown }>(server.id, 'tree_demo');
    expect(JSON.stringify(record)).not.toContain('sk-wf-9f8e7d6c5b');
    expect(record!.debug).toBeNull();
    const [flow] = record!.tree;
    expect(record!.tree).toHaveLength(1);
    expect(flow).toMatchObject({ kind: 'flow.run', workflowId: 'tree_demo', status: 'ok', outcome: 'completed' });
    expect(flow!.children.map((s) => [s.kind, s.stepId, s.status, s.attempts, s.retries, s.action])).toEqual([
      ['step.run', 'create', 'ok', 1, 0, 'next'],
      ['step.run', 'poll', 'ok', 2, 1, 'next'],
      ['step.run', 'check', 'ok', 1, 0, 'next'],
    ]);
    const [create, poll, check] = flow!.children;
    expect(create!.children).toEqual([
      expect.objectContaining({
        kind: 'action.run',
        method: 'POST',
        urlTemplate: `${mockUrl}/bump.sh/api/v1/diffs?key=$secrets.TREE_KEY`,
        url: `${mockUrl}/bump.sh/api/v1/diffs?key=[REDACTED]`,
        httpStatus: 201,
        attempt: 1,
        children: [],
      }),
    ]);
    expect(poll!.children.map((a) => [a.method, a.httpStatus, a.attempt, a.action])).toEqual([
      ['GET', 202, 1, 'retry'],
      ['GET', 200, 2, 'next'],
    ]);
    // The retry waited about a second between the two attempts.
    expect(poll!.durationMs).toBeGreaterThanOrEqual(900);
    expect(check!.children[0]).toMatchObject({ method: 'GET', httpStatus: 200, url: `${mockUrl}/api.private.test/me` });
    expect(record!.steps).toHaveLength(4);
  }, 60_000);
});

describe('tools/list_changed', () => {
  const docWith = (flows: string[]) =>
    JSON.stringify({
      flower: '0.1',
      id: 'live',
      flows: flows.map((id) => ({
        id,
        steps: [{ id: 's', request: { method: 'GET', url: `${mockUrl}/api.tenant.test/${id}` } }],
      })),
    });

  it('reaches open legacy HTTP+SSE sessions and 2026-07-28 listen streams of the server (only that server) after a deployment and after an update; the next tools/list is the new catalog', async () => {
    const server = await createServer_('live');
    const other = await createServer_('live-other');
    await deploy(server.id, docWith(['first']));
    let changed = 0;
    let otherChanged = 0;
    let bystanderChanged = 0;
    const client = await connectSse(server.id, {}, (c) =>
      c.setNotificationHandler('notifications/tools/list_changed', () => void changed++),
    );
    const bystander = await connectSse(other.id, {}, (c) =>
      c.setNotificationHandler('notifications/tools/list_changed', () => void bystanderChanged++),
    );
    // A 2026-07-28 client with a subscriptions/listen stream, and one on the other server.
    let modernChanged = 0;
    const modern = new Client(
      { name: 'workflows-e2e-listen', version: '1.0.0' },
      { versionNegotiation: { mode: 'auto' } },
    );
    modern.setNotificationHandler('notifications/tools/list_changed', () => void modernChanged++);
    await modern.connect(
      new StreamableHTTPClientTransport(new URL(server.url), {
        requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
      }),
    );
    const subscription = await modern.listen({ toolsListChanged: true });
    expect(subscription.honoredFilter).toEqual({ toolsListChanged: true });
    const modernOther = new Client(
      { name: 'workflows-e2e-listen-other', version: '1.0.0' },
      { versionNegotiation: { mode: 'auto' } },
    );
    modernOther.setNotificationHandler('notifications/tools/list_changed', () => void otherChanged++);
    await modernOther.connect(
      new StreamableHTTPClientTransport(new URL(other.url), {
        requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
      }),
    );
    const otherSubscription = await modernOther.listen({ toolsListChanged: true });
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['first']);
    const notified = async (n: number) => {
      await waitFor(`${n} tools/list_changed on each stream`, () => (changed >= n && modernChanged >= n) || undefined);
      expect([changed, modernChanged]).toEqual([n, n]);
    };

    await deploy(server.id, docWith(['first', 'second']));
    await notified(1);
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['first', 'second']);
    expect((await client.callTool({ name: 'second', arguments: {} })).isError).toBeFalsy();

    expect((await modern.listTools()).tools.map((t) => t.name)).toEqual(['first', 'second']);

    await unwrap(
      api.PATCH('/mcp_manager/{id}', { params: { path: { id: server.id } }, body: { description: 'now described' } }),
    );
    await notified(2);
    // Positive signal for the legacy SSE bystander: an answer on its stream comes after anything the
    // edge wrote to it while handling the changes above.
    await bystander.listTools();
    expect(bystanderChanged).toBe(0);
    await subscription.close();
    await otherSubscription.close();
    await Promise.all([client.close(), bystander.close(), modern.close(), modernOther.close()]);
    expect(otherChanged).toBe(0);
  }, 60_000);

  // Last test of the file: it stops the edge.
  it('a graceful edge stop ends open listen streams instead of waiting on them', async () => {
    const server = await createServer_('live-stop');
    const client = new Client(
      { name: 'workflows-e2e-stop', version: '1.0.0' },
      { versionNegotiation: { mode: 'auto' } },
    );
    await client.connect(
      new StreamableHTTPClientTransport(new URL(server.url), {
        requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
      }),
    );
    const subscription = await client.listen({ toolsListChanged: true });
    const edge = stack.processes.find((p) => p.service === 'edge')!;
    const started = Date.now();
    await stack.stopProcess(edge);
    expect(edge.child.signalCode).not.toBe('SIGKILL'); // it exited by itself, well before the kill (10 s, scaled)
    expect(Date.now() - started).toBeLessThan(scaled(4_000));
    expect(await subscription.closed).toBe('remote');
    await client.close().catch(() => undefined);
  }, 30_000);
});
