import { readFileSync } from 'node:fs';
import { request as httpRequest, type ClientRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { createManagementClient, unwrap } from '@toolplane/client';
import { startTestStack } from '../../helpers/stack.ts';
import { scaled } from '../../helpers/wait.ts';

/**
 * Hostile and malformed input answers 4xx (problem+json on REST, a JSON-RPC error on MCP), never
 * 500; unauthenticated floods get 429 per client address; large imports are limited in number.
 */

let stack: Stack;
let example: RegisteredExample;
let key: string;

/** Client addresses for the rate-limit tests (the stack trusts X-Forwarded-For from loopback). */
const UNAUTH_LIMIT = 20;

beforeAll(async () => {
  ({ stack } = await startTestStack('hostile', {
    serviceEnv: {
      'control-plane': {
        UNAUTH_RATE_LIMIT: String(UNAUTH_LIMIT),
        TRUST_PROXY: 'loopback',
        MAX_CONCURRENT_LARGE_IMPORTS: '1',
        LARGE_IMPORT_BYTES: '65536',
      },
      edge: { UNAUTH_RATE_LIMIT: String(UNAUTH_LIMIT), TRUST_PROXY: 'loopback' },
    },
  }));
  key = stack.bootstrapKey;
  example = await registerTicketExample(
    createManagementClient(stack.controlPlaneUrl, key),
    'http://127.0.0.1:9',
    'unused',
  );
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

const signal = () => AbortSignal.timeout(scaled(20_000));

/** A YAML document whose aliases expand to 9^10 strings (a "billion laughs" bomb). */
function aliasBomb(prefix = ''): string {
  const lines = [`${prefix}a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]`];
  for (let i = 1; i < 10; i++)
    lines.push(
      `a${i}: &a${i} [${Array(9)
        .fill(`*a${i - 1}`)
        .join(',')}]`,
    );
  return lines.join('\n') + '\n';
}

const nested = (open: string, close: string, inner: string, depth: number) =>
  open.repeat(depth) + inner + close.repeat(depth);

function deepSchemaDocument(depth: number): string {
  return JSON.stringify({
    openapi: '3.0.0',
    info: { title: 'deep', version: '1' },
    paths: {},
    components: { schemas: {} },
  }).replace('"schemas":{}', `"schemas":{"A":${nested('{"type":"object","properties":{"a":', '}}', '{}', depth)}}`);
}

interface RestCase {
  name: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  status: number;
}

const restCases: RestCase[] = [
  { name: '%ff in a server id', method: 'GET', path: '/mcp_manager/%ff', status: 400 },
  { name: '%ff in a connector id', method: 'GET', path: '/connectors/%ff', status: 400 },
  { name: '%ff in an unknown route', method: 'GET', path: '/%ff/x', status: 404 },
  {
    name: 'YAML alias bomb as a connector descriptor',
    method: 'POST',
    path: '/connectors',
    headers: { 'content-type': 'application/yaml' },
    body: aliasBomb(),
    status: 422,
  },
  {
    name: 'YAML alias bomb in an OpenAPI document',
    method: 'POST',
    path: '/connectors',
    headers: { 'content-type': 'application/yaml' },
    body: 'openapi: 3.0.0\n' + aliasBomb(),
    status: 422,
  },
  {
    name: 'OpenAPI schema nested 5,000 levels (JSON)',
    method: 'POST',
    path: '/connectors',
    headers: { 'content-type': 'application/json' },
    body: deepSchemaDocument(5000),
    status: 422,
  },
  {
    name: 'YAML flow sequence nested 10,000 levels',
    method: 'POST',
    path: '/connectors',
    headers: { 'content-type': 'application/yaml' },
    body: 'openapi: 3.0.0\nx: ' + nested('[', ']', '', 10_000),
    status: 422,
  },
  {
    name: 'JSON body nested 50,000 levels',
    method: 'POST',
    path: '/external_users',
    headers: { 'content-type': 'application/json' },
    body: `{"name":${nested('{"a":', '}', '1', 50_000)}}`,
    status: 422,
  },
  {
    name: 'NUL in an external user name',
    method: 'POST',
    path: '/external_users',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'a\u0000b' }),
    status: 422,
  },
  {
    name: 'NUL in an API key name',
    method: 'POST',
    path: '/api_keys',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'k\u0000', scopes: ['runtime'] }),
    status: 422,
  },
  {
    name: 'NUL in an MCP server name',
    method: 'POST',
    path: '/mcp_manager',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'a\u0000b', mode: 'NORMAL' }),
    status: 422,
  },
  {
    name: 'unknown Content-Encoding on JSON',
    method: 'POST',
    path: '/external_users',
    headers: { 'content-type': 'application/json', 'content-encoding': 'bogus' },
    body: '{}',
    status: 415,
  },
  {
    name: 'unknown Content-Encoding on a document',
    method: 'POST',
    path: '/connectors',
    headers: { 'content-type': 'application/yaml', 'content-encoding': 'br2' },
    body: 'a: 1',
    status: 415,
  },
  {
    name: 'gzip Content-Encoding with a body that is not gzip',
    method: 'POST',
    path: '/external_users',
    headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    body: '{"name":"x"}',
    status: 400,
  },
  {
    name: 'unknown charset on JSON',
    method: 'POST',
    path: '/external_users',
    headers: { 'content-type': 'application/json; charset=klingon' },
    body: '{}',
    status: 415,
  },
  {
    name: 'unknown charset on a document',
    method: 'POST',
    path: '/connectors',
    headers: { 'content-type': 'application/yaml; charset=klingon' },
    body: 'a: 1',
    status: 415,
  },
  {
    name: 'truncated JSON',
    method: 'POST',
    path: '/mcp_manager',
    headers: { 'content-type': 'application/json' },
    body: '{"name": "x", "mode": ',
    status: 400,
  },
  {
    name: 'wrong types',
    method: 'POST',
    path: '/mcp_manager',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 42, mode: ['NORMAL'], connectorInstanceId: {} }),
    status: 422,
  },
];

describe('REST: each bad input gets its 4xx with problem+json', () => {
  it.each(restCases)('$name → $status', async (c) => {
    const res = await fetch(`${stack.controlPlaneUrl}/api/v1${c.path}`, {
      method: c.method,
      headers: { 'x-api-key': key, ...c.headers },
      ...(c.body !== undefined ? { body: c.body } : {}),
      signal: signal(),
    });
    const text = await res.text();
    expect({ status: res.status, body: text.slice(0, 300) }).toMatchObject({ status: c.status });
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(text)).toMatchObject({ status: c.status });
  });
});

interface McpCase {
  name: string;
  path?: string;
  headers?: Record<string, string>;
  body: string;
  status: number;
  code: number;
}

const rpc = (extra: string) => `{"jsonrpc":"2.0","method":"tools/list",${extra}}`;
const mcpCases: McpCase[] = [
  { name: '%ff as the server id', path: '/mcp/%ff', body: rpc('"id":1'), status: 400, code: -32600 },
  { name: '%ff on the v1 path', path: '/api/v1/mcp/%ff', body: rpc('"id":1'), status: 400, code: -32600 },
  {
    name: 'id nested 5,000 arrays deep',
    body: rpc(`"id":${nested('[', ']', '', 5000)}`),
    status: 400,
    code: -32600,
  },
  {
    name: 'id nested 100,000 objects deep',
    body: rpc(`"id":${nested('{"a":', '}', '1', 100_000)}`),
    status: 400,
    code: -32600,
  },
  { name: 'an object id', body: rpc('"id":{"a":1}'), status: 400, code: -32600 },
  {
    name: 'params nested 100,000 levels',
    body: rpc(`"id":1,"params":{"_meta":${nested('[', ']', '', 100_000)}}`),
    status: 400,
    code: -32600,
  },
  {
    name: 'unknown Content-Encoding',
    headers: { 'content-encoding': 'bogus' },
    body: rpc('"id":1'),
    status: 415,
    code: -32600,
  },
  {
    name: 'unknown charset',
    headers: { 'content-type': 'application/json; charset=klingon' },
    body: rpc('"id":1'),
    status: 415,
    code: -32600,
  },
  { name: 'truncated JSON', body: '{"jsonrpc":"2.0","method":"tools/li', status: 400, code: -32700 },
];

describe('MCP: each bad input gets a JSON-RPC error with a 4xx', () => {
  it.each(mcpCases)('$name → $status $code', async (c) => {
    const res = await fetch(`${stack.edgeUrl}${c.path ?? `/mcp/${example.serverId}`}`, {
      method: 'POST',
      headers: {
        'x-api-key': key,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...c.headers,
      },
      body: c.body,
      signal: signal(),
    });
    const text = await res.text();
    expect({ status: res.status, body: text.slice(0, 300) }).toMatchObject({ status: c.status });
    expect(JSON.parse(text)).toMatchObject({ jsonrpc: '2.0', error: { code: c.code } });
  });
});

describe('unknown fields in request bodies', () => {
  type Operation = { operationId: string; requestBody?: { content?: Record<string, unknown> } };
  const document = JSON.parse(readFileSync(new URL('../../../docs/openapi.json', import.meta.url), 'utf8')) as {
    paths: Record<string, Record<string, Operation>>;
  };
  /** Every operation of docs/openapi.json taking a JSON body. */
  const operations = Object.entries(document.paths).flatMap(([template, item]) =>
    Object.entries(item)
      .filter(([, op]) => op.requestBody?.content?.['application/json'] !== undefined)
      .map(([method, op]) => ({ method: method.toUpperCase(), template, operationId: op.operationId })),
  );
  /** What a body needs besides the unknown field to be read as the kind of body the test is about. */
  const base: Record<string, Record<string, unknown>> = {
    // A body without `kind: openapi` or `openapi` is a connector descriptor, a document that keeps other keys.
    pushConnector: { kind: 'openapi' },
    updateConnector: { kind: 'openapi' },
  };

  it('covers every operation with a JSON body', () => {
    expect(operations.length).toBeGreaterThan(25);
  });

  it('each one answers 422 naming the unknown field, top-level and nested', async () => {
    const api = createManagementClient(stack.controlPlaneUrl, key);
    const user = await unwrap(api.POST('/external_users', { body: { name: 'unknown-fields' } }));
    const apiKey = await unwrap(api.POST('/api_keys', { body: { name: 'unknown-fields', scopes: ['runtime'] } }));
    const policy = await unwrap(
      api.POST('/access_policies', {
        body: {
          name: 'unknown-fields',
          principals: [{ type: 'external_user', value: '*' }],
          servers: ['*'],
          tools: ['*'],
        },
      }),
    );
    const ids: Record<string, string> = {
      api_keys: apiKey.id,
      access_policies: policy.id,
      connectors: example.connectorId,
      connector_instances: example.instanceId,
      api_catalog: 'petstore',
      mcp_manager: example.serverId,
      mcp_servers: example.serverId,
      external_mcp_servers: 'not-registered',
      external_users: user.name,
      secrets: 'TOKEN',
    };
    const values: Record<string, string> = {
      instanceId: example.instanceId,
      serverId: example.serverId,
      external: 'ext',
      secret: 'TOKEN',
    };
    const failures: unknown[] = [];
    for (const op of operations) {
      const path = op.template.replace(/\{([^}]+)\}/g, (_, param: string, at: number) =>
        encodeURIComponent(
          values[param] ?? (at === op.template.indexOf('{') ? ids[op.template.split('/')[1]!] : undefined) ?? 'TOKEN',
        ),
      );
      const res = await fetch(`${stack.controlPlaneUrl}/api/v1${path}`, {
        method: op.method,
        headers: { 'x-api-key': key, 'content-type': 'application/json' },
        body: JSON.stringify({ ...base[op.operationId], zz_unknown_field: true }),
        signal: signal(),
      });
      const body = (await res.json()) as { errors?: { path: string; message: string }[] };
      const named = body.errors?.find((e) => e.path === '/zz_unknown_field');
      if (res.status !== 422 || named?.message !== 'unknown field')
        failures.push({ operation: `${op.method} ${path} (${op.operationId})`, status: res.status, body });
    }
    expect(failures).toEqual([]);

    // Nested objects too: an external MCP config of a new server, a reference of a deployment.
    const nested = [
      {
        path: '/mcp_manager',
        body: { name: 'nested-unknown', externalMcpConfigs: [{ name: 'x', url: 'https://x.example', colour: 1 }] },
        field: '/externalMcpConfigs/0/colour',
      },
      {
        path: `/mcp_servers/${example.serverId}/deploy`,
        body: { definition: 'flower: "0.1"', references: [{ location: 'a.yaml', content: '{}', colour: 1 }] },
        field: '/references/0/colour',
      },
    ];
    for (const n of nested) {
      const res = await fetch(`${stack.controlPlaneUrl}/api/v1${n.path}`, {
        method: 'POST',
        headers: { 'x-api-key': key, 'content-type': 'application/json' },
        body: JSON.stringify(n.body),
        signal: signal(),
      });
      const body = (await res.json()) as { errors?: { path: string; message: string }[] };
      expect({ status: res.status, errors: body.errors }).toEqual({
        status: 422,
        errors: [{ path: n.field, message: 'unknown field' }],
      });
    }
  });
});

describe('concurrent creates of one name', () => {
  it('20 concurrent creates of one MCP server name: one 201, nineteen 409', async () => {
    const statuses = await Promise.all(
      Array.from({ length: 20 }, () =>
        fetch(`${stack.controlPlaneUrl}/api/v1/mcp_manager`, {
          method: 'POST',
          headers: { 'x-api-key': key, 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'same-name', mode: 'NORMAL', connectorInstanceId: example.instanceId }),
          signal: signal(),
        }).then(async (r) => {
          const body = (await r.json()) as { code?: string };
          if (r.status === 409) expect(body.code).toBe('resource.conflict');
          return r.status;
        }),
      ),
    );
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(19);
  });

  it('20 concurrent creates of one external user name: one 201, nineteen 409', async () => {
    const statuses = await Promise.all(
      Array.from({ length: 20 }, () =>
        fetch(`${stack.controlPlaneUrl}/api/v1/external_users`, {
          method: 'POST',
          headers: { 'x-api-key': key, 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'same-user' }),
          signal: signal(),
        }).then((r) => r.status),
      ),
    );
    expect(statuses.sort()).toEqual([201, ...Array<number>(19).fill(409)]);
  });
});

describe('unauthenticated requests are rate limited per client address', () => {
  it('edge: past the budget an address gets 429 with Retry-After; another address does not', async () => {
    const post = (address: string, apiKey?: string) =>
      fetch(`${stack.edgeUrl}/mcp/${crypto.randomUUID()}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-forwarded-for': address,
          ...(apiKey ? { 'x-api-key': apiKey } : {}),
        },
        body: rpc('"id":1'),
        signal: signal(),
      });
    const statuses: number[] = [];
    for (let i = 0; i < UNAUTH_LIMIT; i++)
      statuses.push((await post('203.0.113.7', i % 2 ? 'tp_wrong' : undefined)).status);
    expect(new Set(statuses)).toEqual(new Set([401]));
    const limited = await post('203.0.113.7');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await limited.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 } });
    expect((await post('198.51.100.1')).status).toBe(401);
    // IPv6 addresses are limited by /64: another address of the same /64 shares the budget.
    for (let i = 0; i < UNAUTH_LIMIT; i++) await post(`2001:db8:1:2::${i.toString(16)}`);
    expect((await post('2001:db8:1:2:ffff::1')).status).toBe(429);
    expect((await post('2001:db8:1:3::1')).status).toBe(401);
  });

  it('control plane: past the budget an address gets 429 with Retry-After (problem+json)', async () => {
    const get = (address: string, apiKey?: string) =>
      fetch(`${stack.controlPlaneUrl}/api/v1/connectors`, {
        headers: { 'x-forwarded-for': address, ...(apiKey ? { 'x-api-key': apiKey } : {}) },
        signal: signal(),
      });
    for (let i = 0; i < UNAUTH_LIMIT; i++)
      expect((await get('203.0.113.9', i % 2 ? 'tp_wrong_key_000000000' : undefined)).status).toBe(401);
    const limited = await get('203.0.113.9');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await limited.json()).toMatchObject({ status: 429, code: 'request.rate_limited' });
    expect((await get('198.51.100.9')).status).toBe(401);
    expect((await get('198.51.100.9', key)).status).toBe(200);
  });
});

describe('large imports', () => {
  it('a second large import while one is being read answers 429 with Retry-After, and runs once the first ends', async () => {
    const url = new URL(`${stack.controlPlaneUrl}/api/v1/connectors`);
    // The first import declares 200 kB and sends only its first bytes: it holds the only slot. On a loaded machine
    // one of the imports below may be read first and hold the slot while this one arrives: this one is then refused
    // (answered at once) and sent again, until it is the one holding the slot.
    let held: ClientRequest | undefined;
    let heldDone: Promise<void> = Promise.resolve();
    let heldRefused = false;
    const hold = () => {
      heldRefused = false;
      heldDone = new Promise<void>((resolve) => {
        held = httpRequest(url, {
          method: 'POST',
          headers: { 'x-api-key': key, 'content-type': 'application/yaml', 'content-length': '200000' },
        });
        held.on('response', (r) => {
          heldRefused = true;
          r.resume();
        });
        held.on('error', () => resolve());
        held.on('close', () => resolve());
        held.write('openapi: 3.0.0\n');
      });
    };
    hold();
    const large = () =>
      fetch(url, {
        method: 'POST',
        headers: { 'x-api-key': key, 'content-type': 'application/yaml' },
        body: `openapi: 3.0.0\n#${'x'.repeat(100_000)}\n`,
        signal: signal(),
      });
    const small = () =>
      fetch(url, {
        method: 'POST',
        headers: { 'x-api-key': key, 'content-type': 'application/yaml' },
        body: 'not: a descriptor\n',
        signal: signal(),
      });
    const deadline = Date.now() + scaled(20_000);
    let limited: Response | undefined;
    while (!limited && Date.now() < deadline) {
      if (heldRefused) hold();
      const res = await large();
      if (res.status === 429) limited = res;
      else await res.text();
    }
    expect(limited?.status).toBe(429);
    expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await limited!.json()).toMatchObject({ code: 'request.rate_limited' });
    // Small bodies are not limited.
    expect((await small()).status).toBe(422);
    held!.destroy();
    await heldDone;
    let after = 429;
    while (after === 429 && Date.now() < deadline) after = (await large()).status;
    expect(after).toBe(422);
  });
});
