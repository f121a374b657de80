import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, SSEClientTransport, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { startTestStack, yamlBody } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';
import { logLines } from '../../helpers/records.ts';

// MCP protocol behaviour of the edge on the real stack (two edges, one worker): JSON-RPC errors,
// transport limits and checks, tools/list order, progress notifications, and 2025-era cancellation
// (notifications/cancelled reaching another edge than the one running the call).
const ALLOWED_ORIGIN = 'https://app.example';

let stack: Stack;
let api: ManagementClient;
let upstream: Server;
let up: string;
let httpUrl: string;
let flowUrl: string;
const events: string[] = [];
/** How long the upstream's /slow takes to answer. */
let slowMs = 1500;

const descriptor = (url: string) => `
metadata: { name: Proto, slug: proto, version: "1.0.0" }
operations:
  - operation_id: zeta
    endpoint: "${url}/fast"
    method: GET
    parameters: []
  - operation_id: alpha
    endpoint: "${url}/fast"
    method: GET
    parameters: []
  - operation_id: slow
    endpoint: "${url}/slow"
    method: GET
    parameters: []
  - operation_id: mid
    endpoint: "${url}/fast"
    method: GET
    parameters: []
mcp_config:
  enabled: true
  server_name: proto
  server_description: Protocol checks
  route_mappings:
    - { operation_id: zeta, mcp_tool_name: zeta, mcp_tool_description: "Listed first" }
    - { operation_id: alpha, mcp_tool_name: alpha, mcp_tool_description: "Listed second" }
    - { operation_id: slow, mcp_tool_name: slow, mcp_tool_description: "Takes 1.5 seconds" }
    - { operation_id: mid, mcp_tool_name: mid, mcp_tool_description: "Listed last" }
`;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/slow') {
      events.push('started');
      const timer = setTimeout(() => {
        events.push('completed');
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"done":true}');
      }, slowMs);
      res.on('close', () => {
        if (!res.writableEnded) {
          clearTimeout(timer);
          events.push('aborted');
        }
      });
      return;
    }
    // Workflow steps answer after a short pause, so that progress has time to travel.
    setTimeout(
      () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'item-1', path })),
      path.startsWith('/wf/') ? 150 : 0,
    );
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  up = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  ({ stack, api } = await startTestStack('protocol', {
    edges: 2,
    // Edges log (at debug level) each notifications/cancelled they handle, and whether it aborted a request.
    serviceEnv: { edge: { ALLOWED_ORIGINS: ALLOWED_ORIGIN, PROGRESS_INTERVAL_MS: '400', LOG_LEVEL: 'debug' } },
  }));
  const connector = await unwrap(api.POST('/connectors', yamlBody(descriptor(up))));
  const instance = await unwrap(
    api.POST('/connector_instances', { body: { createServer: false, connector_id: connector.id, name: 'proto' } }),
  );
  const server = await unwrap(
    api.POST('/mcp_manager', { body: { name: 'proto', mode: 'NORMAL', connectorInstanceId: instance.id } }),
  );
  httpUrl = server.url;
  const flow = await unwrap(api.POST('/mcp_manager', { body: { name: 'proto-flow', mode: 'NORMAL' } }));
  const definition = JSON.stringify({
    flower: '0.1',
    id: 'proto-flow',
    flows: [
      {
        id: 'two_steps',
        inputs: { properties: {} },
        steps: [
          { id: 'lookup', request: { method: 'GET', url: `${up}/wf/lookup` }, outputs: { id: '$response.body.id' } },
          {
            id: 'details',
            request: { method: 'GET', url: `${up}/wf/details`, query: { id: '$steps.lookup.outputs.id' } },
            outputs: { path: '$response.body.path' },
          },
        ],
        outputs: { id: '$steps.lookup.outputs.id', path: '$steps.details.outputs.path' },
      },
    ],
  });
  await unwrap(api.POST('/mcp_servers/{id}/deploy', { params: { path: { id: flow.id } }, body: { definition } }));
  flowUrl = flow.url;
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  upstream.closeAllConnections();
  await new Promise<void>((r) => upstream.close(() => r()));
});

/** The same server path on the n-th edge. */
function onEdge(url: string, n: number): string {
  const u = new URL(url);
  return `${stack.edgeUrls[n]}${u.pathname}`;
}

const base = () => ({
  'x-api-key': stack.bootstrapKey,
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
});
const v2025 = () => ({ ...base(), 'mcp-protocol-version': '2025-11-25' });

function post(url: string, body: unknown, headers: Record<string, string> = v2025()): Promise<Response> {
  return fetch(url, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

/** JSON-RPC messages of a response, whether it came as JSON or as an SSE stream. */
async function messages(res: Response): Promise<Record<string, any>[]> {
  const text = await res.text();
  if (!(res.headers.get('content-type') ?? '').includes('text/event-stream')) return [JSON.parse(text)];
  return text
    .split('\n')
    .filter((l) => l.startsWith('data:') && l.length > 6)
    .map((l) => JSON.parse(l.slice(5)));
}

async function connectModern(url: string): Promise<Client> {
  const client = new Client({ name: 'protocol', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { 'x-api-key': stack.bootstrapKey } } }),
  );
  return client;
}

/** Waits until the upstream saw `event` ('started', 'aborted', 'completed'). */
async function upstreamSaw(event: string): Promise<void> {
  await waitFor(`the upstream to see ${event}`, () => events.includes(event) || undefined);
}

describe('JSON-RPC errors', () => {
  it('answers a call of an unknown tool with a JSON-RPC error (-32602), not a tool result, in both eras', async () => {
    const res = await post(httpUrl, {
      jsonrpc: '2.0',
      id: 7,
      method: 'tools/call',
      params: { name: 'nope', arguments: {} },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      jsonrpc: '2.0',
      id: 7,
      error: { code: -32602, message: expect.stringContaining('Unknown tool: nope') },
    });
    const client = await connectModern(httpUrl);
    await expect(client.callTool({ name: 'nope', arguments: {} })).rejects.toMatchObject({ code: -32602 });
    await client.close();
  });

  it('answers an unknown method with -32601', async () => {
    const res = await post(httpUrl, { jsonrpc: '2.0', id: 'x', method: 'resources/list', params: {} });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ jsonrpc: '2.0', id: 'x', error: { code: -32601 } });
  });

  it('refuses bodies that are not JSON (-32700) or not JSON-RPC, with HTTP 400', async () => {
    const notJson = await post(httpUrl, '{"jsonrpc": "2.0", "id": 1, "method": ');
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toEqual({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32700, message: expect.any(String) },
    });
    for (const body of [
      { hello: 'world' },
      { jsonrpc: '1.0', id: 1, method: 'tools/list' },
      { jsonrpc: '2.0', id: 1, method: 42 },
    ]) {
      const res = await post(httpUrl, body);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({
        jsonrpc: '2.0',
        error: { code: expect.any(Number), message: expect.any(String) },
      });
    }
  });
});

describe('HTTP transport checks', () => {
  it('refuses a body over MAX_BODY_BYTES with 413 and a JSON-RPC error', async () => {
    const big = {
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'zeta', arguments: { pad: 'x'.repeat(1024 * 1024 + 10) } },
    };
    const res = await post(httpUrl, big);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32600 } });
  });

  it('refuses an unsupported MCP-Protocol-Version header with 400', async () => {
    const res = await post(
      httpUrl,
      { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} },
      { ...base(), 'mcp-protocol-version': '1999-01-01' },
    );
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      jsonrpc: '2.0',
      error: { message: expect.stringMatching(/protocol version/i) },
    });
  });

  it('refuses a foreign Origin with 403 and accepts an allowed one or none', async () => {
    const list = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} };
    expect((await post(httpUrl, list, { ...v2025(), origin: 'http://evil.example' })).status).toBe(403);
    expect((await post(httpUrl, list, { ...v2025(), origin: ALLOWED_ORIGIN })).status).toBe(200);
    expect((await post(httpUrl, list)).status).toBe(200);
  });

  it('answers CORS for an allowed origin only: preflight with the requested headers, readable responses', async () => {
    const preflight = (origin: string) =>
      fetch(httpUrl, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,x-api-key,mcp-protocol-version,mcp-param-city',
        },
      });
    const allowed = await preflight(ALLOWED_ORIGIN);
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
    expect(allowed.headers.get('access-control-allow-methods')).toBe('GET, POST, DELETE');
    expect(allowed.headers.get('access-control-allow-headers')).toBe(
      'content-type,x-api-key,mcp-protocol-version,mcp-param-city',
    );
    const foreign = await preflight('http://evil.example');
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    expect(foreign.status).not.toBe(204);

    const list = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} };
    const read = await post(httpUrl, list, { ...v2025(), origin: ALLOWED_ORIGIN });
    expect(read.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
    expect(read.headers.get('vary')).toMatch(/origin/i);
    const refused = await post(httpUrl, list, { ...v2025(), origin: 'http://evil.example' });
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('issues an Mcp-Session-Id at initialize (2025 era) and accepts it on any edge; GET and DELETE are 405', async () => {
    const init = await post(httpUrl, {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'p', version: '1' } },
    });
    const sessionId = init.headers.get('mcp-session-id');
    expect(sessionId).toMatch(/^[0-9a-f-]{36}$/);
    const other = await post(
      onEdge(httpUrl, 1),
      { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} },
      { ...v2025(), 'mcp-session-id': sessionId! },
    );
    expect(other.status).toBe(200);
    expect(
      (
        await fetch(httpUrl, {
          method: 'GET',
          headers: { ...v2025(), accept: 'text/event-stream', 'mcp-session-id': sessionId! },
        })
      ).status,
    ).toBe(405);
    expect(
      (await fetch(httpUrl, { method: 'DELETE', headers: { ...v2025(), 'mcp-session-id': sessionId! } })).status,
    ).toBe(405);
  });
});

describe('tools/list', () => {
  it('lists tools in catalog (descriptor) order, identically on every edge, every time and in both eras', async () => {
    const names: string[][] = [];
    for (const n of [0, 1, 0, 1]) {
      const [msg] = await messages(
        await post(onEdge(httpUrl, n), { jsonrpc: '2.0', id: n, method: 'tools/list', params: {} }),
      );
      names.push((msg!.result.tools as { name: string }[]).map((t) => t.name));
    }
    const client = await connectModern(onEdge(httpUrl, 1));
    names.push((await client.listTools()).tools.map((t) => t.name));
    await client.close();
    for (const list of names) expect(list).toEqual(['zeta', 'alpha', 'slow', 'mid']);
  });
});

describe('progress notifications', () => {
  it('answers plain JSON, without notifications, when the caller sent no progress token', async () => {
    const res = await post(flowUrl, {
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'two_steps', arguments: {} },
    });
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const [msg] = await messages(res);
    expect(msg!.result.structuredContent).toEqual({ id: 'item-1', path: '/wf/details' });
  });

  it('reports the steps of a workflow run (2025 era, SSE), progress increasing, before the result', async () => {
    const res = await post(flowUrl, {
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/call',
      params: { name: 'two_steps', arguments: {}, _meta: { progressToken: 'wf-1' } },
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const all = await messages(res);
    const progress = all.filter((m) => m.method === 'notifications/progress').map((m) => m.params);
    const steps = progress.filter((p) => /^Step /.test(p.message));
    expect(steps.map((p) => p.message)).toEqual([
      'Step "lookup" done (1 step run)',
      'Step "details" done (2 steps run)',
    ]);
    expect(progress.every((p) => p.progressToken === 'wf-1')).toBe(true);
    const values = progress.map((p) => p.progress as number);
    expect(values).toEqual([...values].sort((a, b) => a - b));
    expect(new Set(values).size).toBe(values.length);
    expect(all.at(-1)).toMatchObject({ id: 2, result: { structuredContent: { id: 'item-1', path: '/wf/details' } } });
  });

  it('sends periodic progress while a slow HTTP tool runs (2026-07-28 client, onprogress)', async () => {
    const client = await connectModern(httpUrl);
    const seen: { progress: number; message?: string }[] = [];
    const result = await client.callTool({ name: 'slow', arguments: {} }, { onprogress: (p) => void seen.push(p) });
    await client.close();
    expect(result.isError).toBeFalsy();
    expect(seen.length).toBeGreaterThanOrEqual(2); // 1.5 s at one per 400 ms
    expect(seen.map((p) => p.progress)).toEqual(seen.map((_, i) => i + 1));
    expect(seen[0]!.message).toMatch(/^Still running \(\d+ s\)$/);
  });

  it('sends progress over the legacy HTTP+SSE transport too', async () => {
    const withKey = (u: string | URL | Request, init?: RequestInit) => {
      const h = new Headers(init?.headers);
      h.set('x-api-key', stack.bootstrapKey);
      return fetch(u, { ...init, headers: h });
    };
    const client = new Client({ name: 'protocol-sse', version: '1.0.0' });
    await client.connect(
      new SSEClientTransport(new URL(`${stack.edgeUrl}/api/v1${new URL(httpUrl).pathname}`), {
        requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
        eventSourceInit: { fetch: withKey },
      }),
    );
    const seen: { progress: number; message?: string }[] = [];
    // (A notification sent just before the result can lose the race in the client SDK, which drops
    // progress once the result is in: the periodic ones are far from it.)
    const result = await client.callTool({ name: 'slow', arguments: {} }, { onprogress: (p) => void seen.push(p) });
    await client.close();
    expect(result.isError).toBeFalsy();
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen.map((p) => p.progress)).toEqual(seen.map((_, i) => i + 1));
  });
});

describe('cancellation (2025 era)', () => {
  it('stops the job in the worker when notifications/cancelled for the request reaches another edge', async () => {
    events.length = 0;
    slowMs = 120_000; // the upstream holds the call until it is aborted (or the test fails)
    try {
      const init = await post(httpUrl, {
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'p', version: '1' } },
      });
      const session = { ...v2025(), 'mcp-session-id': init.headers.get('mcp-session-id')! };
      const call = post(
        httpUrl,
        { jsonrpc: '2.0', id: 'call-1', method: 'tools/call', params: { name: 'slow', arguments: {} } },
        session,
      ).then((r) => r.text());
      await upstreamSaw('started');
      // The edge holding the request (the first) logs every cancellation it handles.
      const holder = stack.processes.find((p) => p.url === stack.edgeUrls[0])!;
      const handled = () => logLines(holder, 'notifications/cancelled handled').filter((l) => l.requestId === 'call-1');
      expect(handled()).toEqual([]);
      // Another client's notification naming the same request id changes nothing (scope: credentials +
      // server + session), nor does one outside any session (answered without being published).
      for (const other of [v2025(), { ...v2025(), 'mcp-session-id': 'another-session' }]) {
        const stranger = await post(
          onEdge(httpUrl, 1),
          { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'call-1' } },
          other,
        );
        expect(stranger.status).toBe(202);
      }
      // Positive signal: the holding edge has handled the other session's cancellation, and it aborted nothing.
      const strangers = await waitFor('the holding edge to handle the stranger cancellation', () =>
        handled().length >= 1 ? handled() : undefined,
      );
      expect(strangers.map((l) => l.aborted)).toEqual([false]);
      expect(events).toEqual(['started']);
      const cancel = await post(
        onEdge(httpUrl, 1),
        {
          jsonrpc: '2.0',
          method: 'notifications/cancelled',
          params: { requestId: 'call-1', reason: 'user pressed stop' },
        },
        session,
      );
      expect(cancel.status).toBe(202);
      await upstreamSaw('aborted');
      expect(events).toEqual(['started', 'aborted']);
      // Handled in order on the holding edge: the stranger's ignored, the caller's own aborted the request.
      // (Its log line travels through the edge's stdout, which may arrive after the upstream saw the abort.)
      const all = await waitFor('the holding edge to log the caller cancellation', () =>
        handled().length >= 2 ? handled() : undefined,
      );
      expect(all.map((l) => l.aborted)).toEqual([false, true]);
      await call;
    } finally {
      slowMs = 1500;
    }
  }, 60_000);

  it('leaves other requests running', async () => {
    events.length = 0;
    const res = await post(onEdge(httpUrl, 1), {
      jsonrpc: '2.0',
      id: 5,
      method: 'tools/call',
      params: { name: 'slow', arguments: {} },
    });
    const [msg] = await messages(res);
    expect(msg!.result.isError).toBeFalsy();
    expect(events).toEqual(['started', 'completed']);
  }, 20_000);
});
