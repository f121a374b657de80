import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, SSEClientTransport, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { createManagementClient, unwrap } from '@toolplane/client';
import type { Stack } from '@toolplane/cli';
import { startTestStack } from '../../helpers/stack.ts';
import { postMcp } from '../../helpers/mcp.ts';
import { PROPAGATION_DEADLINE_MS, waitFor } from '../../helpers/wait.ts';
import { logLines } from '../../helpers/records.ts';
import { watchOutputs, type OutputWatch } from '../../helpers/output-search.ts';

// Per-request authentication: a caller passes its own upstream credential (X-Upstream-Authorization) for
// one call of a connector or OpenAPI tool on a server that allows it (`perRequestAuth`). The upstream
// sees that credential and no stored one; on a server that does not allow it the call is refused; and
// the credential appears in no output (the canary rule: tool results, REST answers and execution records,
// debug captures, logs, spans, Redis traffic and keys, PostgreSQL rows).

const CANARY = `canary-${randomBytes(12).toString('hex')}`;
/** A second caller's credential: each call uses its own (nothing is cached between calls). */
const CANARY_2 = `canary2-${randomBytes(12).toString('hex')}`;
const STORED_KEY = `stored-key-${randomBytes(6).toString('hex')}`;
const STORED_TOKEN = `stored-token-${randomBytes(6).toString('hex')}`;

let watch: OutputWatch;
let stack: Stack;
let client: ReturnType<typeof createManagementClient>;
let echo: Server;
let echoUrl: string;
/** What reached the upstream: each request's URL and headers. */
const received: { url: string; headers: IncomingHttpHeaders }[] = [];
/** Tool results and REST answers, searched at the end. */
const outputs: string[] = [];
const servers: Record<'keyOn' | 'keyOff' | 'bearerOn', { id: string; url: string }> = {} as never;

const descriptor = (url: string) => ({
  metadata: { name: 'Key Echo', slug: 'key-echo', version: '1.0.0' },
  authentication: [
    {
      type: 'api_key',
      fields: [{ key: 'api_key', field_type: 'secret', required: true, secret: true }],
      test_endpoint: { url: `${url}/echo`, method: 'GET', expected_status: 200 },
    },
  ],
  operations: [
    {
      operation_id: 'echo',
      endpoint: `${url}/echo`,
      method: 'POST',
      auth_type_ref: 'api_key',
      auth_headers: { 'X-API-Key': '{api_key}' },
      parameters: [{ name: 'message', location: 'body', field_type: 'string', required: true }],
    },
  ],
  mcp_config: {
    enabled: true,
    server_name: 'key-echo',
    server_description: 'Echo',
    route_mappings: [{ operation_id: 'echo', mcp_tool_name: 'echo', mcp_tool_description: 'Echo the request back' }],
  },
});

const openApiDocument = {
  openapi: '3.1.0',
  info: { title: 'Bearer Echo', version: '1.0.0' },
  components: { securitySchemes: { token: { type: 'http', scheme: 'bearer' } } },
  security: [{ token: [] }],
  paths: {
    '/whoami': {
      get: {
        operationId: 'whoami',
        responses: { '200': { description: 'who the API thinks you are', content: { 'application/json': {} } } },
      },
    },
  },
};

/**
 * Calls a tool with the MCP SDK's client, sending `headers` (on every request): Streamable HTTP, or the legacy
 * HTTP+SSE transport (GET stream + POSTed messages). Gives the result as JSON text.
 */
async function callTool(
  url: string,
  name: string,
  args: Record<string, unknown>,
  headers: Record<string, string> = {},
  transport: 'streamable-http' | 'sse' = 'streamable-http',
): Promise<{ text: string; isError: boolean }> {
  const all = { 'x-api-key': stack.bootstrapKey, ...headers };
  const mcp = new Client({ name: 'per-request-auth', version: '1.0.0' });
  if (transport === 'sse') {
    const withHeaders = (u: string | URL | Request, init?: RequestInit) => {
      const h = new Headers(init?.headers);
      for (const [k, v] of Object.entries(all)) h.set(k, v);
      return fetch(u, { ...init, headers: h });
    };
    const id = new URL(url).pathname.split('/').at(-1)!;
    await mcp.connect(
      new SSEClientTransport(new URL(`${stack.edgeUrl}/api/v1/mcp/${id}`), {
        requestInit: { headers: all },
        eventSourceInit: { fetch: withHeaders },
      }),
    );
  } else {
    await mcp.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: all } }));
  }
  try {
    const result = await mcp.callTool({ name, arguments: args });
    const text = JSON.stringify(result);
    outputs.push(text);
    return { text, isError: result.isError === true };
  } finally {
    await mcp.close();
  }
}

/** What the upstream received during `call`. */
async function upstreamSaw(call: () => Promise<unknown>) {
  const before = received.length;
  await call();
  return received.slice(before);
}

async function recordOf(serverId: string, outcome: string) {
  const found = await waitFor(`a ${outcome} execution record of ${serverId}`, async () => {
    const page = await unwrap(client.GET('/execution_records', { params: { query: { limit: 200 } } }));
    outputs.push(JSON.stringify(page));
    return page.data.find((r) => r.server_id === serverId && r.outcome === outcome);
  });
  const detail = await unwrap(client.GET('/execution_records/{id}', { params: { path: { id: found.id } } }));
  outputs.push(JSON.stringify(detail));
  return detail;
}

beforeAll(async () => {
  echo = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      received.push({ url: req.url ?? '', headers: req.headers });
      // The upstream echoes what it got (headers included): the worker must redact the credential.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ youSent: { url: req.url, headers: req.headers, body } }));
    });
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoUrl = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
  watch = await watchOutputs([CANARY, CANARY_2], ['upstreamAuthorization']);
  // Debug-level logs (the worker logs when a debug session changes): every line is searched.
  ({ stack } = await startTestStack('per-request-auth', {
    redisUrl: watch.redisUrl,
    logLevel: 'debug',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: watch.otlpUrl, OTEL_BSP_SCHEDULE_DELAY: '100' },
  }));
  client = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);

  const keyConnector = await unwrap(client.POST('/connectors', { body: descriptor(echoUrl) as never }));
  const keyInstance = await unwrap(
    client.POST('/connector_instances', {
      body: {
        createServer: false,
        connector_id: keyConnector.id,
        name: 'key-echo',
        credentials: { api_key: STORED_KEY },
      },
    }),
  );
  const bearerConnector = await unwrap(client.POST('/connectors', { body: openApiDocument as never }));
  const bearerInstance = await unwrap(
    client.POST('/connector_instances', {
      body: {
        createServer: false,
        connector_id: bearerConnector.id,
        name: 'bearer-echo',
        base_url: echoUrl,
        credentials: {
          [(bearerConnector as { credentialFields: { key: string }[] }).credentialFields[0]!.key]: STORED_TOKEN,
        },
      },
    }),
  );
  const server = async (name: string, connectorInstanceId: string, perRequestAuth?: boolean) => {
    const s = await unwrap(
      client.POST('/mcp_manager', {
        body: {
          name,
          mode: 'NORMAL',
          connectorInstanceId,
          ...(perRequestAuth !== undefined ? { perRequestAuth } : {}),
        },
      }),
    );
    return { id: s.id, url: s.url };
  };
  servers.keyOn = await server('key-on', keyInstance.id, true);
  // Off by default.
  servers.keyOff = await server('key-off', keyInstance.id);
  servers.bearerOn = await server('bearer-on', bearerInstance.id, true);
  // Debug sessions on both servers that take the caller's credential: their captures are searched too.
  const workers = stack.processes.filter((p) => p.service === 'worker');
  for (const s of [servers.keyOn, servers.bearerOn]) {
    const session = await unwrap(
      client.POST('/mcp_manager/{id}/debug_sessions', {
        params: { path: { id: s.id } },
        body: { duration_minutes: 30 },
      }),
    );
    outputs.push(JSON.stringify(session));
    await waitFor(`the workers to see the debug session of ${s.id}`, () =>
      workers.every((w) => logLines(w, 'debug session changed; cached state dropped').some((l) => l.serverId === s.id)),
    );
  }
}, 120_000);

afterAll(async () => {
  try {
    await stack?.stop();
  } finally {
    await watch?.close();
    await new Promise<void>((r) => echo.close(() => r()));
  }
});

describe('per-request authentication (X-Upstream-Authorization)', () => {
  it('is off by default and shown on the server', async () => {
    const on = await unwrap(client.GET('/mcp_manager/{id}', { params: { path: { id: servers.keyOn.id } } }));
    const off = await unwrap(client.GET('/mcp_manager/{id}', { params: { path: { id: servers.keyOff.id } } }));
    expect([on.perRequestAuth, off.perRequestAuth]).toEqual([true, false]);
  });

  it('sends the caller’s key instead of the stored one (connector api_key), and redacts its echo', async () => {
    let result: { text: string; isError: boolean } | undefined;
    const seen = await upstreamSaw(async () => {
      result = await callTool(servers.keyOn.url, 'echo', { message: 'hello' }, { 'X-Upstream-Authorization': CANARY });
    });
    expect(seen.map((r) => r.headers['x-api-key'])).toEqual([CANARY]);
    expect(JSON.stringify(seen)).not.toContain(STORED_KEY);
    expect(result!.isError).toBe(false);
    expect(result!.text).toContain('hello');
    expect(result!.text).toContain('[redacted]');
    expect(result!.text).not.toContain(CANARY);
  });

  it('uses each call’s own credential (nothing cached), on the 2025 fast path too', async () => {
    const edge = stack.processes.find((p) => p.service === 'edge')!;
    const fastBefore = logLines(edge, 'tools/call fast path').length;
    const seen = await upstreamSaw(async () => {
      const res = await postMcp(
        servers.keyOn.url,
        { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'echo', arguments: { message: 'second' } } },
        { 'x-api-key': stack.bootstrapKey, 'mcp-protocol-version': '2025-06-18', 'x-upstream-authorization': CANARY_2 },
      );
      const text = await res.text();
      outputs.push(text);
      expect(res.status).toBe(200);
      expect(text).toContain('second');
      expect(text).not.toContain('"isError":true');
    });
    expect(seen.map((r) => r.headers['x-api-key'])).toEqual([CANARY_2]);
    // The fast path served it (the edge logs each such call at debug level).
    expect(logLines(edge, 'tools/call fast path').length).toBe(fastBefore + 1);
  });

  it('sends `Authorization: Bearer <caller token>` for an OpenAPI bearer scheme, never the stored token', async () => {
    const seen = await upstreamSaw(async () => {
      // A leading `Bearer ` is accepted and not doubled.
      const result = await callTool(
        servers.bearerOn.url,
        'whoami',
        {},
        { 'X-Upstream-Authorization': `Bearer ${CANARY}` },
      );
      expect(result.isError).toBe(false);
      expect(result.text).toContain('[redacted]');
    });
    expect(seen.map((r) => r.headers.authorization)).toEqual([`Bearer ${CANARY}`]);
    expect(JSON.stringify(seen)).not.toContain(STORED_TOKEN);
  });

  it('works over the legacy HTTP+SSE transport too (the header of each POSTed message)', async () => {
    const seen = await upstreamSaw(async () => {
      const result = await callTool(
        servers.bearerOn.url,
        'whoami',
        {},
        { 'X-Upstream-Authorization': CANARY_2 },
        'sse',
      );
      expect(result.isError).toBe(false);
    });
    expect(seen.map((r) => r.headers.authorization)).toEqual([`Bearer ${CANARY_2}`]);
  });

  it('still uses the stored credentials for calls without the header', async () => {
    const seen = await upstreamSaw(() => callTool(servers.bearerOn.url, 'whoami', {}));
    expect(seen.map((r) => r.headers.authorization)).toEqual([`Bearer ${STORED_TOKEN}`]);
  });

  it('records the calls and captures them redacted', async () => {
    const record = await recordOf(servers.keyOn.id, 'success');
    const debug = record.debug as { request: { headers: Record<string, string> } } | null;
    expect(debug?.request.headers['x-api-key']).toBe('[redacted]');
    expect(JSON.stringify(record)).not.toContain(CANARY);
  });

  it('refuses the header on a server that does not allow it, with a clear error and a record', async () => {
    const seen = await upstreamSaw(async () => {
      const result = await callTool(
        servers.keyOff.url,
        'echo',
        { message: 'nope' },
        { 'X-Upstream-Authorization': CANARY },
      );
      expect(result.isError).toBe(true);
      expect(result.text).toContain('does not accept the X-Upstream-Authorization header');
      expect(result.text).toContain('perRequestAuth');
    });
    expect(seen).toEqual([]);
    const record = await recordOf(servers.keyOff.id, 'rejected');
    expect(record.error_code).toBe('auth.upstream_authorization_refused');
  });

  it('is a setting a server-limited key changes only with the server_admin scope', async () => {
    const limited = await unwrap(
      client.POST('/api_keys', { body: { name: 'limited', scopes: ['management'], serverIds: [servers.keyOff.id] } }),
    );
    const res = await createManagementClient(stack.controlPlaneUrl, limited.key).PATCH('/mcp_manager/{id}', {
      params: { path: { id: servers.keyOff.id } },
      body: { perRequestAuth: true },
    });
    expect(res.response.status).toBe(403);
    expect(res.error?.detail).toContain('server_admin');
  });

  it('takes effect when the setting is switched (a new catalog version reaches the edge)', async () => {
    const updated = await unwrap(
      client.PATCH('/mcp_manager/{id}', {
        params: { path: { id: servers.keyOff.id } },
        body: { perRequestAuth: true },
      }),
    );
    expect(updated.perRequestAuth).toBe(true);
    const seen = await waitFor(
      'the edge to accept the header on the switched server',
      async () => {
        const calls = await upstreamSaw(() =>
          callTool(servers.keyOff.url, 'echo', { message: 'now' }, { 'X-Upstream-Authorization': CANARY }),
        );
        return calls.length > 0 ? calls : undefined;
      },
      PROPAGATION_DEADLINE_MS,
    );
    expect(seen.map((r) => r.headers['x-api-key'])).toEqual([CANARY]);
  });

  it('leaves no trace of the caller’s credential in any output', async () => {
    const { places, leaks } = await watch.sweep(stack, {
      outputs: outputs.join('\n'),
    });
    expect(leaks).toEqual([]);
    // The search covered real output: the services' logs and spans, Redis traffic, the calls' results.
    expect(places['log:worker-1']!.length).toBeGreaterThan(0);
    for (const service of ['toolplane-edge', 'toolplane-worker', 'toolplane-control-plane'])
      expect(places.spans).toContain(service);
    expect(places.spans).toContain('whoami');
    expect(watch.commandsSeen).toBeGreaterThan(0);
    // The jobs did carry the credential, sealed (a compact JWE: five base64url parts), for the workers only.
    const sealed = watch
      .commandsWith('upstreamAuthorization')
      .flatMap((c) => [...c.matchAll(/upstreamAuthorization\\?":\\?"([A-Za-z0-9_.-]+)/g)].map((m) => m[1]!));
    expect(sealed.length).toBeGreaterThanOrEqual(4);
    for (const jwe of sealed) expect(jwe.split('.')).toHaveLength(5);
  });
});
