import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Stack } from '@toolplane/cli';
import { ApiError, type components, createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { startTestStack, yamlBody } from '../../helpers/stack.ts';

// OpenAPI documents as a connector source, through the real control plane, edge, Redis and
// worker: a bundle of YAML files with relative $refs, a Swagger 2.0 JSON document, mappings,
// serialization styles, body encodings, credentials from security schemes, output schemas, and every
// kind of bad input rejected with all its problems and nothing stored.

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

let stack: Stack;
let api: ManagementClient;
let upstream: Server;
let upstreamUrl: string;
const seen: Seen[] = [];
/** What POST /connectors answers for an OpenAPI document (the schema's answer is either kind of connector). */
type OpenApiConnector = components['schemas']['OpenApiConnector'];
/** The part of a stored OpenAPI connector's descriptor these tests read (the schema leaves it open). */
type StoredOpenApi = { openapi: { operations: { toolName: string }[] } };

const files: Record<string, string> = {
  'openapi.yaml': `
openapi: 3.0.3
info: { title: Pet Store, version: 1.2.0, description: Pets and their owners }
servers: [{ url: 'https://pets.example.com/v1' }]
security: [{ apiKey: [] }]
paths:
  /pets:
    get:
      operationId: listPets
      summary: List pets
      parameters:
        - { name: tags, in: query, style: form, explode: false, schema: { type: array, items: { type: string } } }
        - { name: filter, in: query, style: deepObject, explode: true, schema: { type: object, properties: { kind: { type: string }, age: { type: integer } } } }
        - { name: limit, in: query, schema: { type: integer, nullable: true } }
      responses:
        '200':
          description: the pets
          content: { application/json: { schema: { type: array, items: { $ref: './schemas/pet.yaml#/Pet' } } } }
    post:
      operationId: createPet
      summary: Create a pet
      requestBody:
        required: true
        content: { application/json: { schema: { $ref: './schemas/pet.yaml#/NewPet' } } }
      responses:
        '201': { description: created, content: { application/json: { schema: { $ref: './schemas/pet.yaml#/Pet' } } } }
  /pets/{ids}:
    delete:
      operationId: deletePets
      summary: Delete pets
      parameters: [{ name: ids, in: path, required: true, style: simple, schema: { type: array, items: { type: integer } } }]
      responses: { '204': { description: gone } }
  /pets/{id}/photo:
    post:
      summary: Upload a photo
      parameters: [{ name: id, in: path, required: true, schema: { type: integer } }]
      requestBody:
        content:
          multipart/form-data: { schema: { type: object, properties: { caption: { type: string }, file: { type: string } } } }
      responses: { '200': { description: ok } }
  /owners:
    post:
      operationId: createOwner
      requestBody:
        content:
          application/x-www-form-urlencoded: { schema: { type: object, required: [name], properties: { name: { type: string }, pets: { type: array, items: { type: string } } } } }
      responses: { '200': { description: ok, content: { application/json: { schema: { $ref: '#/components/schemas/Owner' } } } } }
components:
  securitySchemes:
    apiKey: { type: apiKey, in: header, name: X-Pet-Key }
  schemas:
    Owner:
      type: object
      properties: { name: { type: string }, friend: { $ref: '#/components/schemas/Owner' } }
`,
  'schemas/pet.yaml': `
Pet:
  type: object
  required: [id, name]
  properties:
    id: { type: integer }
    name: { type: string }
    tag: { type: string, nullable: true }
    owner: { $ref: '../openapi.yaml#/components/schemas/Owner' }
NewPet:
  allOf:
    - type: object
      required: [name]
      properties: { name: { type: string }, tag: { type: string } }
`,
};

const swagger2 = {
  swagger: '2.0',
  info: { title: 'Weather Service', version: '3' },
  host: 'weather.example.com',
  basePath: '/api',
  schemes: ['https'],
  securityDefinitions: { key: { type: 'apiKey', in: 'query', name: 'appid' } },
  security: [{ key: [] }],
  paths: {
    '/forecast/{city}': {
      get: {
        operationId: 'getForecast',
        summary: 'Forecast for a city',
        parameters: [
          { name: 'city', in: 'path', required: true, type: 'string' },
          { name: 'days', in: 'query', type: 'array', items: { type: 'integer' }, collectionFormat: 'pipes' },
        ],
        responses: {
          '200': {
            description: 'ok',
            schema: {
              type: 'object',
              properties: { city: { type: 'string' }, temps: { type: 'array', items: { type: 'number' } } },
            },
          },
        },
      },
    },
  },
};

async function connect(url: string): Promise<Client> {
  const client = new Client({ name: 'openapi-e2e', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { 'x-api-key': stack.bootstrapKey } } }),
  );
  return client;
}

async function rejected(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected the request to be rejected');
}

beforeAll(async () => {
  upstream = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      const json = (status: number, value: unknown) =>
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      if (req.method === 'GET' && req.url!.startsWith('/v1/pets'))
        return json(200, [{ id: 1, name: 'Rex', tag: null }]);
      if (req.method === 'POST' && req.url === '/v1/pets') return json(201, { id: 2, ...(JSON.parse(body) as object) });
      if (req.method === 'DELETE') return res.writeHead(204).end();
      if (req.url!.startsWith('/v1/owners')) return json(200, { name: 'Ada' });
      if (req.url!.startsWith('/api/forecast/')) return json(200, { city: 'Paris', temps: [12.5, 14] });
      return json(200, { ok: true });
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  ({ stack, api } = await startTestStack('openapi'));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await new Promise<void>((r) => upstream.close(() => r()));
});

describe('OpenAPI 3.0 bundle as a connector', () => {
  let connectorId: string;
  let serverUrl: string;
  const envelope: components['schemas']['OpenApiConnectorEnvelope'] = {
    kind: 'openapi',
    slug: 'pets',
    entry: 'openapi.yaml',
    files,
    mcp_config: {
      route_mappings: [
        {
          operation_id: 'listPets',
          mcp_tool_name: 'search_pets',
          mcp_tool_description: 'Search pets by tag and kind',
          parameter_mappings: { tags: 'labels' },
        },
        { operation_id: 'createPet', mcp_tool_name: 'create_pet', mcp_tool_description: 'Create a pet' },
        {
          operation_id: 'deletePets',
          mcp_tool_name: 'delete_pets',
          mcp_tool_description: 'Delete pets by id',
          annotations: { destructiveHint: false },
        },
        { operation_id: 'createOwner', mcp_tool_name: 'create_owner', mcp_tool_description: 'Register an owner' },
      ],
    },
  };

  it('imports the bundle: refs across files resolved, credentials from the security scheme', async () => {
    const created = (await unwrap(api.POST('/connectors', { body: envelope }))) as OpenApiConnector;
    expect(created).toMatchObject({
      kind: 'openapi',
      slug: 'pets',
      version: '1.2.0',
      tools: ['search_pets', 'create_pet', 'delete_pets', 'create_owner'],
    });
    expect(created.credentialFields.length).toBe(1);
    connectorId = created.id;
    const doc = await unwrap(api.GET('/connectors/{id}/openapi.json', { params: { path: { id: connectorId } } }));
    expect(doc.openapi).toMatch(/^3\.1/);
    expect(JSON.stringify(doc)).not.toContain('schemas/pet.yaml');

    const field = created.credentialFields[0]!.key;
    const instance = await unwrap(
      api.POST('/connector_instances', {
        body: {
          createServer: false,
          connector_id: connectorId,
          name: 'pets-prod',
          base_url: `${upstreamUrl}/v1`,
          credentials: { [field]: 'pet-secret' },
        },
      }),
    );
    const server = await unwrap(
      api.POST('/mcp_manager', { body: { name: 'pets', mode: 'NORMAL', connectorInstanceId: instance.id } }),
    );
    serverUrl = server.url;
  });

  it('lists the mapped tools with input and output schemas and annotations', async () => {
    const client = await connect(serverUrl);
    const { tools } = await client.listTools();
    await client.close();
    expect(tools.map((t) => t.name).sort()).toEqual(['create_owner', 'create_pet', 'delete_pets', 'search_pets']);
    const search = tools.find((t) => t.name === 'search_pets')!;
    expect(search.description).toBe('Search pets by tag and kind');
    expect(Object.keys(search.inputSchema.properties ?? {})).toEqual(
      expect.arrayContaining(['labels', 'filter', 'limit']),
    );
    expect(search.annotations).toMatchObject({ readOnlyHint: true, destructiveHint: false });
    expect(search.outputSchema?.type).toBe('object');
    expect(tools.find((t) => t.name === 'delete_pets')!.annotations).toMatchObject({
      destructiveHint: false,
      idempotentHint: true,
    });
    for (const t of tools) expect(t.inputSchema.type).toBe('object');
  });

  it('serializes arguments per the document and returns structured content', async () => {
    const client = await connect(serverUrl);
    try {
      seen.length = 0;
      const list = await client.callTool({
        name: 'search_pets',
        arguments: { labels: ['a', 'b'], filter: { kind: 'dog', age: 3 }, limit: 5 },
      });
      expect(list.isError).toBeFalsy();
      expect(list.structuredContent).toEqual({ result: [{ id: 1, name: 'Rex', tag: null }] });
      const q = new URL(seen[0]!.url, 'http://x').searchParams;
      expect(seen[0]!.method).toBe('GET');
      expect(q.get('tags')).toBe('a,b');
      expect(q.get('filter[kind]')).toBe('dog');
      expect(q.get('filter[age]')).toBe('3');
      expect(q.get('limit')).toBe('5');
      expect(seen[0]!.headers['x-pet-key']).toBe('pet-secret');

      const created = await client.callTool({ name: 'create_pet', arguments: { name: 'Tom', tag: 'cat' } });
      expect(created.isError).toBeFalsy();
      expect(created.structuredContent).toMatchObject({ id: 2, name: 'Tom' });
      expect(JSON.parse(seen[1]!.body)).toEqual({ name: 'Tom', tag: 'cat' });
      expect(seen[1]!.headers['content-type']).toBe('application/json');

      await client.callTool({ name: 'delete_pets', arguments: { ids: [3, 4] } });
      expect(seen[2]).toMatchObject({ method: 'DELETE', url: '/v1/pets/3,4' });

      await client.callTool({ name: 'create_owner', arguments: { name: 'Ada L', pets: ['Rex', 'Tom'] } });
      expect(seen[3]!.headers['content-type']).toBe('application/x-www-form-urlencoded');
      expect([...new URLSearchParams(seen[3]!.body)]).toEqual([
        ['name', 'Ada L'],
        ['pets', 'Rex'],
        ['pets', 'Tom'],
      ]);

      const invalid = await client.callTool({ name: 'search_pets', arguments: { limit: 'many' } });
      expect(invalid.isError).toBe(true);
      expect(JSON.stringify(invalid.content)).toContain('limit');
      expect(seen).toHaveLength(4);
    } finally {
      await client.close();
    }
  });

  it('keeps tool names stable across a re-import', async () => {
    const before = await unwrap(api.GET('/connectors/{id}', { params: { path: { id: connectorId } } }));
    await unwrap(
      api.PUT('/connectors/{id}', {
        params: { path: { id: connectorId } },
        body: { ...envelope, version: '1.2.1', mcp_config: undefined },
      }),
    );
    const after = await unwrap(api.GET('/connectors/{id}', { params: { path: { id: connectorId } } }));
    expect(after.version).toBe('1.2.1');
    expect((after.descriptor as StoredOpenApi).openapi.operations.map((o) => o.toolName)).toEqual(
      (before.descriptor as StoredOpenApi).openapi.operations.map((o) => o.toolName),
    );
    // Without mappings every operation is a tool, the one without operationId included.
    expect(after.tools).toHaveLength(5);
    for (const name of after.tools) expect(name).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
  });
});

describe('Swagger 2.0 JSON as a connector', () => {
  it('imports a plain document (no envelope): every operation a tool, apiKey in the query', async () => {
    const created = (await unwrap(api.POST('/connectors', { body: swagger2 }))) as OpenApiConnector;
    expect(created.slug).toBe('weather-service');
    expect(created.tools).toHaveLength(1);
    const instance = await unwrap(
      api.POST('/connector_instances', {
        body: {
          createServer: false,
          connector_id: created.id,
          name: 'weather',
          base_url: `${upstreamUrl}/api`,
          credentials: { [created.credentialFields[0]!.key]: 'w-key' },
        },
      }),
    );
    const server = await unwrap(
      api.POST('/mcp_manager', { body: { name: 'weather', mode: 'NORMAL', connectorInstanceId: instance.id } }),
    );
    const client = await connect(server.url);
    try {
      const { tools } = await client.listTools();
      seen.length = 0;
      const result = await client.callTool({ name: tools[0]!.name, arguments: { city: 'Paris', days: [1, 2] } });
      expect(result.structuredContent).toEqual({ city: 'Paris', temps: [12.5, 14] });
      const url = new URL(seen[0]!.url, 'http://x');
      expect(url.pathname).toBe('/api/forecast/Paris');
      expect(url.searchParams.get('days')).toBe('1|2');
      expect(url.searchParams.get('appid')).toBe('w-key');
    } finally {
      await client.close();
    }
  });
});

describe('bad OpenAPI input', () => {
  const count = async () => (await unwrap(api.GET('/connectors'))).data.length;

  it('rejects broken YAML with line and column, and stores nothing', async () => {
    const before = await count();
    const err = await rejected(unwrap(api.POST('/connectors', yamlBody('openapi: 3.1.0\ninfo: [unclosed\n'))));
    expect(err.status).toBe(422);
    expect(JSON.stringify(err.body)).toMatch(/line \d+, column \d+/);
    expect(await count()).toBe(before);
  });

  it('refuses a missing bundle file, an unresolvable ref and an unsupported version, storing nothing', async () => {
    const before = await count();
    const missing = await rejected(
      unwrap(
        api.POST('/connectors', {
          body: { kind: 'openapi', entry: 'openapi.yaml', files: { 'openapi.yaml': files['openapi.yaml']! } },
        }),
      ),
    );
    expect(missing.status).toBe(422);
    expect(JSON.stringify(missing.body)).toContain('schemas/pet.yaml');

    const doc = {
      openapi: '3.1.0',
      info: { title: 'Broken', version: '1' },
      paths: {
        '/a': {
          get: {
            operationId: 'a',
            responses: {
              '200': {
                description: 'ok',
                content: { 'application/json': { schema: { $ref: '#/components/schemas/Nope' } } },
              },
            },
          },
        },
      },
    };
    const unresolved = await rejected(unwrap(api.POST('/connectors', { body: doc })));
    expect(unresolved.status).toBe(422);
    expect(JSON.stringify(unresolved.body)).toContain('#/components/schemas/Nope');

    const unsupported = await rejected(
      unwrap(
        api.POST('/connectors', { body: { openapi: '4.0.0', info: { title: 'Future', version: '1' }, paths: {} } }),
      ),
    );
    expect(unsupported.status).toBe(422);
    expect(await count()).toBe(before);
  });

  it('reports a malformed mapping, an unknown operation and a duplicate tool name in one response', async () => {
    const err = await rejected(
      unwrap(
        api.POST('/connectors', {
          body: {
            kind: 'openapi',
            entry: 'openapi.yaml',
            files,
            mcp_config: {
              route_mappings: [
                { operation_id: 'nope', mcp_tool_name: 'x', mcp_tool_description: 'x' },
                { operation_id: 'listPets', mcp_tool_name: 'dup', mcp_tool_description: 'x' },
                { operation_id: 'createPet', mcp_tool_name: 'dup', mcp_tool_description: 'x' },
                { operation_id: 'deletePets', mcp_tool_name: 'bad name!', mcp_tool_description: 'x' },
              ],
            },
          },
        }),
      ),
    );
    expect(err.status).toBe(422);
    const paths = (err.body as { errors: { path: string }[] }).errors.map((e) => e.path).sort();
    expect(paths).toEqual([
      '/mcp_config/route_mappings/0/operation_id',
      '/mcp_config/route_mappings/2/mcp_tool_name',
      '/mcp_config/route_mappings/3/mcp_tool_name',
    ]);
  });

  it('refuses an OAuth endpoint that is not http(s) in a descriptor, an envelope or a document, naming it', async () => {
    const before = await count();
    const bad = 'javascript:alert(document.cookie)//';
    const errorsOf = async (body: unknown) => {
      const err = await rejected(unwrap(api.POST('/connectors', { body: body as never })));
      expect(err.status).toBe(422);
      return (err.body as { errors: { path: string; message: string }[] }).errors;
    };
    const descriptor = {
      metadata: { name: 'Calendar', slug: 'calendar-js', version: '1' },
      authentication: [
        {
          type: 'oauth2_authorization_code',
          fields: [{ key: 'client_id' }, { key: 'client_secret', secret: true }],
          authorization_url: bad,
          token_url: 'https://id.example.com/token',
          revocation_url: 'data:text/plain,x',
        },
      ],
      operations: [{ operation_id: 'me', endpoint: 'https://api.example.com/me', method: 'GET' }],
    };
    expect(await errorsOf(descriptor)).toEqual([
      { path: '/authentication/0/authorization_url', message: 'must be an http(s) URL' },
      { path: '/authentication/0/revocation_url', message: 'must be an http(s) URL' },
    ]);
    const scheme = {
      type: 'oauth2',
      flows: {
        authorizationCode: { authorizationUrl: bad, tokenUrl: 'https://id.example.com/token', scopes: {} },
      },
    };
    const document = {
      openapi: '3.1.0',
      info: { title: 'Calendar JS', version: '1' },
      servers: [{ url: 'https://api.example.com' }],
      security: [{ calendarAuth: [] }],
      paths: { '/me': { get: { operationId: 'me', responses: { '200': { description: 'ok' } } } } },
      components: { securitySchemes: { calendarAuth: scheme } },
    };
    expect(await errorsOf({ kind: 'openapi', document, user_oauth: true })).toEqual([
      { path: '/user_oauth/authorization_url', message: expect.stringContaining('not an absolute http(s) URL') },
    ]);
    expect(
      await errorsOf({
        kind: 'openapi',
        document: { ...document, components: { securitySchemes: { calendarAuth: { ...scheme, flows: {} } } } },
        user_oauth: { authorization_url: bad, token_url: 'https://id.example.com/token' },
      }),
    ).toContainEqual({ path: '/user_oauth/authorization_url', message: 'must be an http(s) URL' });
    const selfDeclared = {
      ...document,
      components: {
        securitySchemes: {
          calendarAuth: { ...scheme, 'x-toolplane-credential-fields': { client_id: 'client_id' } },
        },
      },
    };
    expect(await errorsOf(selfDeclared)).toEqual([
      {
        path: '/components/securitySchemes/calendarAuth/flows/authorizationCode/authorizationUrl',
        message: 'must be an http(s) URL',
      },
    ]);
    expect(await count()).toBe(before);
  });

  it('refuses a document whose tools would make an oversized catalog, and says to map a subset', async () => {
    // 64 linked schemas of ~3 KB each, all reachable from every one of 250 operations: ~50 MB of tool schemas.
    const schemas: Record<string, unknown> = {};
    for (let i = 0; i < 64; i++) {
      const properties: Record<string, unknown> = { next: { $ref: `#/components/schemas/S${(i + 1) % 64}` } };
      for (let j = 0; j < 60; j++)
        properties[`field_${j}_with_a_long_name`] = { type: 'string', description: `Field ${j} of schema ${i}` };
      schemas[`S${i}`] = { type: 'object', properties };
    }
    const paths: Record<string, unknown> = {};
    for (let k = 0; k < 250; k++) {
      paths[`/things${k}`] = {
        post: {
          operationId: `make${k}`,
          requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/S0' } } } },
          responses: { '200': { description: 'ok' } },
        },
      };
    }
    const before = (await unwrap(api.GET('/connectors'))).data.length;
    const err = await rejected(
      unwrap(
        api.POST('/connectors', {
          body: { openapi: '3.1.0', info: { title: 'Huge', version: '1' }, paths, components: { schemas } },
        }),
      ),
    );
    expect(err.status).toBe(422);
    expect(JSON.stringify(err.body)).toContain('route_mappings');
    expect((await unwrap(api.GET('/connectors'))).data.length).toBe(before);
  });
});

describe('curated connectors (packages/connectors)', () => {
  const add = (slug: string, body: { auth?: 'user_oauth' | 'token' } = {}) =>
    unwrap(api.POST('/connectors/curated/{slug}', { params: { path: { slug } }, body }));

  it('lists the eight, adds GitHub once (201, then 409), and refuses an unknown slug or a variant not offered', async () => {
    const list = await unwrap(api.GET('/connectors/curated'));
    expect(list.data.map((c) => c.slug)).toHaveLength(8);
    const github = list.data.find((c) => c.slug === 'github')!;
    expect(github).toMatchObject({ name: 'GitHub', auth: ['user_oauth', 'token'], connectorId: null });
    expect(github.tools.map((t) => t.name)).toContain('create_issue');
    expect(list.data.find((c) => c.slug === 'stripe')!.auth).toEqual(['token']);

    const added = await add('github');
    expect(added).toMatchObject({ kind: 'openapi', slug: 'github', version: github.version, warnings: [] });
    expect(added.tools).toEqual(github.tools.map((t) => t.name));
    // people's own accounts by default: the instance holds the OAuth app
    if (added.kind !== 'openapi') throw new Error('expected an OpenAPI connector');
    expect(added.credentialFields.map((f) => f.key)).toEqual(expect.arrayContaining(['client_id', 'client_secret']));
    const relisted = await unwrap(api.GET('/connectors/curated'));
    expect(relisted.data.find((c) => c.slug === 'github')!.connectorId).toBe(added.id);

    const again = await rejected(add('github', { auth: 'token' }));
    expect([again.status, again.code]).toEqual([409, 'resource.conflict']);
    expect((await rejected(add('no-such-api'))).status).toBe(404);
    const notOffered = await rejected(add('stripe', { auth: 'user_oauth' }));
    expect([notOffered.status, notOffered.issues]).toEqual([
      422,
      [{ path: '/auth', message: 'must be one of: token' }],
    ]);
    expect((await unwrap(api.GET('/connectors'))).data.filter((c) => c.slug === 'stripe')).toEqual([]);
  });

  it('gives an instance a server listing the curated tools; a key limited to servers may neither list nor add', async () => {
    const github = (await unwrap(api.GET('/connectors/curated'))).data.find((c) => c.slug === 'github')!;
    const instance = await unwrap(
      api.POST('/connector_instances', {
        body: {
          connector_id: github.connectorId!,
          name: 'acme',
          credentials: { client_id: 'cid', client_secret: 'cs' },
        },
      }),
    );
    expect(instance.mcp_server_id).not.toBeNull();
    const tools = await unwrap(
      api.GET('/mcp_manager/{id}/tools', { params: { path: { id: instance.mcp_server_id! } } }),
    );
    expect(tools.data.map((t) => [t.name, t.description])).toEqual(github.tools.map((t) => [t.name, t.description]));

    const { key } = await unwrap(
      api.POST('/api_keys', { body: { name: 'curated-limited', serverIds: [instance.mcp_server_id!] } }),
    );
    const limited = createManagementClient(stack.controlPlaneUrl, key);
    expect((await rejected(unwrap(limited.GET('/connectors/curated')))).status).toBe(403);
    const refused = await rejected(
      unwrap(limited.POST('/connectors/curated/{slug}', { params: { path: { slug: 'slack' } }, body: {} })),
    );
    expect(refused.status).toBe(403);
  });
});
