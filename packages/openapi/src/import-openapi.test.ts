import { describe, expect, it } from '@jest/globals';
import { ValidationError } from '@toolplane/errors';
import { importOpenApi, type OpenApiSource } from './import-openapi.ts';

/** The ValidationError an import throws (fails the test when it resolves). */
async function rejection(source: OpenApiSource): Promise<ValidationError> {
  try {
    await importOpenApi(source);
  } catch (err) {
    if (err instanceof ValidationError) return err;
    throw err;
  }
  throw new Error('expected the import to be rejected');
}

const petstore30Yaml = `
openapi: 3.0.3
info:
  title: Pets
  version: "1.2"
  description: A pet store
servers:
  - url: https://{region}.pets.example.com/v1
    variables:
      region: { default: eu }
security:
  - apiKey: []
paths:
  /pets:
    get:
      operationId: listPets
      summary: List pets
      parameters:
        - { name: limit, in: query, schema: { type: integer, minimum: 1, exclusiveMinimum: true } }
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: { type: array, items: { $ref: "#/components/schemas/Pet" } }
    post:
      operationId: createPet
      requestBody:
        required: true
        content:
          application/json:
            schema: { $ref: "#/components/schemas/NewPet" }
      responses:
        "201": { description: created }
  /pets/{petId}:
    delete:
      operationId: deletePet
      security: []
      parameters:
        - { name: petId, in: path, required: true, schema: { type: string } }
      responses:
        "204": { description: gone }
components:
  securitySchemes:
    apiKey: { type: apiKey, in: header, name: X-API-Key }
  schemas:
    Pet:
      type: object
      required: [id]
      properties:
        id: { type: integer }
        tag: { type: string, nullable: true }
        owner: { allOf: [{ $ref: "#/components/schemas/Owner" }], nullable: true }
        status: { type: string, enum: [a, b], nullable: true }
    Owner:
      type: object
      properties:
        name: { type: string }
        pets: { type: array, items: { $ref: "#/components/schemas/Pet" } }
    NewPet:
      type: object
      required: [name]
      properties:
        name: { type: string }
`;

describe('importOpenApi: versions and formats', () => {
  it('imports OpenAPI 3.0 YAML into a 3.1 document with normalised schemas, info, operations and credential fields', async () => {
    const r = await importOpenApi(petstore30Yaml);
    expect(r.document.openapi).toBe('3.1.0');
    expect(r.info).toEqual({ title: 'Pets', version: '1.2', description: 'A pet store' });
    expect(r.operations).toEqual([
      { operationId: 'listPets', toolName: 'listPets', method: 'GET', path: '/pets', summary: 'List pets' },
      { operationId: 'createPet', toolName: 'createPet', method: 'POST', path: '/pets' },
      { operationId: 'deletePet', toolName: 'deletePet', method: 'DELETE', path: '/pets/{petId}' },
    ]);
    expect(r.credentialFields).toEqual([{ key: 'apiKey', required: true, secret: true }]);
    const schemas = (r.document.components as any).schemas;
    // nullable → type arrays (and null in enums); nullable on a composition → anyOf with null; refs stay refs.
    expect(schemas.Pet.properties.tag).toEqual({ type: ['string', 'null'] });
    expect(schemas.Pet.properties.status).toEqual({ type: ['string', 'null'], enum: ['a', 'b', null] });
    expect(schemas.Pet.properties.owner).toEqual({
      anyOf: [{ allOf: [{ $ref: '#/components/schemas/Owner' }] }, { type: 'null' }],
    });
    expect(schemas.Owner.properties.pets.items).toEqual({ $ref: '#/components/schemas/Pet' });
    // exclusiveMinimum: true + minimum → the 2020-12 number form.
    expect((r.document.paths as any)['/pets'].get.parameters[0].schema).toEqual({
      type: 'integer',
      exclusiveMinimum: 1,
    });
    // Stored as JSON: no cycles, nothing but JSON values.
    expect(JSON.parse(JSON.stringify(r.document))).toEqual(r.document);
  });

  it('imports the same document as JSON with the same result', async () => {
    const { parse } = await import('yaml');
    const fromYaml = await importOpenApi(petstore30Yaml);
    const fromJson = await importOpenApi(JSON.stringify(parse(petstore30Yaml)));
    expect(fromJson.document).toEqual(fromYaml.document);
    expect(fromJson.operations).toEqual(fromYaml.operations);
  });

  it('converts Swagger 2.0 (JSON): servers, parameters, form data, definitions, x-nullable, security definitions', async () => {
    const swagger = {
      swagger: '2.0',
      info: { title: 'Legacy', version: '3' },
      host: 'legacy.example.com',
      basePath: '/api',
      schemes: ['https'],
      consumes: ['application/json'],
      produces: ['application/json'],
      securityDefinitions: { basicAuth: { type: 'basic' } },
      security: [{ basicAuth: [] }],
      paths: {
        '/items': {
          get: {
            operationId: 'listItems',
            parameters: [
              { name: 'ids', in: 'query', type: 'array', items: { type: 'string' }, collectionFormat: 'csv' },
            ],
            responses: { 200: { description: 'ok', schema: { $ref: '#/definitions/Item' } } },
          },
          post: {
            operationId: 'upload',
            consumes: ['multipart/form-data'],
            parameters: [
              { name: 'file', in: 'formData', type: 'file', required: true },
              { name: 'note', in: 'formData', type: 'string' },
            ],
            responses: { 200: { description: 'ok' } },
          },
        },
      },
      definitions: { Item: { type: 'object', properties: { name: { type: 'string', 'x-nullable': true } } } },
    };
    const r = await importOpenApi(JSON.stringify(swagger));
    const doc = r.document as any;
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.servers).toEqual([{ url: 'https://legacy.example.com/api' }]);
    expect(doc.paths['/items'].get.parameters[0]).toMatchObject({
      name: 'ids',
      in: 'query',
      style: 'form',
      explode: false,
      schema: { type: 'array' },
    });
    expect(doc.paths['/items'].post.requestBody.content['multipart/form-data'].schema.properties.file).toEqual({
      type: 'string',
      format: 'binary',
    });
    expect(doc.components.schemas.Item.properties.name).toEqual({ type: ['string', 'null'] });
    expect(r.credentialFields).toEqual([
      { key: 'username', required: true, secret: false },
      { key: 'password', required: true, secret: true },
    ]);
  });

  it('keeps OpenAPI 3.1 schemas as they are (type arrays, numeric exclusiveMinimum, $defs)', async () => {
    const doc = {
      openapi: '3.1.0',
      info: { title: 'New', version: '1' },
      paths: {
        '/x': {
          get: {
            operationId: 'x',
            responses: {
              200: {
                description: 'ok',
                content: { 'application/json': { schema: { $ref: '#/components/schemas/X' } } },
              },
            },
          },
        },
      },
      components: {
        schemas: {
          X: {
            type: ['object', 'null'],
            properties: { n: { type: 'number', exclusiveMinimum: 0 } },
            $defs: { Y: { type: 'string' } },
          },
        },
      },
    };
    const r = await importOpenApi(JSON.stringify(doc));
    expect(r.document.components).toEqual(doc.components);
    expect(r.document['x-toolplane-converted-from']).toBeUndefined();
  });

  it('drops schema keywords Ajv would refuse, with a warning naming each', async () => {
    const doc = {
      openapi: '3.0.0',
      info: { title: 'Messy', version: '1' },
      paths: { '/x': { get: { operationId: 'x', responses: { 200: { description: 'ok' } } } } },
      components: {
        schemas: {
          M: {
            type: 'object',
            required: true,
            properties: {
              a: { type: 'string', pattern: '(?i)abc' },
              b: { type: 'int' },
              c: { type: 'string', maxLength: 'ten' },
              d: { $ref: '#/components/schemas/M', type: 'application/json' },
            },
          },
        },
      },
    };
    const r = await importOpenApi(JSON.stringify(doc));
    expect((r.document.components as any).schemas.M).toEqual({
      type: 'object',
      properties: { a: { type: 'string' }, b: {}, c: { type: 'string' }, d: { $ref: '#/components/schemas/M' } },
    });
    expect(r.warnings.map((w) => w.path)).toEqual([
      '/components/schemas/M/required',
      '/components/schemas/M/properties/a/pattern',
      '/components/schemas/M/properties/b/type',
      '/components/schemas/M/properties/c/maxLength',
      '/components/schemas/M/properties/d/type',
    ]);
  });
});

describe('importOpenApi: bundles and references', () => {
  const files = {
    'api/openapi.yaml': `
openapi: 3.0.0
info: { title: Split, version: "1" }
paths:
  /pets:
    $ref: "./paths/pets.yaml"
  /owners/{id}:
    get:
      operationId: getOwner
      parameters: [{ $ref: "../common/params.yaml#/OwnerId" }]
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: { $ref: "../common/schemas.yaml#/Owner" }
`,
    'api/paths/pets.yaml': `
get:
  operationId: listPets
  responses:
    "200":
      description: ok
      content:
        application/json:
          schema: { type: array, items: { $ref: "../../common/schemas.yaml#/Pet" } }
`,
    'common/params.yaml': 'OwnerId: { name: id, in: path, required: true, schema: { type: string } }\n',
    'common/schemas.yaml': `
Pet:
  type: object
  properties:
    name: { type: string }
    owner: { $ref: "#/Owner" }
Owner:
  type: object
  properties:
    pets: { type: array, items: { $ref: "#/Pet" } }
`,
  };

  it('inlines files referenced by relative paths and keeps the circular Pet ↔ Owner as internal refs', async () => {
    const r = await importOpenApi({ entry: 'api/openapi.yaml', files });
    expect(r.operations.map((o) => o.toolName)).toEqual(['listPets', 'getOwner']);
    const text = JSON.stringify(r.document);
    expect(text).not.toMatch(/"\$ref":"[^#]/); // no external ref left
    expect(text).toMatch(/"\$ref":"#\//);
    const paths = r.document.paths as any;
    expect(paths['/owners/{id}'].get.parameters[0]).toEqual({
      name: 'id',
      in: 'path',
      required: true,
      schema: { type: 'string' },
    });
  });

  it('turns a reference from another file back into the entry document into an internal ref', async () => {
    const r = await importOpenApi({
      entry: 'api/openapi.yaml',
      files: {
        'api/openapi.yaml': `
openapi: 3.0.0
info: { title: Back, version: "1" }
paths:
  /pets:
    get:
      responses:
        "200": { description: ok, content: { application/json: { schema: { $ref: "../common/pet.yaml#/Pet" } } } }
components:
  schemas:
    Owner: { type: object, properties: { name: { type: string } } }
`,
        'common/pet.yaml':
          'Pet: { type: object, properties: { owner: { $ref: "../api/openapi.yaml#/components/schemas/Owner" } } }\n',
      },
    });
    const text = JSON.stringify(r.document);
    expect(text).not.toMatch(/"\$ref":"[^#]/);
    expect(text).toContain('"$ref":"#/components/schemas/Owner"');
  });

  it('names a missing bundle file and where it is referenced (422)', async () => {
    const { 'common/params.yaml': _, ...missing } = files;
    const err = await rejection({ entry: 'api/openapi.yaml', files: missing });
    expect(err.status).toBe(422);
    expect(err.issues).toEqual([
      {
        path: 'api/openapi.yaml#/paths/~1owners~1{id}/get/parameters/0',
        message: expect.stringContaining('file "common/params.yaml" is not in the bundle'),
      },
    ]);
  });

  it('rejects a missing entry file', async () => {
    const err = await rejection({ entry: 'openapi.yaml', files });
    expect(err.issues[0]).toMatchObject({
      path: 'openapi.yaml',
      message: expect.stringContaining('not in the bundle'),
    });
  });

  it('never fetches: http(s) and file refs outside the bundle are errors', async () => {
    const doc = {
      openapi: '3.0.0',
      info: { title: 'Remote', version: '1' },
      paths: {
        '/a': {
          get: {
            responses: {
              200: {
                description: 'ok',
                content: { 'application/json': { schema: { $ref: 'https://example.com/s.json' } } },
              },
            },
          },
        },
        '/b': {
          get: {
            responses: {
              200: { description: 'ok', content: { 'application/json': { schema: { $ref: 'other.json' } } } },
            },
          },
        },
      },
    };
    const err = await rejection(JSON.stringify(doc));
    expect(err.issues).toEqual([
      {
        path: 'openapi#/paths/~1a/get/responses/200/content/application~1json/schema',
        message: expect.stringContaining('remote references are not fetched (https://example.com/s.json)'),
      },
      {
        path: 'openapi#/paths/~1b/get/responses/200/content/application~1json/schema',
        message: expect.stringContaining('file "other.json" is not in the bundle'),
      },
    ]);
  });

  it('lists every unresolvable internal $ref with its location', async () => {
    const doc = {
      openapi: '3.0.0',
      info: { title: 'Broken', version: '1' },
      paths: {
        '/a': {
          get: {
            parameters: [{ $ref: '#/components/parameters/Nope' }],
            responses: {
              200: {
                description: 'ok',
                content: { 'application/json': { schema: { $ref: '#/components/schemas/Missing' } } },
              },
            },
          },
        },
      },
      components: { schemas: { A: { type: 'object', properties: { b: { $ref: '#/components/schemas/B' } } } } },
    };
    const err = await rejection(JSON.stringify(doc));
    expect(err.issues).toEqual([
      {
        path: '/paths/~1a/get/parameters/0/$ref',
        message: 'unresolvable $ref "#/components/parameters/Nope": nothing at that location',
      },
      {
        path: '/paths/~1a/get/responses/200/content/application~1json/schema/$ref',
        message: 'unresolvable $ref "#/components/schemas/Missing": nothing at that location',
      },
      {
        path: '/components/schemas/A/properties/b/$ref',
        message: 'unresolvable $ref "#/components/schemas/B": nothing at that location',
      },
    ]);
  });

  it('does not treat $ref inside examples and extensions as references', async () => {
    const doc = {
      openapi: '3.0.0',
      info: { title: 'Examples', version: '1' },
      paths: {
        '/a': {
          get: {
            'x-meta': { $ref: 'nowhere.json' },
            responses: {
              200: {
                description: 'ok',
                content: { 'application/json': { example: { $ref: '#/not/here' }, schema: { type: 'object' } } },
              },
            },
          },
        },
      },
    };
    await expect(importOpenApi(JSON.stringify(doc))).resolves.toMatchObject({ operations: [{ toolName: 'get_a' }] });
  });
});

describe('importOpenApi: rejections (422) list every problem with a path', () => {
  it('broken YAML: every syntax error with line and column', async () => {
    const err = await rejection('openapi: 3.0.0\ninfo: [1, 2\npaths: : :\n');
    expect(err.status).toBe(422);
    expect(err.issues.length).toBeGreaterThanOrEqual(2);
    for (const i of err.issues) expect(i.message).toMatch(/^line \d+, column \d+: /);
  });

  it('broken JSON: the position of the syntax error', async () => {
    const err = await rejection('{\n  "openapi": "3.0.0",\n  "info": {"title": "x",, "version": "1"}\n}');
    expect(err.issues[0]!.message).toMatch(/^line 3, column \d+: /);
  });

  it('a broken file in a bundle is named', async () => {
    const err = await rejection({
      entry: 'a.yaml',
      files: {
        'a.yaml': 'openapi: 3.0.0\ninfo: {title: t, version: "1"}\npaths:\n  /x: {$ref: "b.yaml"}\n',
        'b.yaml': 'get: [unclosed\n',
      },
    });
    expect(err.issues[0]).toMatchObject({
      path: 'a.yaml#/paths/~1x',
      message: expect.stringMatching(/b\.yaml.*line \d+, column \d+/),
    });
  });

  it('unsupported versions and non-OpenAPI documents', async () => {
    expect((await rejection('swagger: "1.2"\n')).issues).toEqual([
      { path: '/swagger', message: expect.stringContaining('unsupported Swagger version "1.2"') },
    ]);
    expect((await rejection('openapi: 4.0.0\n')).issues).toEqual([
      { path: '/openapi', message: expect.stringContaining('unsupported OpenAPI version "4.0.0"') },
    ]);
    expect((await rejection('{"asyncapi": "2.0.0"}')).issues).toEqual([
      { path: '', message: expect.stringContaining('not an OpenAPI document') },
    ]);
    expect((await rejection('- a\n- b\n')).issues).toEqual([
      { path: '', message: 'expected a mapping at the top level' },
    ]);
  });

  it('a document without operations', async () => {
    expect((await rejection('openapi: 3.1.0\ninfo: {title: t, version: "1"}\npaths: {}\n')).issues).toEqual([
      { path: '/paths', message: 'the document has no operations' },
    ]);
    expect((await rejection('openapi: 3.0.0\ninfo: {title: t, version: "1"}\n')).issues).toEqual([
      { path: '/paths', message: 'the document has no `paths` object' },
    ]);
    const webhooksOnly =
      'openapi: 3.1.0\ninfo: {title: t, version: "1"}\npaths: {}\nwebhooks:\n  ping: {post: {responses: {"200": {description: ok}}}}\n';
    expect((await rejection(webhooksOnly)).issues).toEqual([
      {
        path: '/paths',
        message: 'the document has no operations (only 1 webhooks, which the API calls, not the agent)',
      },
    ]);
  });
});

describe('importOpenApi: security schemes → credential fields', () => {
  it('maps apiKey (header, query, cookie), bearer, basic and OAuth2 client credentials; others with a warning', async () => {
    const doc = {
      openapi: '3.0.0',
      info: { title: 'Auth', version: '1' },
      security: [{ headerKey: [] }, {}],
      paths: {
        '/a': {
          get: {
            operationId: 'a',
            security: [{ 'query-key': [], cookieKey: [] }],
            responses: { 200: { description: 'ok' } },
          },
        },
        '/b': { get: { operationId: 'b', security: [{ bearer: [] }], responses: { 200: { description: 'ok' } } } },
        '/c': { get: { operationId: 'c', security: [{ basic: [] }], responses: { 200: { description: 'ok' } } } },
        '/d': { get: { operationId: 'd', security: [{ cc: ['read'] }], responses: { 200: { description: 'ok' } } } },
        '/e': { get: { operationId: 'e', security: [{ code: [] }], responses: { 200: { description: 'ok' } } } },
        '/f': { get: { operationId: 'f', security: [{ digest: [] }], responses: { 200: { description: 'ok' } } } },
        '/g': { get: { operationId: 'g', responses: { 200: { description: 'ok' } } } },
      },
      components: {
        securitySchemes: {
          headerKey: { type: 'apiKey', in: 'header', name: 'X-Key' },
          'query-key': { type: 'apiKey', in: 'query', name: 'key' },
          cookieKey: { type: 'apiKey', in: 'cookie', name: 'sid' },
          bearer: { type: 'http', scheme: 'bearer' },
          basic: { type: 'http', scheme: 'basic' },
          cc: {
            type: 'oauth2',
            flows: { clientCredentials: { tokenUrl: 'https://auth.example.com/token', scopes: { read: 'r' } } },
          },
          code: {
            type: 'oauth2',
            flows: { authorizationCode: { authorizationUrl: 'https://a/x', tokenUrl: 'https://a/t', scopes: {} } },
          },
          digest: { type: 'http', scheme: 'digest' },
        },
      },
    };
    const r = await importOpenApi(JSON.stringify(doc));
    expect(r.credentialFields).toEqual([
      // headerKey is only used by /g, whose document-level security also allows no credentials.
      { key: 'headerKey', required: false, secret: true },
      { key: 'query_key', required: true, secret: true },
      { key: 'cookieKey', required: true, secret: true },
      { key: 'bearer', required: true, secret: true },
      { key: 'username', required: true, secret: false },
      { key: 'password', required: true, secret: true },
      { key: 'client_id', required: true, secret: false },
      { key: 'client_secret', required: true, secret: true },
      { key: 'code', required: true, secret: true },
    ]);
    expect(r.warnings).toEqual(
      expect.arrayContaining([
        {
          path: '/components/securitySchemes/code',
          message: expect.stringContaining('field "code" takes a ready access token'),
        },
        {
          path: '/components/securitySchemes/digest',
          message: expect.stringContaining('"http" (digest) is not supported'),
        },
        {
          path: '/paths/~1f/get/security',
          message: expect.stringContaining('no supported security scheme among ["digest"]'),
        },
      ]),
    );
  });
});
