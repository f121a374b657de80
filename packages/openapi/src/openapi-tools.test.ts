import { describe, expect, it } from '@jest/globals';
import { ValidationError } from '@toolplane/errors';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { importOpenApi } from './import-openapi.ts';
import { compileOpenApiTools, type OpenApiToolOptions } from './openapi-tools.ts';
import { maxExpandedDefs } from './schema-defs.ts';
import { toolNames } from './tool-names.ts';

const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false });

async function toolsOf(doc: Record<string, unknown>, options: Partial<OpenApiToolOptions> = {}) {
  const imported = await importOpenApi(JSON.stringify(doc));
  return compileOpenApiTools(imported.document, { binding: { secretNames: {} }, ...options });
}

const info = { title: 'T', version: '1' };
const ok = { description: 'ok' };
const json = (schema: unknown) => ({ content: { 'application/json': { schema } } });

describe('compileOpenApiTools: input schemas', () => {
  const doc = {
    openapi: '3.0.3',
    info,
    servers: [{ url: 'https://api.example.com/v2' }],
    paths: {
      '/trees/{treeId}/nodes': {
        parameters: [
          { name: 'treeId', in: 'path', required: true, schema: { type: 'integer' }, description: 'The tree' },
        ],
        post: {
          operationId: 'addNode',
          parameters: [
            { name: 'dryRun', in: 'query', schema: { type: 'boolean' } },
            { name: 'X-Trace', in: 'header', schema: { type: 'string' } },
            { name: 'Accept', in: 'header', schema: { type: 'string' } },
          ],
          requestBody: { required: true, ...json({ $ref: '#/components/schemas/Node' }) },
          responses: { 201: { description: 'created', ...json({ $ref: '#/components/schemas/Node' }) } },
        },
      },
    },
    components: {
      schemas: {
        Node: {
          type: 'object',
          required: ['label'],
          properties: {
            label: { type: 'string' },
            kind: { oneOf: [{ $ref: '#/components/schemas/Leaf' }, { $ref: '#/components/schemas/Branch' }] },
            note: { type: 'string', nullable: true },
          },
        },
        Leaf: { type: 'object', properties: { value: { type: 'number' } } },
        Branch: {
          type: 'object',
          properties: { children: { type: 'array', items: { $ref: '#/components/schemas/Node' } } },
        },
        Unused: { type: 'string' },
      },
    },
  };

  it('has params and flattened body properties as arguments, reachable components in $defs, refs rewritten, cycles kept as refs, oneOf as anyOf', async () => {
    const [tool] = await toolsOf(doc);
    expect(tool!.tool.inputSchema).toEqual({
      type: 'object',
      additionalProperties: false,
      properties: {
        treeId: { type: 'integer', description: 'The tree' },
        dryRun: { type: 'boolean' },
        'X-Trace': { type: 'string' },
        label: { type: 'string' },
        kind: { anyOf: [{ $ref: '#/$defs/Leaf' }, { $ref: '#/$defs/Branch' }] },
        note: { type: ['string', 'null'] },
      },
      required: ['treeId', 'label'],
      $defs: {
        Branch: { type: 'object', properties: { children: { type: 'array', items: { $ref: '#/$defs/Node' } } } },
        Leaf: { type: 'object', properties: { value: { type: 'number' } } },
        Node: {
          type: 'object',
          required: ['label'],
          properties: {
            label: { type: 'string' },
            kind: { anyOf: [{ $ref: '#/$defs/Leaf' }, { $ref: '#/$defs/Branch' }] },
            note: { type: ['string', 'null'] },
          },
        },
      },
    });
    expect(tool!.plan).toEqual({
      kind: 'http',
      method: 'POST',
      url: 'https://api.example.com/v2/trees/{treeId}/nodes',
      params: [
        { arg: 'treeId', name: 'treeId', in: 'path' },
        { arg: 'dryRun', name: 'dryRun', in: 'query' },
        { arg: 'X-Trace', name: 'X-Trace', in: 'header' },
        { arg: 'label', name: 'label', in: 'body' },
        { arg: 'kind', name: 'kind', in: 'body' },
        { arg: 'note', name: 'note', in: 'body' },
      ],
      authHeaders: {},
      secrets: {},
      output: {},
    });
    const validate = ajv.compile(tool!.tool.inputSchema);
    // Leaf and Branch both accept { children } (nothing required): oneOf (exactly one) would refuse this.
    expect(validate({ treeId: 1, label: 'root', kind: { children: [{ label: 'leaf', kind: { value: 1 } }] } })).toBe(
      true,
    );
    expect(validate({ treeId: 1 })).toBe(false);
    expect(validate({ treeId: 1, label: 'x', extra: 1 })).toBe(false);
  });

  it('puts the body under `body` (wholeBody) when a property collides with a parameter, and non-object bodies always', async () => {
    const colliding = structuredClone(doc) as any;
    colliding.components.schemas.Node.properties.dryRun = { type: 'string' };
    const [tool] = await toolsOf(colliding);
    expect(Object.keys(tool!.tool.inputSchema.properties as object)).toEqual(['treeId', 'dryRun', 'X-Trace', 'body']);
    expect((tool!.tool.inputSchema.properties as any).body).toEqual({ $ref: '#/$defs/Node' });
    expect(tool!.tool.inputSchema.required).toEqual(['treeId', 'body']);
    expect(tool!.plan.params.at(-1)).toEqual({ arg: 'body', name: 'body', in: 'body', wholeBody: true });

    const list = {
      openapi: '3.1.0',
      info,
      paths: {
        '/tags': {
          put: {
            operationId: 'setTags',
            requestBody: json({ type: 'array', items: { type: 'string' } }),
            responses: { 204: ok },
          },
        },
      },
    };
    const [put] = await toolsOf(list);
    expect(put!.tool.inputSchema.properties).toEqual({ body: { type: 'array', items: { type: 'string' } } });
    expect(put!.tool.inputSchema.required).toBeUndefined();
    expect(put!.plan.params).toEqual([{ arg: 'body', name: 'body', in: 'body', wholeBody: true }]);
  });

  it('flattens allOf object bodies, and keeps a map-like body (additionalProperties) whole', async () => {
    const d = {
      openapi: '3.1.0',
      info,
      paths: {
        '/a': {
          post: {
            operationId: 'a',
            requestBody: {
              required: true,
              ...json({
                allOf: [
                  { $ref: '#/components/schemas/Base' },
                  { type: 'object', required: ['b'], properties: { b: { type: 'integer' } } },
                ],
              }),
            },
            responses: { 204: ok },
          },
        },
        '/m': {
          post: {
            operationId: 'm',
            requestBody: json({ type: 'object', additionalProperties: { type: 'string' } }),
            responses: { 204: ok },
          },
        },
      },
      components: { schemas: { Base: { type: 'object', required: ['a'], properties: { a: { type: 'string' } } } } },
    };
    const [a, m] = await toolsOf(d);
    expect(a!.tool.inputSchema.properties).toEqual({ a: { type: 'string' }, b: { type: 'integer' } });
    expect(a!.tool.inputSchema.required).toEqual(['a', 'b']);
    expect(m!.plan.params).toEqual([{ arg: 'body', name: 'body', in: 'body', wholeBody: true }]);
  });

  it('records serialization styles: form/explode arrays, deepObject, simple path arrays, declared or defaulted', async () => {
    const d = {
      openapi: '3.0.0',
      info,
      paths: {
        '/items/{ids}': {
          get: {
            operationId: 'items',
            parameters: [
              { name: 'ids', in: 'path', required: true, schema: { type: 'array', items: { type: 'integer' } } },
              { name: 'tags', in: 'query', schema: { type: 'array', items: { type: 'string' } } },
              {
                name: 'csv',
                in: 'query',
                style: 'form',
                explode: false,
                schema: { type: 'array', items: { type: 'string' } },
              },
              {
                name: 'pipes',
                in: 'query',
                style: 'pipeDelimited',
                schema: { type: 'array', items: { type: 'string' } },
              },
              {
                name: 'filter',
                in: 'query',
                style: 'deepObject',
                explode: true,
                schema: { type: 'object', properties: { name: { type: 'string' } } },
              },
              { name: 'q', in: 'query', schema: { type: 'string' } },
              { name: 'json', in: 'query', content: { 'application/json': { schema: { type: 'object' } } } },
              { name: 'bad', in: 'path', style: 'deepObject', required: true, schema: { type: 'string' } },
            ],
            responses: { 200: ok },
          },
        },
      },
    };
    const imported = await importOpenApi(JSON.stringify(d));
    const [tool] = compileOpenApiTools(imported.document, { binding: { secretNames: {} } });
    expect(tool!.plan.params).toEqual([
      { arg: 'ids', name: 'ids', in: 'path', style: 'simple', explode: false },
      { arg: 'tags', name: 'tags', in: 'query', style: 'form', explode: true },
      { arg: 'csv', name: 'csv', in: 'query', style: 'form', explode: false },
      { arg: 'pipes', name: 'pipes', in: 'query', style: 'pipeDelimited', explode: false },
      { arg: 'filter', name: 'filter', in: 'query', style: 'deepObject', explode: true },
      { arg: 'q', name: 'q', in: 'query' },
      { arg: 'json', name: 'json', in: 'query' },
    ]);
    // `bad` is not in the path template: ignored with a warning (so is its invalid style).
    expect(imported.warnings).toEqual(
      expect.arrayContaining([
        {
          path: '/paths/~1items~1{ids}/get/parameters',
          message: 'path parameter "bad" does not appear in the path /items/{ids}; ignored',
        },
      ]),
    );
  });

  it('adds undeclared path parameters as required strings, and renames colliding arguments by location', async () => {
    const d = {
      openapi: '3.0.0',
      info,
      paths: {
        '/u/{id}': {
          get: {
            operationId: 'u',
            parameters: [{ name: 'id', in: 'query', schema: { type: 'string' } }],
            responses: { 200: ok },
          },
        },
      },
    };
    const [tool] = await toolsOf(d);
    expect(tool!.plan.params).toEqual([
      { arg: 'id', name: 'id', in: 'query' },
      { arg: 'path_id', name: 'id', in: 'path' },
    ]);
    expect(tool!.tool.inputSchema.required).toEqual(['path_id']);
  });
});

describe('compileOpenApiTools: request body encodings', () => {
  const body = (type: string, schema: unknown) => ({
    openapi: '3.1.0',
    info,
    paths: {
      '/x': { post: { operationId: 'x', requestBody: { content: { [type]: { schema } } }, responses: { 204: ok } } },
    },
  });
  const obj = { type: 'object', properties: { name: { type: 'string' }, file: { type: 'string', format: 'binary' } } };

  it('JSON (default, also +json types), form-urlencoded and multipart', async () => {
    const [j] = await toolsOf(body('application/vnd.api+json', obj));
    expect(j!.plan.bodyEncoding).toBeUndefined();
    expect(j!.plan.params.map((p) => p.arg)).toEqual(['name', 'file']);
    const [f] = await toolsOf(body('application/x-www-form-urlencoded', obj));
    expect(f!.plan.bodyEncoding).toBe('form');
    const [m] = await toolsOf(body('multipart/form-data', obj));
    expect(m!.plan.bodyEncoding).toBe('multipart');
    expect(m!.plan.params).toEqual([
      { arg: 'name', name: 'name', in: 'body' },
      { arg: 'file', name: 'file', in: 'body' },
    ]);
  });

  it('prefers JSON when several media types are offered; unsupported ones give a tool without body and a warning', async () => {
    const both = {
      openapi: '3.1.0',
      info,
      paths: {
        '/x': {
          post: {
            operationId: 'x',
            requestBody: { content: { 'multipart/form-data': { schema: obj }, 'application/json': { schema: obj } } },
            responses: { 204: ok },
          },
        },
      },
    };
    expect((await toolsOf(both))[0]!.plan.bodyEncoding).toBeUndefined();
    const imported = await importOpenApi(
      JSON.stringify(body('application/octet-stream', { type: 'string', format: 'binary' })),
    );
    expect(imported.warnings).toEqual([
      {
        path: '/paths/~1x/post/requestBody/content',
        message: expect.stringContaining('["application/octet-stream"] are not supported'),
      },
    ]);
    expect(compileOpenApiTools(imported.document, { binding: { secretNames: {} } })[0]!.plan.params).toEqual([]);
  });
});

describe('compileOpenApiTools: output schemas', () => {
  const responses = (schema: unknown, code = '200') => ({
    openapi: '3.1.0',
    info,
    paths: {
      '/x': {
        get: {
          operationId: 'x',
          responses: {
            [code]: { description: 'ok', ...json(schema) },
            404: { description: 'no', ...json({ type: 'string' }) },
          },
        },
      },
    },
    components: {
      schemas: {
        Pet: {
          type: 'object',
          required: ['id'],
          additionalProperties: false,
          properties: {
            id: { type: 'integer' },
            kind: { type: 'string', enum: ['cat', 'dog'] },
            next: { $ref: '#/components/schemas/Pet' },
          },
        },
      },
    },
  });

  it('an object response is the outputSchema (plan.output = {}), relaxed so real answers validate', async () => {
    const [tool] = await toolsOf(responses({ $ref: '#/components/schemas/Pet' }));
    expect(tool!.plan.output).toEqual({});
    expect(tool!.tool.outputSchema).toEqual({
      type: 'object',
      properties: { id: { type: 'integer' }, kind: { type: 'string' }, next: { $ref: '#/$defs/Pet' } },
      $defs: {
        Pet: {
          type: 'object',
          properties: { id: { type: 'integer' }, kind: { type: 'string' }, next: { $ref: '#/$defs/Pet' } },
        },
      },
    });
    const validate = ajv.compile(tool!.tool.outputSchema!);
    expect(validate({ kind: 'hamster', extra: true, next: { id: 2 } })).toBe(true);
    expect(validate({ id: 'not a number' })).toBe(false);
  });

  it('a non-object response is wrapped under `result` (plan.output.wrap)', async () => {
    const [tool] = await toolsOf(responses({ type: 'array', items: { $ref: '#/components/schemas/Pet' } }, '201'));
    expect(tool!.plan.output).toEqual({ wrap: 'result' });
    expect(tool!.tool.outputSchema).toMatchObject({
      type: 'object',
      properties: { result: { type: 'array', items: { $ref: '#/$defs/Pet' } } },
    });
    expect(ajv.compile(tool!.tool.outputSchema!)({ result: [{ id: 1 }] })).toBe(true);
  });

  it('a nullable object is wrapped too (null is not structured content); no JSON 2xx schema means no outputSchema', async () => {
    const [nullable] = await toolsOf(responses({ type: ['object', 'null'] }));
    expect(nullable!.plan.output).toEqual({ wrap: 'result' });
    const [none] = await toolsOf({
      openapi: '3.1.0',
      info,
      paths: {
        '/x': {
          get: { operationId: 'x', responses: { 204: ok, 404: { description: 'no', ...json({ type: 'object' }) } } },
        },
      },
    });
    expect(none!.tool.outputSchema).toBeUndefined();
    expect(none!.plan.output).toBeUndefined();
  });
});

describe('compileOpenApiTools: security → plans', () => {
  const doc = {
    openapi: '3.0.0',
    info,
    paths: {
      '/h': { get: { operationId: 'h', security: [{ headerKey: [], appId: [] }], responses: { 200: ok } } },
      '/q': { get: { operationId: 'q', security: [{ queryKey: [] }], responses: { 200: ok } } },
      '/c': { get: { operationId: 'c', security: [{ cookieKey: [] }], responses: { 200: ok } } },
      '/b': { get: { operationId: 'b', security: [{ bearerAuth: [] }], responses: { 200: ok } } },
      '/basic': { get: { operationId: 'basic', security: [{ basicAuth: [] }], responses: { 200: ok } } },
      '/o': {
        get: { operationId: 'o', security: [{ digest: [] }, { cc: ['read', 'write'] }], responses: { 200: ok } },
      },
      '/open': { get: { operationId: 'open', security: [], responses: { 200: ok } } },
    },
    components: {
      securitySchemes: {
        headerKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
        appId: { type: 'apiKey', in: 'header', name: 'X-App-Id' },
        queryKey: { type: 'apiKey', in: 'query', name: 'api_key' },
        cookieKey: { type: 'apiKey', in: 'cookie', name: 'session' },
        bearerAuth: { type: 'http', scheme: 'bearer' },
        basicAuth: { type: 'http', scheme: 'basic' },
        cc: {
          type: 'oauth2',
          flows: { clientCredentials: { tokenUrl: 'https://auth.example.com/token', scopes: {} } },
        },
        digest: { type: 'http', scheme: 'digest' },
      },
    },
  };
  const secretNames = {
    headerKey: 's/h',
    appId: 's/a',
    queryKey: 's/q',
    cookieKey: 's/c',
    bearerAuth: 's/b',
    username: 's/u',
    password: 's/p',
    client_id: 's/ci',
    client_secret: 's/cs',
  };

  it('apiKey headers, query and cookies are templates; bearer/basic/OAuth2 are computed; secrets hold names of referenced fields only', async () => {
    const tools = await toolsOf(doc, { binding: { secretNames } });
    const plan = (name: string) => {
      const p = tools.find((t) => t.tool.name === name)!.plan;
      return {
        authHeaders: p.authHeaders,
        authQuery: p.authQuery,
        authCookies: p.authCookies,
        auth: p.auth,
        secrets: p.secrets,
      };
    };
    expect(plan('h')).toEqual({
      authHeaders: { 'X-API-Key': '{headerKey}', 'X-App-Id': '{appId}' },
      secrets: { headerKey: 's/h', appId: 's/a' },
    });
    expect(plan('q')).toEqual({ authHeaders: {}, authQuery: { api_key: '{queryKey}' }, secrets: { queryKey: 's/q' } });
    expect(plan('c')).toEqual({
      authHeaders: {},
      authCookies: { session: '{cookieKey}' },
      secrets: { cookieKey: 's/c' },
    });
    expect(plan('b')).toEqual({
      authHeaders: { Authorization: '{__authorization}' },
      auth: { kind: 'bearer', token: 'bearerAuth' },
      secrets: { bearerAuth: 's/b' },
    });
    expect(plan('basic')).toEqual({
      authHeaders: { Authorization: '{__authorization}' },
      auth: { kind: 'basic', username: 'username', password: 'password' },
      secrets: { username: 's/u', password: 's/p' },
    });
    // The first alternative whose schemes are all supported (digest is not), with its scopes.
    expect(plan('o')).toEqual({
      authHeaders: { Authorization: '{__authorization}' },
      auth: {
        kind: 'oauth2_client_credentials',
        tokenUrl: 'https://auth.example.com/token',
        scopes: ['read', 'write'],
        clientId: 'client_id',
        clientSecret: 'client_secret',
      },
      secrets: { client_id: 's/ci', client_secret: 's/cs' },
    });
    expect(plan('open')).toEqual({ authHeaders: {}, secrets: {} });
  });

  it('uses the instance base URL instead of the server URL (a relative server URL stays after it)', async () => {
    const d = {
      openapi: '3.0.0',
      info,
      servers: [{ url: 'https://api.example.com/v1' }],
      paths: {
        '/p': { get: { operationId: 'p', servers: [{ url: '/beta' }], responses: { 200: ok } } },
        '/q': { get: { operationId: 'q', responses: { 200: ok } } },
      },
    };
    expect((await toolsOf(d)).map((t) => t.plan.url)).toEqual(['/beta/p', 'https://api.example.com/v1/q']);
    expect(
      (await toolsOf(d, { binding: { baseUrl: 'http://127.0.0.1:4010/', secretNames: {} } })).map((t) => t.plan.url),
    ).toEqual(['http://127.0.0.1:4010/beta/p', 'http://127.0.0.1:4010/q']);
  });
});

describe('tool names', () => {
  it('sanitises operationIds, derives names from method + path without one, and cuts long names to 64 characters', () => {
    const long = 'get' + 'VeryLongOperationName'.repeat(5);
    const names = toolNames([
      { method: 'GET', path: '/a', operationId: 'repos/get-content' },
      { method: 'GET', path: '/users/{user_id}/repos' },
      { method: 'GET', path: '/b', operationId: long },
      { method: 'GET', path: '/c', operationId: 'ünïcødé op!' },
    ]);
    expect(names[0]).toBe('repos_get-content');
    expect(names[1]).toBe('get_users_user_id_repos');
    expect(names[2]).toHaveLength(64);
    expect(names[2]).toMatch(/^getVeryLongOperationName.*_[0-9a-f]{6}$/);
    expect(names[3]).toBe('n_c_d_op');
    for (const n of names) expect(n).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
  });

  it('suffixes every colliding name with a hash of its method and path, whatever the order', () => {
    const ops = [
      { method: 'GET', path: '/a', operationId: 'get.item' },
      { method: 'GET', path: '/b', operationId: 'get item' },
      { method: 'POST', path: '/c', operationId: 'other' },
    ];
    const names = toolNames(ops);
    expect(names[0]).toMatch(/^get_item_[0-9a-f]{6}$/);
    expect(names[1]).toMatch(/^get_item_[0-9a-f]{6}$/);
    expect(names[0]).not.toBe(names[1]);
    expect(names[2]).toBe('other');
    const reversed = toolNames([...ops].reverse());
    expect(reversed).toEqual([...names].reverse());
  });

  it('are stable across re-imports of a reordered document', async () => {
    const paths = {
      '/a': { get: { operationId: 'dup', responses: { 200: ok } } },
      '/b': { get: { operationId: 'dup', responses: { 200: ok } } },
      '/c/{id}': { delete: { responses: { 204: ok } } },
    };
    const reordered = Object.fromEntries(Object.entries(paths).reverse());
    const a = await importOpenApi(JSON.stringify({ openapi: '3.1.0', info, paths }));
    const b = await importOpenApi(JSON.stringify({ openapi: '3.1.0', info, paths: reordered }));
    const byRoute = (ops: typeof a.operations) =>
      Object.fromEntries(ops.map((o) => [`${o.method} ${o.path}`, o.toolName]));
    expect(byRoute(b.operations)).toEqual(byRoute(a.operations));
    expect(a.operations.find((o) => o.path === '/c/{id}')).toMatchObject({
      toolName: 'delete_c_id',
      operationId: 'delete_c_id',
    });
  });
});

describe('compileOpenApiTools: mappings and annotations', () => {
  const doc = {
    openapi: '3.1.0',
    info,
    paths: {
      '/items': {
        get: {
          operationId: 'listItems',
          summary: 'List items',
          description: 'All the items',
          parameters: [{ name: 'q', in: 'query', schema: { type: 'string' } }],
          responses: { 200: ok },
        },
      },
      '/items/{id}': {
        put: {
          operationId: 'putItem',
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { 200: ok },
        },
        delete: {
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { 204: ok },
        },
      },
    },
  };

  it('infers annotations from the method; without mappings every operation is a tool with its description', async () => {
    const tools = await toolsOf(doc);
    expect(tools.map((t) => [t.tool.name, t.tool.description, t.tool.annotations])).toEqual([
      [
        'listItems',
        'All the items',
        { title: 'List items', readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
      ],
      [
        'putItem',
        'PUT /items/{id}',
        { title: undefined, readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
      ],
      [
        'delete_items_id',
        'DELETE /items/{id}',
        { title: undefined, readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
      ],
    ]);
    expect(tools[0]!.tool.title).toBe('List items');
  });

  it('maps operations (by operationId or generated name) to tool names, descriptions, argument names and annotation overrides', async () => {
    const tools = await toolsOf(doc, {
      mappings: [
        {
          operation_id: 'delete_items_id',
          mcp_tool_name: 'remove_item',
          mcp_tool_description: 'Remove an item',
          parameter_mappings: { id: 'item_id' },
          annotations: { destructiveHint: false, title: 'Remove' },
        },
        {
          operation_id: 'listItems',
          mcp_tool_name: 'search',
          mcp_tool_description: 'Search items',
          parameter_mappings: { q: 'query' },
        },
      ],
    });
    expect(tools.map((t) => t.tool.name)).toEqual(['remove_item', 'search']);
    expect(tools[0]!.tool.annotations).toMatchObject({ destructiveHint: false, title: 'Remove', idempotentHint: true });
    expect(tools[0]!.tool.inputSchema.required).toEqual(['item_id']);
    expect(tools[0]!.plan.params).toEqual([{ arg: 'item_id', name: 'id', in: 'path' }]);
    expect(tools[1]!.tool.description).toBe('Search items');
    expect(Object.keys(tools[1]!.tool.inputSchema.properties as object)).toEqual(['query']);
  });

  it('rejects unknown operations, duplicate tool names and bad annotations, listing every problem', async () => {
    const imported = await importOpenApi(JSON.stringify(doc));
    let error: unknown;
    try {
      compileOpenApiTools(imported.document, {
        binding: { secretNames: {} },
        mappings: [
          { operation_id: 'listItems', mcp_tool_name: 'a', mcp_tool_description: 'x' },
          { operation_id: 'nope', mcp_tool_name: 'b', mcp_tool_description: 'x' },
          {
            operation_id: 'putItem',
            mcp_tool_name: 'a',
            mcp_tool_description: 'x',
            annotations: { readOnlyHint: 'yes', sparkly: true },
          },
        ],
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues).toEqual([
      { path: '/mappings/1/operation_id', message: 'no operation has operationId (or generated tool name) "nope"' },
      { path: '/mappings/2/mcp_tool_name', message: 'tool name "a" is already used by mapping 0' },
      { path: '/mappings/2/annotations/readOnlyHint', message: 'must be a boolean' },
      { path: '/mappings/2/annotations/sparkly', message: expect.stringContaining('unknown annotation') },
    ]);
  });
});

describe('compileOpenApiTools: large schema graphs', () => {
  it(`expands at most ${maxExpandedDefs} referenced schemas per tool schema; the rest are permissive stubs and every ref resolves`, async () => {
    const schemas: Record<string, unknown> = {};
    for (let i = 0; i < 100; i++)
      schemas[`S${i}`] = {
        type: 'object',
        properties: { v: { type: 'integer' }, next: { $ref: `#/components/schemas/S${i + 1}` } },
      };
    schemas.S100 = { type: 'object', properties: { v: { type: 'integer' } } };
    const doc = {
      openapi: '3.1.0',
      info,
      paths: {
        '/x': {
          post: { operationId: 'x', requestBody: json({ $ref: '#/components/schemas/S0' }), responses: { 204: ok } },
        },
      },
      components: { schemas },
    };
    const [tool] = await toolsOf(doc);
    const defs = tool!.tool.inputSchema.$defs as Record<string, Record<string, unknown>>;
    const expanded = Object.values(defs).filter((d) => d.type === 'object');
    expect(expanded).toHaveLength(maxExpandedDefs);
    // S0 is the body itself (flattened into arguments): S1 … S64 are expanded, S65 is the first stub.
    expect(defs[`S${maxExpandedDefs}`]).toMatchObject({ type: 'object' });
    expect(defs[`S${maxExpandedDefs + 1}`]).toEqual({ $comment: expect.stringContaining('not expanded') });
    const validate = ajv.compile(tool!.tool.inputSchema);
    expect(validate({ v: 1, next: { v: 2 } })).toBe(true);
    expect(validate({ v: 'one' })).toBe(false);
  });
});
