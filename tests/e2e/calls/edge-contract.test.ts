import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, SSEClientTransport, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { createManagementClient, unwrap } from '@toolplane/client';
import type { Stack } from '@toolplane/cli';
import { ApiContract, startContractProxy } from '../../contract/api-contract.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { postMcp } from '../../helpers/mcp.ts';

// The edge's MCP endpoints against their OpenAPI document (docs/edge-openapi.json, served at GET /openapi.json):
// every exchange of this file goes through the contract proxy of the management API's suite, holding the edge's
// document instead, so each response (status, media type, JSON-RPC body against McpJsonRpcResponseDto) and each
// accepted request (McpRequestDto) is checked with the same validator. Every documented operation is exercised,
// through the MCP SDK's own clients and plain HTTP, successes and refusals.

const documentText = readFileSync(new URL('../../../docs/edge-openapi.json', import.meta.url), 'utf8');
const contract = new ApiContract(JSON.parse(documentText) as ConstructorParameters<typeof ApiContract>[0]);

let stack: Stack;
let proxy: Awaited<ReturnType<typeof startContractProxy>>;
let upstream: Server;
let serverId: string;
const version = '2025-06-18';

const descriptor = (url: string) => ({
  metadata: { name: 'Greeter', slug: 'greeter', version: '1.0.0' },
  operations: [
    {
      operation_id: 'greet',
      endpoint: `${url}/greet`,
      method: 'GET',
      parameters: [{ name: 'name', location: 'query', field_type: 'string', required: true }],
    },
  ],
  mcp_config: {
    enabled: true,
    server_name: 'greeter',
    server_description: 'Greets',
    route_mappings: [{ operation_id: 'greet', mcp_tool_name: 'greet', mcp_tool_description: 'Greet someone' }],
  },
});

const mcpUrl = (prefix = '') => `${proxy.url}${prefix}/mcp/${serverId}`;
const key = () => ({ 'x-api-key': stack.bootstrapKey });
const call = (id: number, name: string, args: Record<string, unknown>, meta?: Record<string, unknown>) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args, ...(meta ? { _meta: meta } : {}) },
});

beforeAll(async () => {
  upstream = createServer((req, res) => {
    const name = new URL(req.url ?? '/', 'http://x').searchParams.get('name');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ hello: name }));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  // A small unauthenticated budget, so that the 429 is reached in a few requests (the last test).
  ({ stack } = await startTestStack('edge-contract', {
    serviceEnv: { edge: { UNAUTH_RATE_LIMIT: '8', MAX_BODY_BYTES: '65536' } },
  }));
  proxy = await startContractProxy('edge-contract', contract, { prefix: '' });
  proxy.setTarget(stack.edgeUrl);
  const client = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const connector = await unwrap(client.POST('/connectors', { body: descriptor(url) as never }));
  const instance = await unwrap(
    client.POST('/connector_instances', { body: { createServer: false, connector_id: connector.id, name: 'greeter' } }),
  );
  const server = await unwrap(
    client.POST('/mcp_manager', { body: { name: 'greeter', mode: 'NORMAL', connectorInstanceId: instance.id } }),
  );
  serverId = server.id;
}, 120_000);

afterAll(async () => {
  await proxy?.close();
  try {
    await stack?.stop();
  } finally {
    await new Promise<void>((r) => upstream.close(() => r()));
  }
});

describe('the edge’s MCP endpoints, held to docs/edge-openapi.json', () => {
  it('serves its document, the one committed', async () => {
    const res = await fetch(`${proxy.url}/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.text()).toBe(documentText);
    const doc = JSON.parse(documentText) as { components: { schemas: Record<string, unknown> } };
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining(['McpRequestDto', 'McpJsonRpcResponseDto']),
    );
  });

  it('answers the MCP SDK’s Streamable HTTP client on both paths', async () => {
    for (const prefix of ['', '/api/v1']) {
      const mcp = new Client({ name: 'edge-contract', version: '1.0.0' });
      await mcp.connect(
        new StreamableHTTPClientTransport(new URL(mcpUrl(prefix)), { requestInit: { headers: key() } }),
      );
      expect((await mcp.listTools()).tools.map((t) => t.name)).toEqual(['greet']);
      expect(JSON.stringify(await mcp.callTool({ name: 'greet', arguments: { name: 'ada' } }))).toContain('ada');
      await mcp.close();
    }
  });

  it('answers 2025-era plain HTTP: initialize, a call as JSON and as an event stream, a notification, errors as JSON-RPC', async () => {
    const headers = { ...key(), 'mcp-protocol-version': version };
    const init = await postMcp(
      mcpUrl(),
      {
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 'plain', version: '1' } },
      },
      key(),
    );
    expect(init.status).toBe(200);
    expect(init.headers.get('mcp-session-id')).toBeTruthy();
    await init.text();
    const notified = await postMcp(mcpUrl(), { jsonrpc: '2.0', method: 'notifications/initialized' }, headers);
    expect(notified.status).toBe(202);
    const plain = await postMcp(mcpUrl('/api/v1'), call(2, 'greet', { name: 'bob' }), headers);
    expect(plain.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await plain.json()).toMatchObject({ jsonrpc: '2.0', id: 2, result: { content: [expect.anything()] } });
    const streamed = await postMcp(mcpUrl(), call(3, 'greet', { name: 'cy' }, { progressToken: 't' }), headers);
    expect(streamed.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(await streamed.text()).toContain('"id":3');
    const unknown = await postMcp(mcpUrl(), call(4, 'nope', {}), headers);
    expect(await unknown.json()).toMatchObject({ id: 4, error: { code: -32602 } });
    const invalid = await postMcp(mcpUrl(), call(5, 'greet', {}), headers);
    expect(await invalid.json()).toMatchObject({ id: 5, result: { isError: true } });
  });

  it('refuses with documented statuses and JSON-RPC error bodies', async () => {
    const headers = { ...key(), 'mcp-protocol-version': version };
    const status = async (res: Promise<Response>) => {
      const r = await res;
      await r.text();
      return r.status;
    };
    const raw = (body: string, extra: Record<string, string> = {}) =>
      fetch(mcpUrl(), {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...headers,
          ...extra,
        },
        body,
      });
    expect(await status(raw('{not json'))).toBe(400);
    expect(
      await status(
        postMcp(mcpUrl(), call(6, 'greet', { name: 'x' }), { ...headers, 'mcp-protocol-version': '1999-01-01' }),
      ),
    ).toBe(400);
    expect(
      await status(raw(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list', pad: 'x'.repeat(70_000) }))),
    ).toBe(413);
    expect(await status(raw(JSON.stringify(call(8, 'greet', { name: 'x' })), { accept: 'application/json' }))).toBe(
      406,
    );
    expect(await status(raw(JSON.stringify(call(9, 'greet', { name: 'x' })), { 'content-type': 'text/plain' }))).toBe(
      415,
    );
    expect(
      await status(
        postMcp(mcpUrl(), call(10, 'greet', { name: 'x' }), { ...headers, origin: 'https://elsewhere.example' }),
      ),
    ).toBe(403);
    expect(
      await status(postMcp(`${proxy.url}/mcp/00000000-0000-4000-8000-000000000000`, call(11, 'greet', {}), headers)),
    ).toBe(404);
    expect(await status(postMcp(mcpUrl(), call(12, 'greet', { name: 'x' }), { 'x-api-key': 'tp_wrong' }))).toBe(401);
  });

  it('serves the legacy HTTP+SSE pair to the MCP SDK’s SSE client, and refuses an unknown session', async () => {
    const withKey = (u: string | URL | Request, init?: RequestInit) => {
      const h = new Headers(init?.headers);
      h.set('x-api-key', stack.bootstrapKey);
      return fetch(u, { ...init, headers: h });
    };
    const mcp = new Client({ name: 'edge-contract-sse', version: '1.0.0' });
    await mcp.connect(
      new SSEClientTransport(new URL(mcpUrl('/api/v1')), {
        requestInit: { headers: key() },
        eventSourceInit: { fetch: withKey },
      }),
    );
    expect(JSON.stringify(await mcp.callTool({ name: 'greet', arguments: { name: 'dee' } }))).toContain('dee');
    await mcp.close();
    const gone = await postMcp(
      `${proxy.url}/api/v1/mcp/${serverId}/messages?sessionId=nope`,
      call(13, 'greet', {}),
      key(),
    );
    expect(gone.status).toBe(404);
    expect(await gone.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32001 } });
  });

  it('makes a narrowed token (RFC 8693), refuses a bad subject, and the token calls the MCP endpoint', async () => {
    const exchange = (subject: string) =>
      fetch(`${proxy.url}/oauth/token-exchange`, {
        method: 'POST',
        body: new URLSearchParams({
          grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
          subject_token: subject,
          subject_token_type: 'urn:toolplane:params:oauth:token-type:api_key',
          authorization_details: JSON.stringify([{ type: 'toolplane_delegation', tools: ['greet'] }]),
        }),
      });
    const refused = await exchange('not-a-key');
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: 'invalid_request' });
    const made = await exchange(stack.bootstrapKey);
    expect(made.status).toBe(200);
    const { access_token } = (await made.json()) as { access_token: string };
    const res = await postMcp(mcpUrl(), call(30, 'greet', { name: 'tok' }), {
      'mcp-protocol-version': version,
      authorization: `Bearer ${access_token}`,
    });
    expect(await res.text()).toContain('tok');
    // Revoked (RFC 7009), it no longer calls.
    const revoked = await fetch(`${proxy.url}/oauth/revoke`, {
      method: 'POST',
      body: new URLSearchParams({ token: access_token }),
    });
    expect(revoked.status).toBe(200);
    const after = await postMcp(mcpUrl(), call(31, 'greet', { name: 'tok' }), {
      'mcp-protocol-version': version,
      authorization: `Bearer ${access_token}`,
    });
    expect(after.status).toBe(401);
  });

  it('limits unauthenticated requests (429), last because it blocks this address', async () => {
    let last = 0;
    for (let i = 0; i < 10 && last !== 429; i++) {
      const res = await postMcp(mcpUrl(), call(20 + i, 'greet', {}), { 'mcp-protocol-version': version });
      await res.text();
      last = res.status;
    }
    expect(last).toBe(429);
  });

  it('broke no rule of the document, and reached every documented operation', () => {
    expect(proxy.violations()).toEqual([]);
    const seen = new Set(proxy.exchanges.map((e) => e.operationId));
    expect(contract.operationIds.filter((id) => !seen.has(id))).toEqual([]);
    // Statuses the exchanges reached, per operation (what the document's refusals were held to).
    const statuses = new Set(proxy.exchanges.filter((e) => e.operationId === 'postMcp').map((e) => e.status));
    expect([...statuses].sort()).toEqual(expect.arrayContaining([200, 202, 400, 401, 403, 404, 406, 413, 415, 429]));
  });
});
