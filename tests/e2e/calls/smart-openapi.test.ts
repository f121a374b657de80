import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { githubSearchQueries } from '@toolplane/examples';
import { startTestStack } from '../../helpers/stack.ts';

// SMART mode over a large real catalog deployed through the whole platform: GitHub's REST
// description (npm @octokit/openapi, 1,223 operations) is imported as an OpenAPI connector, a SMART
// server searches it with natural-language queries written for given tools (≥ 90 % in the top 3),
// and execute_tool runs one against a local stand-in for api.github.com.
// The document comes with the tests' dependencies.
const require = createRequire(import.meta.url);
const githubDocument = readFileSync(require.resolve('@octokit/openapi/generated/api.github.com.json'), 'utf8');

const queries = githubSearchQueries;

let stack: Stack;
let api: ManagementClient;
let github: Server;
let githubUrl: string;
const requests: { method: string; url: string }[] = [];
let smartUrl: string;
const toolOf = new Map<string, string>();

beforeAll(async () => {
  github = createServer((req, res) => {
    requests.push({ method: req.method!, url: req.url! });
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ id: 1296269, name: 'Hello-World', full_name: 'octocat/Hello-World', private: false }));
  });
  await new Promise<void>((r) => github.listen(0, '127.0.0.1', r));
  githubUrl = `http://127.0.0.1:${(github.address() as AddressInfo).port}`;
  ({ stack, api } = await startTestStack('smartgh'));
  // The document's JSON text as it is (the client would serialize a parsed document again).
  const connector = await unwrap(
    api.POST('/connectors', { body: githubDocument as never, bodySerializer: (body: unknown) => body as string }),
  );
  expect(connector.tools.length).toBeGreaterThan(1000);
  const full = await unwrap(api.GET('/connectors/{id}', { params: { path: { id: connector.id } } }));
  const { openapi } = full.descriptor as { openapi: { operations: { operationId: string; toolName: string }[] } };
  for (const o of openapi.operations) toolOf.set(o.operationId, o.toolName);
  await unwrap(
    api.POST('/connector_instances', {
      body: { createServer: false, connector_id: connector.id, name: 'github', base_url: githubUrl },
    }),
  );
  smartUrl = (
    await unwrap(
      api.POST('/mcp_manager', { body: { name: 'github-smart', mode: 'SMART', description: 'All of GitHub' } }),
    )
  ).url;
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await new Promise<void>((r) => github.close(() => r()));
});

async function connect(): Promise<Client> {
  const client = new Client({ name: 'smart-github', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(smartUrl), {
      requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
    }),
  );
  return client;
}

describe('SMART mode over GitHub’s REST API imported from OpenAPI', () => {
  it('finds the intended tool in the top 3 for at least 90 % of natural-language queries', async () => {
    const client = await connect();
    const misses: string[] = [];
    try {
      for (const [query, operationId] of queries) {
        const expected = toolOf.get(operationId);
        expect(expected).toBeDefined();
        const found = await client.callTool({ name: 'search_tools', arguments: { query, limit: 3 } });
        const names = (found.structuredContent as { results: { name: string }[] }).results.map((r) => r.name);
        if (!names.includes(expected!)) misses.push(`${query} → ${names.join(', ')}`);
      }
    } finally {
      await client.close();
    }
    const hitRate = (queries.length - misses.length) / queries.length;
    if (hitRate < 0.9) throw new Error(`hit rate ${hitRate}; missed:\n${misses.join('\n')}`);
    expect(hitRate).toBeGreaterThanOrEqual(0.9);
  });

  it('describes and executes a found tool against the upstream', async () => {
    const client = await connect();
    try {
      const name = toolOf.get('repos/get')!;
      const described = await client.callTool({ name: 'describe_tool', arguments: { name } });
      expect(described.structuredContent).toMatchObject({
        name,
        inputSchema: { type: 'object', required: expect.arrayContaining(['owner', 'repo']) },
      });
      requests.length = 0;
      const executed = await client.callTool({
        name: 'execute_tool',
        arguments: { name, arguments: { owner: 'octocat', repo: 'Hello-World' } },
      });
      expect(executed.isError).toBeFalsy();
      expect(executed.structuredContent).toMatchObject({ full_name: 'octocat/Hello-World' });
      expect(requests).toEqual([{ method: 'GET', url: '/repos/octocat/Hello-World' }]);
    } finally {
      await client.close();
    }
  });
});
