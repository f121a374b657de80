import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Stack } from '@toolplane/cli';
import { ApiError, type ManagementClient, unwrap } from '@toolplane/client';
import {
  startSseMcpServer,
  startStreamableMcpServer,
  type ExternalMcpServer,
  type FixtureTool,
} from '../../fixtures/mcp-servers.ts';
import { startTestStack } from '../../helpers/stack.ts';

const tools: FixtureTool[] = [
  {
    name: 'lookup_order',
    description: 'Find an order by id',
    inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
  },
  {
    name: 'refund_order',
    description: 'Refund an order',
    inputSchema: { type: 'object', properties: { id: { type: 'string' } } },
  },
];

let stack: Stack;
let api: ManagementClient;
let streamable: ExternalMcpServer;
let sse: ExternalMcpServer;

beforeAll(async () => {
  streamable = await startStreamableMcpServer({ tools, requiredHeader: ['authorization', 'Bearer remote-token'] });
  sse = await startSseMcpServer({ tools: tools.slice(0, 1) });
  ({ stack, api } = await startTestStack('remote'));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await streamable?.close();
  await sse?.close();
});

describe('POST /api/v1/mcp_manager/load-tools-from-url', () => {
  it('lists a Streamable HTTP server’s tools through the worker, sending the given headers, and caches the list', async () => {
    const first = await unwrap(
      api.POST('/mcp_manager/load-tools-from-url', {
        body: { url: streamable.url, headers: { authorization: 'Bearer remote-token' }, cacheMinutes: 5 },
      }),
    );
    expect(first).toMatchObject({ transport: 'streamable-http', cached: false });
    expect(first.tools.map((t) => [t.name, t.description])).toEqual([
      ['lookup_order', 'Find an order by id'],
      ['refund_order', 'Refund an order'],
    ]);
    expect(streamable.requests.some((h) => h.authorization === 'Bearer remote-token')).toBe(true);
    const seen = streamable.requests.length;
    const second = await unwrap(
      api.POST('/mcp_manager/load-tools-from-url', {
        body: { url: streamable.url, headers: { authorization: 'Bearer remote-token' }, cacheMinutes: 5 },
      }),
    );
    expect(second.cached).toBe(true);
    expect(second.tools).toEqual(first.tools);
    expect(streamable.requests.length).toBe(seen);
  });

  it('falls back to the legacy HTTP+SSE transport', async () => {
    const loaded = await unwrap(
      api.POST('/mcp_manager/load-tools-from-url', { body: { url: sse.url, cacheMinutes: 0 } }),
    );
    expect(loaded).toMatchObject({ transport: 'sse', cached: false });
    expect(loaded.tools.map((t) => t.name)).toEqual(['lookup_order']);
  });

  it('reports a server it cannot list as 502 with the reason, and refused credentials likewise', async () => {
    for (const body of [
      { url: 'http://127.0.0.1:9/mcp', cacheMinutes: 0 },
      { url: streamable.url, headers: { authorization: 'Bearer wrong' }, cacheMinutes: 0 },
    ]) {
      const err = await unwrap(api.POST('/mcp_manager/load-tools-from-url', { body })).then(
        () => undefined,
        (e: unknown) => e as ApiError,
      );
      expect(err?.status).toBe(502);
      expect((err?.body as { code: string; detail: string }).code).toBe('upstream.unreachable');
      expect((err?.body as { detail: string }).detail).toMatch(
        /^could not list tools at http:\/\/127\.0\.0\.1:\d+\/mcp/,
      );
    }
  });

  it('validates the body', async () => {
    const err = await unwrap(
      api.POST('/mcp_manager/load-tools-from-url', { body: { url: 'ftp://x', cacheMinutes: -1 } }),
    ).then(
      () => undefined,
      (e: unknown) => e as ApiError,
    );
    expect(err?.status).toBe(422);
    expect((err?.body as { errors: { path: string }[] }).errors.map((e) => e.path).sort()).toEqual([
      '/cacheMinutes',
      '/url',
    ]);
  });
});
