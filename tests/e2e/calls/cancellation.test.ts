import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { startTestStack, yamlBody } from '../../helpers/stack.ts';
import { scaled, waitFor } from '../../helpers/wait.ts';

// A caller that goes away (cancels or disconnects) stops the upstream call in the worker.
let stack: Stack;
let api: ManagementClient;
let upstream: Server;
let mcpUrl: string;
const events: string[] = [];

const descriptor = (url: string) => `
metadata: { name: Slow, slug: slow, version: "1.0.0" }
operations:
  - operation_id: slow
    endpoint: "${url}/slow"
    method: GET
    parameters: []
mcp_config:
  enabled: true
  server_name: slow
  server_description: Slow
  route_mappings:
    - { operation_id: slow, mcp_tool_name: slow, mcp_tool_description: "Takes five seconds" }
`;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    events.push('started');
    const timer = setTimeout(() => {
      events.push('completed');
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"done":true}');
    }, 5000);
    res.on('close', () => {
      if (!res.writableEnded) {
        clearTimeout(timer);
        events.push('aborted');
      }
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  ({ stack, api } = await startTestStack('cancel'));
  const connector = await unwrap(api.POST('/connectors', yamlBody(descriptor(url))));
  const instance = await unwrap(
    api.POST('/connector_instances', { body: { createServer: false, connector_id: connector.id, name: 'slow' } }),
  );
  mcpUrl = (
    await unwrap(api.POST('/mcp_manager', { body: { name: 'slow', mode: 'NORMAL', connectorInstanceId: instance.id } }))
  ).url;
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  upstream.closeAllConnections();
  await new Promise<void>((r) => upstream.close(() => r()));
});

const upstreamStarted = () =>
  waitFor('the upstream request to start', () => events.includes('started') || undefined, scaled(15_000));
/** Waits until the upstream request ended, aborted or (after five seconds) completed. */
const upstreamEnded = () =>
  waitFor(
    'the upstream request to end',
    () => events.includes('aborted') || events.includes('completed') || undefined,
    scaled(15_000),
  );

describe('cancellation', () => {
  it('aborts the upstream request when a 2025-era caller disconnects', async () => {
    events.length = 0;
    const controller = new AbortController();
    const call = fetch(mcpUrl, {
      method: 'POST',
      signal: controller.signal,
      headers: {
        'x-api-key': stack.bootstrapKey,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-11-25',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'slow', arguments: {} } }),
    });
    await upstreamStarted();
    controller.abort();
    await expect(call).rejects.toThrow();
    await upstreamEnded();
    expect(events).toEqual(['started', 'aborted']);
  }, 20_000);

  it('aborts the upstream request when a 2026-07-28 client cancels the call', async () => {
    events.length = 0;
    const client = new Client({ name: 'cancel', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(mcpUrl), {
        requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
      }),
    );
    const controller = new AbortController();
    const call = client.callTool({ name: 'slow', arguments: {} }, { signal: controller.signal });
    await upstreamStarted();
    controller.abort();
    await expect(call).rejects.toThrow();
    await upstreamEnded();
    expect(events).toEqual(['started', 'aborted']);
    await client.close();
  }, 20_000);
});
