import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { startTestStack, yamlBody } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

/**
 * The worker's outbound guard on the real stack. Only 127.0.0.2 is allowlisted (OUTBOUND_ALLOW), as
 * a development setting would allow one local upstream; everything else private must be refused
 * with a clear tool error, without a connection: 127.0.0.1, 10.0.0.1, 169.254.169.254, [::1], a
 * host name resolving to loopback (`localhost`), and redirects from the allowlisted upstream to
 * such addresses.
 */

let stack: Stack;
let api: ManagementClient;
/** An upstream that must never be reached (loopback, not allowlisted). */
let forbidden: Server;
let forbiddenPort: number;
const forbiddenHits: string[] = [];
/** The allowlisted upstream on 127.0.0.2: answers /echo, redirects elsewhere. */
let allowed: Server;
let allowedUrl: string;

const cases = () => ({
  loopback: [`http://127.0.0.1:${forbiddenPort}/echo`, 'refused: 127.0.0.1 is a loopback address'],
  private_net: ['http://10.0.0.1/internal', 'refused: 10.0.0.1 is a private address'],
  metadata: [
    'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
    'refused: 169.254.169.254 is a cloud metadata address',
  ],
  ipv6_loopback: [`http://[::1]:${forbiddenPort}/echo`, 'refused: ::1 is a loopback address'],
  name_to_loopback: [
    `http://localhost:${forbiddenPort}/echo`,
    'refused: localhost resolves to a loopback address (127.0.0.1)',
  ],
  redirect_private: [`${allowedUrl}/to/private`, 'refused: 10.0.0.1 is a private address'],
  redirect_metadata: [`${allowedUrl}/to/metadata`, 'refused: 169.254.169.254 is a cloud metadata address'],
  redirect_name: [`${allowedUrl}/to/localhost`, 'refused: localhost resolves to a loopback address (127.0.0.1)'],
});

const descriptor = () => `
metadata: { name: Probe, slug: probe, version: "1.0.0" }
operations:
${[['ok', `${allowedUrl}/echo`], ...Object.entries(cases()).map(([id, [url]]) => [id, url!])].map(([id, url]) => `  - { operation_id: ${id}, endpoint: "${url}", method: GET }`).join('\n')}
mcp_config:
  enabled: true
  server_name: probe
  server_description: Outbound probes
  route_mappings:
${['ok', ...Object.keys(cases())].map((id) => `    - { operation_id: ${id}, mcp_tool_name: ${id}, mcp_tool_description: "probe ${id}" }`).join('\n')}
`;

beforeAll(async () => {
  forbidden = createServer((req, res) => {
    forbiddenHits.push(req.url ?? '');
    res.writeHead(200).end('{"reached":"forbidden"}');
  });
  await new Promise<void>((r) => forbidden.listen(0, '127.0.0.1', r));
  forbiddenPort = (forbidden.address() as AddressInfo).port;
  allowed = createServer((req, res) => {
    const to: Record<string, string> = {
      '/to/private': 'http://10.0.0.1/admin',
      '/to/metadata': 'http://169.254.169.254/latest/meta-data/',
      '/to/localhost': `http://localhost:${forbiddenPort}/echo`,
    };
    if (req.url && to[req.url]) return void res.writeHead(302, { location: to[req.url] }).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"reached":"allowed"}');
  });
  await new Promise<void>((r) => allowed.listen(0, '127.0.0.2', r));
  allowedUrl = `http://127.0.0.2:${(allowed.address() as AddressInfo).port}`;
  ({ stack, api } = await startTestStack('ssrf', { outboundAllow: '127.0.0.2' }));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await new Promise<void>((r) => forbidden.close(() => r()));
  await new Promise<void>((r) => allowed.close(() => r()));
});

describe('outbound guard (SSRF)', () => {
  let client: Client;
  let serverId: string;

  beforeAll(async () => {
    const connector = await unwrap(api.POST('/connectors', yamlBody(descriptor())));
    const instance = await unwrap(
      api.POST('/connector_instances', { body: { createServer: false, connector_id: connector.id, name: 'probe' } }),
    );
    const server = await unwrap(
      api.POST('/mcp_manager', { body: { name: 'probe', mode: 'NORMAL', connectorInstanceId: instance.id } }),
    );
    serverId = server.id;
    client = new Client({ name: 'ssrf', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(server.url), {
        requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
      }),
    );
  });

  afterAll(async () => {
    await client?.close();
  });

  it('reaches the allowlisted upstream (the probe works)', async () => {
    const r = await client.callTool({ name: 'ok', arguments: {} });
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent).toEqual({ reached: 'allowed' });
  });

  it.each([
    'loopback',
    'private_net',
    'metadata',
    'ipv6_loopback',
    'name_to_loopback',
    'redirect_private',
    'redirect_metadata',
    'redirect_name',
  ])('refuses %s with a clear tool error', async (tool) => {
    const message = cases()[tool as keyof ReturnType<typeof cases>][1]!;
    const r = await client.callTool({ name: tool, arguments: {} });
    expect(r.isError).toBe(true);
    const text = (r.content as { type: string; text: string }[])[0]!.text;
    expect(text).toContain(`The upstream request was ${message}`);
    expect(text).toContain('OUTBOUND_ALLOW');
  });

  it('never connected to a refused address, and records the refusals as unreachable steps', async () => {
    expect(forbiddenHits).toEqual([]);
    const metadata = await waitFor('the execution record of the metadata call', async () =>
      (await unwrap(api.GET('/execution_records', { params: { query: { server_id: serverId } } }))).data.find(
        (r) => r.tool === 'metadata',
      ),
    );
    expect(JSON.stringify(metadata)).toContain('upstream.unreachable');
  });
});
