import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from '@jest/globals';
import { ApiContract, startContractProxy } from './api-contract.ts';

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

describe('the contract proxy', () => {
  it('closes a connection whose request body the API answered before reading, so its next request is not stuck', async () => {
    // The API refuses at once (as a 404 or a limit does), without reading the body.
    const api = createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/problem+json' });
      res.end('{"type":"about:blank","title":"Not Found","status":404}');
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    const proxy = await startContractProxy('proxy-unread-body', contract);
    proxy.setTarget(`http://127.0.0.1:${(api.address() as AddressInfo).port}`);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const target = new URL(proxy.url);
    const send = (method: string, body?: Buffer) =>
      new Promise<{ status: string; connection: string | undefined }>((resolve) => {
        const req = request(
          {
            host: target.hostname,
            port: target.port,
            method,
            path: '/api/v1/things',
            agent,
            signal: AbortSignal.timeout(10_000),
            headers: body ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {},
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve({ status: String(res.statusCode), connection: res.headers.connection }));
          },
        );
        req.on('error', (err: NodeJS.ErrnoException) =>
          resolve({ status: `error:${err.code ?? err.name}`, connection: undefined }),
        );
        req.end(body);
      });
    try {
      for (let i = 0; i < 5; i++) {
        const big = await send('POST', Buffer.alloc(6_000_000, 0x20));
        expect(big.status).toBe('404');
        // A GET on the same (or, after a close, a new) connection answers.
        expect((await send('GET')).status).toBe('404');
      }
    } finally {
      agent.destroy();
      await proxy.close();
      await new Promise((resolve) => api.close(resolve));
    }
  }, 60_000);
});
