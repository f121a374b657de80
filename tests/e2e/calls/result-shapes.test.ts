import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { githubIssueSearch, issueSearchProjection } from '../../fixtures/github-search.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

/**
 * Results shaped for models (the server's `config.resultShapes`), on a real stack with the official SDK client: a
 * search tool whose upstream answers GitHub's full issue search gets its projection and item cap applied by the worker;
 * the tool loses its output schema in `tools/list`; the agent reads what was cut in `_meta`; a SMART server's own
 * shapes apply to what `execute_tool` runs; a preview on a pasted sample gives what the worker returned, bytes
 * included; an expression JMESPath cannot compile is refused when saved; the guardrails scan what the shape made (a
 * projection joining two halves into a card number).
 */

let stack: Stack;
let api: ManagementClient;
let upstream: Server;
let serverId: string;
let upstreamUrl: string;
let connectorId: string;
/** A Visa test number the upstream answers in two harmless halves (`q=split`). */
const card = '4111111111111111';
const clients: Client[] = [];

const openApiDocument = {
  openapi: '3.1.0',
  info: { title: 'Issues', version: '1.0.0' },
  paths: {
    '/search/issues': {
      get: {
        operationId: 'search_issues',
        parameters: [{ name: 'q', in: 'query', required: true, schema: { type: 'string' } }],
        responses: {
          '200': {
            description: 'The issues found',
            content: {
              'application/json': {
                schema: { type: 'object', properties: { total_count: { type: 'integer' }, items: { type: 'array' } } },
              },
            },
          },
        },
      },
    },
  },
};

beforeAll(async () => {
  upstream = createServer((req, res) => {
    const halves = { total_count: 1, items: [], left: card.slice(0, 8), right: card.slice(8) };
    const body = req.url?.includes('q=split') ? halves : githubIssueSearch(30);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  upstreamUrl = url;
  ({ stack, api } = await startTestStack('result-shapes', { logLevel: 'warn' }));
  const connector = await unwrap(api.POST('/connectors', { body: openApiDocument as never }));
  connectorId = connector.id;
  const instance = await unwrap(
    api.POST('/connector_instances', {
      body: { createServer: false, connector_id: connector.id, name: 'issues', base_url: url, credentials: {} },
    }),
  );
  const config = { resultShapes: { search_issues: { projection: issueSearchProjection, maxItems: 20 } } };
  serverId = (
    await unwrap(
      api.POST('/mcp_manager', { body: { name: 'issues', mode: 'NORMAL', connectorInstanceId: instance.id, config } }),
    )
  ).id;
}, 120_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await stack?.stop();
  await new Promise((r) => upstream?.close(r));
});

async function mcpClient(path: string): Promise<Client> {
  const client = new Client({ name: 'shapes', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${stack.edgeUrls[0]}/mcp/${path}`), {
      requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
    }),
  );
  clients.push(client);
  return client;
}

describe('results shaped for models', () => {
  it('a search result keeps what the projection names, at most 20 items; _meta says what was cut', async () => {
    const client = await mcpClient(serverId);
    const listed = (await client.listTools()).tools.find((t) => t.name === 'search_issues')!;
    expect(listed.outputSchema).toBeUndefined();
    const r = await client.callTool({ name: 'search_issues', arguments: { q: 'export 503' } });
    expect(r.isError).toBeFalsy();
    const shaped = r.structuredContent as { total: number; items: { number: number }[] };
    expect(Object.keys(shaped)).toEqual(['total', 'items']);
    expect(shaped.items).toHaveLength(20);
    expect(Object.keys(shaped.items[0]!).sort()).toEqual(['labels', 'number', 'state', 'title', 'url']);
    const report = (r._meta as Record<string, { bytesBefore: number; bytesAfter: number; truncated: object }>)[
      'toolplane/shape'
    ]!;
    expect(report.truncated).toEqual({ items: 10 });
    expect(report.bytesBefore).toBe(Buffer.byteLength(JSON.stringify(githubIssueSearch(30))));
    expect(report.bytesAfter).toBe(Buffer.byteLength((r.content as { text: string }[])[0]!.text));
    // The call's execution record keeps the bytes the shape saved.
    const rec = await waitFor("the shaped call's record", async () => {
      const page = await unwrap(api.GET('/execution_records', { params: { query: { limit: 50 } } }));
      return page.data.find((x) => x.tool === 'search_issues' && x.shape !== null);
    });
    expect(rec.shape).toEqual({ bytes_before: report.bytesBefore, bytes_after: report.bytesAfter });
  });

  it("a shape declared in the connector's mcp_config applies; a bad one is a 422 at its path", async () => {
    const mapping = { operation_id: 'search_issues', mcp_tool_name: 'search_issues', mcp_tool_description: 'Search' };
    const envelope = (resultShape: object) => ({
      kind: 'openapi',
      slug: 'issues-declared',
      document: openApiDocument,
      mcp_config: { route_mappings: [{ ...mapping, result_shape: resultShape }] },
    });
    const bad = await api.POST('/connectors', { body: envelope({ projection: 'items[' }) as never });
    expect(bad.response.status).toBe(422);
    expect((bad.error as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual([
      '/mcp_config/route_mappings/0/result_shape/projection',
    ]);
    const connector = await unwrap(
      api.POST('/connectors', {
        body: envelope({ projection: '{items: items[].{number: number}}', max_items: 5 }) as never,
      }),
    );
    const instance = await unwrap(
      api.POST('/connector_instances', {
        body: {
          createServer: false,
          connector_id: connector.id,
          name: 'issues-declared',
          base_url: upstreamUrl,
          credentials: {},
        },
      }),
    );
    const declared = await unwrap(
      api.POST('/mcp_manager', { body: { name: 'issues-declared', mode: 'NORMAL', connectorInstanceId: instance.id } }),
    );
    const client = await mcpClient(declared.id);
    const r = await client.callTool({ name: 'search_issues', arguments: { q: 'export' } });
    const items = (r.structuredContent as { items: object[] }).items;
    expect(items).toHaveLength(5);
    expect(items.map((i) => Object.keys(i))).toEqual(Array(5).fill(['number']));
  });

  it("SMART execute_tool gets its own server's shape for the tool it runs", async () => {
    const config = { resultShapes: { search_issues: { projection: issueSearchProjection, maxItems: 20 } } };
    const smart = await unwrap(api.POST('/mcp_manager', { body: { name: 'smart-issues', mode: 'SMART', config } }));
    const client = await mcpClient(smart.id);
    const r = await client.callTool({
      name: 'execute_tool',
      arguments: { name: 'search_issues', arguments: { q: 'export' } },
    });
    const text = (r.content as { text: string }[])[0]!.text;
    expect((JSON.parse(text) as { items: unknown[] }).items).toHaveLength(20);
  });

  it('a preview of the shape on a pasted sample gives what the worker returns, with the same bytes', async () => {
    const sample = JSON.stringify(githubIssueSearch(30));
    const client = await mcpClient(serverId);
    const r = await client.callTool({ name: 'search_issues', arguments: { q: 'export 503' } });
    const preview = await unwrap(
      api.POST('/mcp_manager/{id}/result_shapes/preview', {
        params: { path: { id: serverId } },
        body: { tool: 'search_issues', sample },
      }),
    );
    expect(preview.before).toEqual(JSON.parse(sample));
    expect(preview.after).toEqual(r.structuredContent);
    const report = (r._meta as Record<string, object>)['toolplane/shape'];
    expect(report).toEqual({
      bytesBefore: preview.bytesBefore,
      bytesAfter: preview.bytesAfter,
      truncated: preview.truncated,
    });
    // A shape given is tried without being saved; problems are listed together.
    const tried = await unwrap(
      api.POST('/mcp_manager/{id}/result_shapes/preview', {
        params: { path: { id: serverId } },
        body: { tool: 'search_issues', sample, shape: { projection: 'total_count' } },
      }),
    );
    expect(tried).toEqual({ before: JSON.parse(sample), after: 412, bytesBefore: preview.bytesBefore, bytesAfter: 3 });
    const bad = await api.POST('/mcp_manager/{id}/result_shapes/preview', {
      params: { path: { id: serverId } },
      body: { tool: 'get_issue', sample: 'plain text' },
    });
    expect(bad.response.status).toBe(422);
    expect((bad.error as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual(['/tool', '/sample']);
  });

  it('a projection JMESPath cannot compile, or a bad cap, is refused when saved, every problem listed', async () => {
    const bad = await api.PATCH('/mcp_manager/{id}', {
      params: { path: { id: serverId } },
      body: { config: { resultShapes: { search_issues: { projection: 'items[].{', maxItems: 0 }, other: 3 } } },
    });
    expect(bad.response.status).toBe(422);
    const paths = (bad.error as { errors: { path: string }[] }).errors.map((e) => e.path).sort();
    expect(paths).toEqual([
      '/config/resultShapes/other',
      '/config/resultShapes/search_issues/maxItems',
      '/config/resultShapes/search_issues/projection',
    ]);
  });

  it('the guardrails scan what the shape made: a projection joining two halves into a card number (#73, 8)', async () => {
    // A workspace-wide guardrail, before the server: its first catalog carries it (no propagation to wait for).
    const guardrail = await unwrap(
      api.POST('/guardrails', {
        body: { name: 'redact-cards', detectors: [{ kind: 'pii', types: ['card'] }], action: 'redact' } as never,
      }),
    );
    const instance = await unwrap(
      api.POST('/connector_instances', {
        body: {
          createServer: false,
          connector_id: connectorId,
          name: 'joined',
          base_url: upstreamUrl,
          credentials: {},
        },
      }),
    );
    const config = { resultShapes: { search_issues: { projection: "{number: join('', [left, right])}" } } };
    const joined = await unwrap(
      api.POST('/mcp_manager', { body: { name: 'joined', mode: 'NORMAL', connectorInstanceId: instance.id, config } }),
    );
    const client = await mcpClient(joined.id);
    const r = await client.callTool({ name: 'search_issues', arguments: { q: 'split' } });
    expect(r.structuredContent).toEqual({ number: '[redacted:pii:card]' });
    expect(JSON.stringify(r)).not.toContain(card);
    expect((r._meta as Record<string, unknown>)['toolplane/guardrails']).toEqual([
      { guardrail: 'redact-cards', detector: 'pii:card', path: '$.content[0].text.number', action: 'redact' },
      { guardrail: 'redact-cards', detector: 'pii:card', path: '$.structuredContent.number', action: 'redact' },
    ]);
    await unwrap(api.DELETE('/guardrails/{id}', { params: { path: { id: guardrail.id } } }));
  });
});
