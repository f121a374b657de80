import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Stack } from '@toolplane/cli';
import { type components, type ManagementClient, unwrap } from '@toolplane/client';
import { startTestStack } from '../../helpers/stack.ts';

// The platform manages itself over MCP: the management API's own OpenAPI document (docs/openapi.json,
// the one GET /api/v1/openapi.json serves) imported as an OpenAPI connector gives an MCP server of
// Toolplane's management operations, called through the edge and the worker like any other API.

let stack: Stack;
let api: ManagementClient;
const document = JSON.parse(readFileSync(new URL('../../../docs/openapi.json', import.meta.url), 'utf8')) as {
  paths: Record<string, Record<string, { operationId?: string }>>;
};

beforeAll(async () => {
  ({ stack, api } = await startTestStack('self-management'));
});

afterAll(async () => {
  await stack?.stop();
});

describe('Toolplane as an MCP server of its own management API', () => {
  it('serves the committed document at GET /api/v1/openapi.json, without a key', async () => {
    const res = await fetch(`${stack.controlPlaneUrl}/api/v1/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual(document);
  });

  it('imports the whole document as a connector: every operation becomes a tool', async () => {
    const operations = Object.values(document.paths).flatMap((item) => Object.values(item));
    const created = (await unwrap(
      api.POST('/connectors', { body: { kind: 'openapi', slug: 'toolplane-all', document } }),
    )) as components['schemas']['OpenApiConnector'];
    expect(created.tools.length).toBe(operations.length);
    expect(created.tools).toEqual(expect.arrayContaining(['listServers', 'createServer', 'deployWorkflow']));
    expect(created.credentialFields.map((f) => f.key)).toHaveLength(1);
  });

  it('lists the servers through MCP with a key held by the data plane only', async () => {
    const connector = (await unwrap(
      api.POST('/connectors', {
        body: {
          kind: 'openapi',
          slug: 'toolplane-admin',
          document,
          mcp_config: {
            route_mappings: [
              {
                operation_id: 'listServers',
                mcp_tool_name: 'servers_list',
                mcp_tool_description: 'List the MCP servers',
              },
            ],
          },
        },
      }),
    )) as components['schemas']['OpenApiConnector'];
    // A key of its own for the connector: management scope only, never handed to the agent.
    const key = await unwrap(api.POST('/api_keys', { body: { name: 'self', scopes: ['management'] } }));
    const instance = await unwrap(
      api.POST('/connector_instances', {
        body: {
          createServer: false,
          connector_id: connector.id,
          name: 'toolplane-itself',
          base_url: stack.controlPlaneUrl, // the document's server is /api/v1 on this origin
          credentials: { [connector.credentialFields[0]!.key]: key.key },
        },
      }),
    );
    const server = await unwrap(
      api.POST('/mcp_manager', { body: { name: 'toolplane-admin', mode: 'NORMAL', connectorInstanceId: instance.id } }),
    );

    const client = new Client({ name: 'self-management-e2e', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(server.url), {
        requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
      }),
    );
    try {
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['servers_list']);
      const result = await client.callTool({ name: 'servers_list', arguments: {} });
      expect(result.isError ? result.content : 'no error').toBe('no error');
      const listed = result.structuredContent as { data: { name: string }[] };
      expect(listed.data.map((s) => s.name)).toContain('toolplane-admin');
      expect(JSON.stringify(result)).not.toContain(key.key);
    } finally {
      await client.close();
    }
  });
});
