import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Stack } from '@toolplane/cli';
import { type components, createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { startTestStack } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

/**
 * Arazzo source descriptions named by URL and by connector (docs/workflows.md, "Source descriptions"),
 * on the real stack. The documents are served on 127.0.0.1 over plain http: the test stack's worker
 * allows 127.0.0.1 (`OUTBOUND_ALLOW`, its documented loopback exception), the only case where a
 * document is fetched without https. The upstream the steps call is the same local server.
 */

let stack: Stack;
let client: ManagementClient;
let local: Server;
let base: string;
/** The pets document served at /docs/pets.yaml: v1 first, then v2 (another server path). */
let petsVersion = 1;
const docFetches: string[] = [];
const calls: { path: string; headers: Record<string, string | string[] | undefined> }[] = [];

const petsDocument = () => `
openapi: 3.0.3
info: { title: Pets, version: "${petsVersion}" }
servers: [{ url: "${base}/v${petsVersion}" }]
paths:
  /pets/{id}:
    get:
      operationId: getPet
      parameters: [{ name: id, in: path, required: true, schema: { type: string } }]
      responses: { "200": { description: the pet } }
`;

const vaultDocument = () => `
openapi: 3.0.3
info: { title: Pet Vault, version: "1.0.0" }
servers: [{ url: "${base}/vault" }]
components:
  securitySchemes:
    vault_key: { type: apiKey, in: header, name: X-Vault-Key }
security: [{ vault_key: [] }]
paths:
  /pets/{id}:
    get:
      operationId: vaultPet
      parameters: [{ name: id, in: path, required: true, schema: { type: string } }]
      responses: { "200": { description: the pet, with the key it was asked with } }
`;

const workflow = (url: string, operationId = 'getPet') => `
arazzo: 1.0.1
info: { title: Pet lookup, version: 1.0.0 }
sourceDescriptions:
  - { name: pets, url: "${url}", type: openapi }
workflows:
  - workflowId: find_pet
    summary: Find a pet by id
    inputs: { type: object, properties: { id: { type: string } }, required: [id] }
    steps:
      - stepId: fetch
        operationId: ${operationId}
        parameters: [{ name: id, in: path, value: $inputs.id }]
        successCriteria: [{ condition: $statusCode == 200 }]
        outputs: { name: $response.body#/name, path: $response.body#/path, key: $response.body#/key }
    outputs: { name: $steps.fetch.outputs.name, path: $steps.fetch.outputs.path, key: $steps.fetch.outputs.key }
`;

type Server_ = components['schemas']['McpServer'];
type Deployed = components['schemas']['DeployedWorkflow'];

/** Deploys (201 expected: a dry run is not asked for). */
async function deploy(serverId: string, definition: string): Promise<Deployed> {
  return (await unwrap(
    client.POST('/mcp_servers/{id}/deploy', { params: { path: { id: serverId } }, body: { definition } }),
  )) as Deployed;
}

async function newServer(name: string): Promise<Server_> {
  return unwrap(
    client.POST('/mcp_manager', { body: { name, mode: 'NORMAL' } as components['schemas']['CreateServerBody'] }),
  );
}

async function callFindPet(server: Server_, id: string) {
  const mcp = new Client({ name: 'workflow-sources-e2e', version: '1.0.0' });
  await mcp.connect(
    new StreamableHTTPClientTransport(new URL(server.url), {
      requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
    }),
  );
  try {
    return await mcp.callTool({ name: 'find_pet', arguments: { id } });
  } finally {
    await mcp.close();
  }
}

beforeAll(async () => {
  local = createServer((req, res) => {
    const path = req.url ?? '';
    if (path === '/docs/pets.yaml') {
      docFetches.push(path);
      return void res.writeHead(200, { 'content-type': 'application/yaml' }).end(petsDocument());
    }
    if (path === '/docs/moved.yaml') return void res.writeHead(302, { location: '/docs/pets.yaml' }).end();
    if (path === '/docs/to-private') return void res.writeHead(302, { location: 'https://10.0.0.1/x.yaml' }).end();
    calls.push({ path, headers: req.headers });
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ name: `pet ${path.split('/').at(-1)}`, path, key: req.headers['x-vault-key'] ?? null }));
  });
  await new Promise<void>((r) => local.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(local.address() as AddressInfo).port}`;
  ({ stack } = await startTestStack('wf-sources'));
  client = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await new Promise<void>((r) => local.close(() => r()));
});

describe('a source description named by URL', () => {
  it('is fetched once at deploy time through the worker, stored with the deployment, and its operations run', async () => {
    const server = await newServer('pets-by-url');
    const url = `${base}/docs/pets.yaml`;
    const before = docFetches.length;
    const deployed = await deploy(server.id, workflow(url));
    expect(deployed.tools).toEqual(['find_pet']);
    expect(docFetches.length).toBe(before + 1);
    expect(deployed.sources).toEqual([
      expect.objectContaining({
        location: url,
        origin: 'url',
        source: 'pets',
        sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      }),
    ]);
    const result = await callFindPet(server, '7');
    expect(result.structuredContent).toMatchObject({ name: 'pet 7', path: '/v1/pets/7' });

    // Listed and read back with where the document came from.
    const one = await unwrap(
      client.GET('/mcp_servers/{id}/deployments/{deploymentId}', {
        params: { path: { id: server.id, deploymentId: deployed.id } },
      }),
    );
    expect(one.sources).toEqual(deployed.sources);
    expect(one.sources[0]!.fetchedAt).toEqual(expect.any(String));
  });

  it('makes a redeploy reproducible: a changed document is a new deployment, the old one redeploys from what it stored', async () => {
    petsVersion = 1;
    const server = await newServer('pets-redeploy');
    const path = { id: server.id };
    const definition = workflow(`${base}/docs/pets.yaml`);
    const first = await deploy(server.id, definition);
    // The same definition and the same document: nothing new (the document is fetched to know).
    const same = await client.POST('/mcp_servers/{id}/deploy', { params: { path }, body: { definition } });
    expect(same.response.status).toBe(204);

    petsVersion = 2;
    const second = await deploy(server.id, definition);
    expect(second.sources[0]!.sha256).not.toBe(first.sources[0]!.sha256);
    expect((await callFindPet(server, '8')).structuredContent).toMatchObject({ path: '/v2/pets/8' });

    const fetchesBefore = docFetches.length;
    const again = await unwrap(
      client.POST('/mcp_servers/{id}/deployments/{deploymentId}/redeploy', {
        params: { path: { id: server.id, deploymentId: first.id } },
      }),
    );
    expect(again.id).not.toBe(first.id);
    expect(again.sources).toEqual(first.sources);
    expect(docFetches.length).toBe(fetchesBefore);
    expect((await callFindPet(server, '9')).structuredContent).toMatchObject({ path: '/v1/pets/9' });
    // Redeploying what is active already changes nothing.
    const noop = await client.POST('/mcp_servers/{id}/deployments/{deploymentId}/redeploy', {
      params: { path: { id: server.id, deploymentId: again.id } },
    });
    expect(noop.response.status).toBe(204);
    petsVersion = 1;
  });

  it('follows a redirect and validates with dry_run=true without storing anything', async () => {
    const server = await newServer('pets-dry-run');
    const checked = await client.POST('/mcp_servers/{id}/deploy', {
      params: { path: { id: server.id }, query: { dry_run: 'true' } },
      body: { definition: workflow(`${base}/docs/moved.yaml`) },
    });
    expect(checked.response.status).toBe(200);
    expect(checked.data?.sources).toEqual([
      expect.objectContaining({ origin: 'url', finalUrl: `${base}/docs/pets.yaml` }),
    ]);
    const listed = await unwrap(client.GET('/mcp_servers/{id}/deployments', { params: { path: { id: server.id } } }));
    expect(listed.data).toEqual([]);
  });

  it('refuses private and metadata addresses, redirects to them and plain http elsewhere, with the reason', async () => {
    const server = await newServer('pets-refused');
    const cases: [string, string][] = [
      ['https://10.0.0.1/openapi.yaml', 'refused: 10.0.0.1 is a private address'],
      ['https://169.254.169.254/latest/openapi.yaml', 'refused: 169.254.169.254 is a cloud metadata address'],
      [`${base}/docs/to-private`, 'refused: 10.0.0.1 is a private address'],
      ['http://api.example.com/openapi.yaml', 'is plain http; documents are fetched over https only'],
    ];
    for (const [url, reason] of cases) {
      const res = await client.POST('/mcp_servers/{id}/deploy', {
        params: { path: { id: server.id } },
        body: { definition: workflow(url) },
      });
      expect(res.response.status).toBe(422);
      expect(res.error).toMatchObject({
        message: 'Invalid definition file: a source description could not be resolved',
        errors: [{ path: '/sourceDescriptions/0/url', message: expect.stringContaining(reason) }],
      });
      expect((res.error as { errors: { message: string }[] }).errors[0]!.message).toContain(
        `${url} could not be fetched`,
      );
    }
    // The errored deployments are kept with their reasons; nothing was activated.
    const listed = await unwrap(client.GET('/mcp_servers/{id}/deployments', { params: { path: { id: server.id } } }));
    expect(listed.data.map((d) => d.state)).toEqual(['errored', 'errored', 'errored', 'errored']);
  });
});

describe('a source description naming a connector', () => {
  let connectorId: string;

  beforeAll(async () => {
    const connector = await unwrap(
      client.POST('/connectors', {
        body: vaultDocument() as unknown as components['schemas']['ConnectorSource'],
        bodySerializer: (body) => body as unknown as string,
        headers: { 'content-type': 'application/yaml' },
      }),
    );
    connectorId = connector.id;
  });

  it('reuses the connector’s operations and its instance’s credentials, which never reach the result', async () => {
    const server = await newServer('pets-by-connector');
    const missing = await client.POST('/mcp_servers/{id}/deploy', {
      params: { path: { id: server.id } },
      body: { definition: workflow('toolplane:connectors/pet-vault', 'vaultPet') },
    });
    expect(missing.response.status).toBe(422);
    expect(missing.error).toMatchObject({
      errors: [
        {
          path: '/sourceDescriptions/0/url',
          message: expect.stringContaining('connector "pet-vault" has no instance'),
        },
      ],
    });

    await unwrap(
      client.POST('/connector_instances', {
        body: {
          connector_id: connectorId,
          name: 'eu',
          base_url: `${base}/vault-eu`,
          credentials: { vault_key: 'vk-secret-4242' },
          createServer: false,
        },
      }),
    );
    const deployed = await deploy(server.id, workflow('toolplane:connectors/pet-vault', 'vaultPet'));
    expect(deployed.sources).toEqual([
      expect.objectContaining({
        location: 'toolplane:connectors/pet-vault',
        origin: 'connector',
        source: 'pets',
        connector: expect.objectContaining({ slug: 'pet-vault', instanceName: 'eu' }),
      }),
    ]);
    const result = await callFindPet(server, '3');
    expect(result.isError).toBeFalsy();
    // The instance's base URL, and its credential in the header the security scheme names.
    expect(calls.at(-1)).toMatchObject({ path: '/vault-eu/pets/3', headers: { 'x-vault-key': 'vk-secret-4242' } });
    expect(result.structuredContent).toMatchObject({ name: 'pet 3', key: '[redacted]' });
    expect(JSON.stringify(result)).not.toContain('vk-secret-4242');
  });

  it('asks to name the instance when there are several, and accepts it by name', async () => {
    await unwrap(
      client.POST('/connector_instances', {
        body: { connector_id: connectorId, name: 'us', credentials: { vault_key: 'vk-us-1' }, createServer: false },
      }),
    );
    const server = await newServer('pets-two-instances');
    const ambiguous = await client.POST('/mcp_servers/{id}/deploy', {
      params: { path: { id: server.id } },
      body: { definition: workflow('toolplane:connectors/pet-vault', 'vaultPet') },
    });
    expect(ambiguous.response.status).toBe(422);
    expect(JSON.stringify(ambiguous.error)).toContain('toolplane:connectors/pet-vault/instances/<name or id>');
    await deploy(server.id, workflow('toolplane:connectors/pet-vault/instances/us', 'vaultPet'));
    await callFindPet(server, '4');
    // No base URL on this instance: the document's server.
    expect(calls.at(-1)).toMatchObject({ path: '/vault/pets/4', headers: { 'x-vault-key': 'vk-us-1' } });

    const unknown = await client.POST('/mcp_servers/{id}/deploy', {
      params: { path: { id: server.id } },
      body: { definition: workflow('toolplane:connectors/no-such-api', 'vaultPet') },
    });
    expect(JSON.stringify(unknown.error)).toContain('no connector \\"no-such-api\\" in this workspace');
  });

  it('refuses a servers override for the instance’s source: its credential never reaches another URL', async () => {
    // Another listener, on another port: where a deployer would like the instance's key to go.
    const received: { path: string; key: unknown }[] = [];
    const elsewhere = createServer((req, res) => {
      received.push({ path: req.url ?? '', key: req.headers['x-vault-key'] });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ name: 'caught', path: req.url }));
    });
    await new Promise<void>((r) => elsewhere.listen(0, '127.0.0.1', r));
    try {
      const server = await newServer('pets-redirected');
      const res = await client.POST('/mcp_servers/{id}/deploy', {
        params: { path: { id: server.id } },
        body: {
          definition: workflow('toolplane:connectors/pet-vault/instances/eu', 'vaultPet'),
          servers: { pets: `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}` },
        },
      });
      // Whatever the deployment answered, a call of the tool (there is none after a refusal) sends nothing there.
      await callFindPet(server, '5').catch(() => undefined);
      expect(received).toEqual([]);
      expect(res.response.status).toBe(422);
      expect(res.error).toMatchObject({
        errors: [
          {
            path: '/servers/pets',
            message: expect.stringContaining(
              `source "pets" uses the credentials of connector instance "eu", which are only sent to its base URL (${base}/vault-eu)`,
            ),
          },
        ],
      });
      const listed = await unwrap(client.GET('/mcp_servers/{id}/deployments', { params: { path: { id: server.id } } }));
      expect(listed.data.map((d) => d.state)).toEqual(['errored']);
    } finally {
      await new Promise<void>((r) => elsewhere.close(() => r()));
    }
  });
});

/**
 * A connector's `rate_limits` (calls per window, per caller or for the whole instance) bound every upstream call of its
 * instance's operations, a workflow step's as a plain tool call's: one budget, one key function, and a step past it is limited as a plain call
 * is (the same answer; nothing sent; recorded `rate_limited`).
 */
describe('a connector’s rate_limits on workflow steps calling its instance’s operations', () => {
  const LIMIT = 3;
  const meterDocument = () => `
openapi: 3.0.3
info: { title: Pet Meter, version: "1.0.0" }
servers: [{ url: "${base}/meter" }]
paths:
  /pets/{id}:
    get:
      operationId: getPet
      parameters: [{ name: id, in: path, required: true, schema: { type: string } }]
      responses: { "200": { description: the pet } }
`;
  /** N + 1 steps, each one call of the instance's operation. */
  const fourPets = (instance: string) => `
arazzo: 1.0.1
info: { title: Four pets, version: 1.0.0 }
sourceDescriptions:
  - { name: meter, url: "toolplane:connectors/pet-meter/instances/${instance}", type: openapi }
workflows:
  - workflowId: four_pets
    summary: Four lookups of the metered API
    inputs: { type: object, properties: {} }
    steps:
${['a', 'b', 'c', 'd']
  .map(
    (id) => `      - stepId: ${id}
        operationId: getPet
        parameters: [{ name: id, in: path, value: ${id} }]
        successCriteria: [{ condition: $statusCode == 200 }]`,
  )
  .join('\n')}
`;
  const limitedText = /^Rate limit reached for this API \(3 calls per 60 s\)\. Retry after \d+ s\.$/;
  let connectorId: string;

  async function call(url: string, name: string, args: Record<string, unknown> = {}) {
    const mcp = new Client({ name: 'workflow-rate-limits-e2e', version: '1.0.0' });
    await mcp.connect(
      new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
      }),
    );
    try {
      return await mcp.callTool({ name, arguments: args });
    } finally {
      await mcp.close();
    }
  }

  /** An instance (its own budget) with its server (the plain tool `get_pet`), and a server running `four_pets` on it. */
  async function meteredInstance(name: string) {
    const instance = await unwrap(
      client.POST('/connector_instances', {
        body: { connector_id: connectorId, name, base_url: `${base}/meter-${name}` },
      }),
    );
    const plain = await unwrap(client.GET('/mcp_manager/{id}', { params: { path: { id: instance.mcp_server_id! } } }));
    expect(plain.tools).toEqual(['get_pet']);
    const workflowServer = await newServer(`meter-workflow-${name}`);
    await deploy(workflowServer.id, fourPets(name));
    const sent = () => calls.filter((c) => c.path.startsWith(`/meter-${name}/`)).map((c) => c.path);
    return { plainUrl: plain.url, workflowServer, sent };
  }

  beforeAll(async () => {
    const connector = await unwrap(
      client.POST('/connectors', {
        body: {
          kind: 'openapi',
          slug: 'pet-meter',
          document: meterDocument(),
          rate_limits: [{ scope: 'per_account', limit: LIMIT, interval_seconds: 60 }],
          mcp_config: {
            server_name: 'pet_meter',
            route_mappings: [{ operation_id: 'getPet', mcp_tool_name: 'get_pet', mcp_tool_description: 'Get a pet' }],
          },
        } as unknown as components['schemas']['ConnectorSource'],
      }),
    );
    connectorId = connector.id;
  });

  it('limits the (N+1)th step in the window as a plain call, and the plain calls after it share the budget', async () => {
    const a = await meteredInstance('a');
    const run = await call(a.workflowServer.url, 'four_pets');
    expect(run.isError).toBe(true);
    expect((run.content as { text: string }[])[0]!.text).toMatch(limitedText);
    // Three steps reached the upstream; the fourth was never sent.
    expect(a.sent()).toEqual(['/meter-a/pets/a', '/meter-a/pets/b', '/meter-a/pets/c']);
    // The budget is the instance's: a plain call of the same operation is limited too, with the same answer.
    const plain = await call(a.plainUrl, 'get_pet', { id: 'e' });
    expect(plain.isError).toBe(true);
    expect((plain.content as { text: string }[])[0]!.text).toMatch(limitedText);
    expect(a.sent()).toHaveLength(LIMIT);
    // Recorded as a plain call past the limit is, with the steps that ran.
    const record = await waitFor('the workflow call’s record', async () => {
      const { data } = await unwrap(
        client.GET('/execution_records', {
          params: { query: { server_id: a.workflowServer.id, tool: 'four_pets', limit: 10 } },
        }),
      );
      return data[0];
    });
    expect(record).toMatchObject({ outcome: 'rejected', error_code: 'rate_limited' });
    const detail = await unwrap(client.GET('/execution_records/{id}', { params: { path: { id: record.id } } }));
    expect((detail.steps as { name: string }[]).map((s) => s.name)).toEqual([
      'four_pets/a',
      'four_pets/b',
      'four_pets/c',
    ]);
  });

  it('counts plain calls made before a run: their units are gone for its steps', async () => {
    const b = await meteredInstance('b');
    const plain = await call(b.plainUrl, 'get_pet', { id: 'p' });
    expect(plain.isError).toBeFalsy();
    const run = await call(b.workflowServer.url, 'four_pets');
    expect((run.content as { text: string }[])[0]!.text).toMatch(limitedText);
    expect(b.sent()).toEqual(['/meter-b/pets/p', '/meter-b/pets/a', '/meter-b/pets/b']);
  });
});
