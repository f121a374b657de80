import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { Redis } from 'ioredis';
import { startTestStack } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

/**
 * Outputs run in the order the document declares them, whatever their names, although the control
 * plane keeps the compiled workflow (deployment, catalog version) in PostgreSQL, where `jsonb` would
 * reorder object keys (shorter first): `label` would come before `lead_city`, `aa` before `zz`, and a
 * tool's input properties would be listed `id` before `zone_name`. Checked on the
 * catalog the deployment publishes and on the one the control plane re-publishes from PostgreSQL at
 * start (Redis emptied, a fresh worker with no cached plan).
 */

let mock: Server;
let mockUrl: string;
let stack: Stack;
let api: ManagementClient;

const flow = (base: string) => `
flower: "0.1"
id: leads
flows:
  - id: lead
    description: The city of a lead
    inputs:
      properties:
        zone_name: { type: string }
        id: { type: string }
    steps:
      - id: fetch
        request:
          method: GET
          url: ${base}/lead
        outputs:
          lead_city: $response.body.city
          label: Lead in $outputs.lead_city
    outputs:
      zz: $steps.fetch.outputs.label
      aa: $outputs.zz
      city: $steps.fetch.outputs.lead_city
`;

const expected = { zz: 'Lead in Angers', aa: 'Lead in Angers', city: 'Angers' };

/** The property names of the `lead` tool's input schema, in the order tools/list gives them. */
async function inputOrder(url: string): Promise<string[]> {
  const client = new Client({ name: 'workflow-order-e2e', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { 'x-api-key': stack.bootstrapKey } } }),
  );
  try {
    const tool = (await client.listTools()).tools.find((t) => t.name === 'lead')!;
    return Object.keys(tool.inputSchema.properties ?? {});
  } finally {
    await client.close();
  }
}

async function callLead(url: string): Promise<Record<string, unknown>> {
  const client = new Client({ name: 'workflow-order-e2e', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { 'x-api-key': stack.bootstrapKey } } }),
  );
  try {
    const result = await client.callTool({ name: 'lead', arguments: {} });
    expect(result.isError).toBeFalsy();
    return result.structuredContent as Record<string, unknown>;
  } finally {
    await client.close();
  }
}

beforeAll(async () => {
  mock = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ city: 'Angers' }));
  });
  await new Promise<void>((resolve) => mock.listen(0, '127.0.0.1', resolve));
  mockUrl = `http://127.0.0.1:${(mock.address() as AddressInfo).port}`;
  ({ stack, api } = await startTestStack('workflow-order', { logLevel: 'warn' }));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await new Promise<void>((resolve) => (mock ? mock.close(() => resolve()) : resolve()));
});

describe('declaration order of workflow outputs', () => {
  it('each output sees those declared above it, after the deployment and after a re-publish from PostgreSQL', async () => {
    const server = await unwrap(api.POST('/mcp_manager', { body: { name: 'order', mode: 'NORMAL' } }));
    const deployed = await unwrap(
      api.POST('/mcp_servers/{id}/deploy', {
        params: { path: { id: server.id } },
        body: { definition: flow(mockUrl) },
      }),
    );
    expect(deployed.tools).toEqual(['lead']);

    // The catalog the deployment published (its IR was read back from the deployment's jsonb column).
    const first = await callLead(server.url);
    expect(first).toEqual(expected);
    expect(Object.keys(first)).toEqual(['zz', 'aa', 'city']);
    // Tool schemas keep the document's property order too (jsonb would give `id` first).
    expect(await inputOrder(server.url)).toEqual(['zone_name', 'id']);

    // Redis loses everything while the control plane is down; at start it re-publishes the catalog
    // stored in catalog_versions (jsonb). A fresh worker has no plan cached from the first call.
    const cp = stack.processes.find((p) => p.service === 'control-plane')!;
    await stack.stopProcess(cp);
    // `redisKeys(prefix).catalog(serverId)` and its versioned copies `…:v<n>` (packages/contracts).
    const catalogKey = `${stack.redisPrefix}:catalog:${server.id}`;
    const redis = new Redis(stack.redisUrl);
    try {
      const stale = await redis.keys(`${catalogKey}*`);
      expect(stale.length).toBeGreaterThan(0);
      await redis.del(...stale);
      await stack.startControlPlane();
      await waitFor('the catalog re-published from PostgreSQL', async () => (await redis.get(catalogKey)) ?? undefined);
    } finally {
      redis.disconnect();
    }
    const oldWorker = stack.processes.find((p) => p.service === 'worker')!;
    await stack.addWorker();
    await stack.stopProcess(oldWorker);

    const second = await callLead(server.url);
    expect(second).toEqual(expected);
    expect(Object.keys(second)).toEqual(['zz', 'aa', 'city']);
    expect(await inputOrder(server.url)).toEqual(['zone_name', 'id']);
  }, 180_000);
});
