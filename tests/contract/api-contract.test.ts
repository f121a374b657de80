import { describe, expect, it } from '@jest/globals';
import { ApiContract } from './api-contract.ts';

// The contract check itself: what it lets through and what it reports, on a small document.
const problem = { content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } };
const contract = new ApiContract({
  paths: {
    '/things': {
      post: {
        operationId: 'createThing',
        requestBody: {
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['name'],
                properties: { name: { type: 'string' } },
                additionalProperties: false,
              },
            },
          },
        },
        responses: {
          '201': { content: { 'application/json': { schema: { $ref: '#/components/schemas/Thing' } } } },
          '422': problem,
        },
      },
    },
    '/things/current': {
      get: {
        operationId: 'getCurrentThing',
        responses: { '200': { content: { 'application/json': { schema: { $ref: '#/components/schemas/Thing' } } } } },
      },
    },
    '/things/{id}': { delete: { operationId: 'deleteThing', responses: { '204': {}, '404': problem } } },
  },
  components: {
    schemas: {
      Thing: {
        type: 'object',
        required: ['id', 'name'],
        properties: { id: { type: 'string' }, name: { type: 'string' } },
        additionalProperties: false,
      },
      Problem: { type: 'object', required: ['code'], properties: { code: { type: 'string' } } },
    },
  },
} as ConstructorParameters<typeof ApiContract>[0]);

const thing = { id: 't1', name: 'a' };
const exchange = (x: Partial<Parameters<ApiContract['check']>[0]>) =>
  contract.check({
    method: 'POST',
    path: '/things',
    status: 201,
    contentType: 'application/json',
    requestBody: { name: 'a' },
    responseBody: thing,
    responseText: JSON.stringify(x.responseBody ?? thing),
    ...x,
  });

describe('the API contract check', () => {
  it('passes exchanges the document describes, literal segments before parameters', () => {
    expect(exchange({})).toMatchObject({ operationId: 'createThing', violations: [] });
    expect(exchange({ method: 'GET', path: '/things/current', status: 200, requestBody: undefined })).toMatchObject({
      operationId: 'getCurrentThing',
      violations: [],
    });
    expect(
      exchange({
        method: 'DELETE',
        path: '/things/t1',
        status: 204,
        contentType: '',
        responseText: '',
        responseBody: undefined,
      }),
    ).toMatchObject({ operationId: 'deleteThing', violations: [] });
    // A refused request may be anything: the API said no.
    expect(
      exchange({
        status: 422,
        contentType: 'application/problem+json',
        requestBody: { nom: 1 },
        responseBody: { code: 'request.invalid' },
      }),
    ).toMatchObject({ violations: [] });
    // Routes that do not exist may fail in any way.
    expect(
      exchange({ method: 'PATCH', path: '/things', status: 401, responseBody: { code: 'auth.missing_key' } })
        .violations,
    ).toEqual([]);
  });

  it('reports an undocumented field, a wrong type, an undocumented status and media type', () => {
    expect(exchange({ responseBody: { ...thing, secret: 'x' } }).violations).toEqual([
      'POST /things (createThing): response 201 / must NOT have additional properties',
    ]);
    expect(exchange({ responseBody: { id: 1, name: 'a' } }).violations).toEqual([
      'POST /things (createThing): response 201 /id must be string',
    ]);
    expect(exchange({ status: 409, responseBody: { code: 'resource.conflict' } }).violations[0]).toMatch(
      /^POST \/things \(createThing\): undocumented status 409/,
    );
    expect(exchange({ contentType: 'text/plain' }).violations[0]).toMatch(
      /201 answered text\/plain, documented application\/json/,
    );
    expect(
      exchange({ method: 'DELETE', path: '/things/t1', status: 204, contentType: 'text/plain', responseText: 'gone' })
        .violations[0],
    ).toMatch(/204 documented without a body/);
  });

  it('reports a request the API accepted although the document forbids it, and a hidden route that works', () => {
    expect(exchange({ requestBody: { name: 'a', extra: true } }).violations).toEqual([
      'POST /things (createThing): accepted a request body the document forbids: / must NOT have additional properties',
    ]);
    expect(exchange({ method: 'GET', path: '/secret-admin', status: 200 }).violations).toEqual([
      'GET /secret-admin: undocumented route answered 200',
    ]);
  });

  it('lists every operation for the coverage report', () => {
    expect(contract.operationIds.sort()).toEqual(['createThing', 'deleteThing', 'getCurrentThing']);
  });
});
