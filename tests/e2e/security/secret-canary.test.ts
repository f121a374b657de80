import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Stack } from '@toolplane/cli';
import { createManagementClient, unwrap, type ManagementClient } from '@toolplane/client';
import { startRedisServer, type RedisHandle } from '@toolplane/embedded';
import { Redis } from 'ioredis';
import { startTestStack, yamlBody } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';
import { dumpPostgres, dumpRedis, recordingFetch } from '../../helpers/output-search.ts';

// A secret with a unique random value is used by a connector call and by a Flower flow (as a server
// secret and as a workspace secret); the upstream echoes it back in headers and body. Then every output we can reach is searched for it: every log
// line of the three services, every exported span (an OTLP receiver of this test), every Redis key and
// value and every command sent to Redis while the calls ran (job payloads, results, pub/sub: MONITOR),
// every PostgreSQL row (execution records included), every REST response and every tool result.
// 0 occurrences.
const CANARY = `canary-${randomBytes(12).toString('hex')}`;
const forms = [CANARY, Buffer.from(CANARY).toString('base64').replace(/=+$/, ''), encodeURIComponent(CANARY)];
const leaksIn = (text: string) => forms.some((f) => text.includes(f));

let stack: Stack;
/** The management client; its fetch keeps every response text in `responses` (searched at the end). */
let api: ManagementClient;
/** A Redis of this file's own: MONITOR sees this stack's commands and nothing of other test files. */
let redis: RedisHandle;
let echo: Server;
let echoUrl: string;
const responses: string[] = [];
/** Every OTLP/HTTP export the services made (raw bodies). */
let receiver: Server;
const exports: string[] = [];
/** Redis MONITOR: commands seen, and those carrying the canary (job payloads, results, messages). */
let monitor: Redis | undefined;
/** The connection `monitor()` was called on (it returns a second connection in monitor mode). */
let monitorBase: Redis | undefined;
let commandsSeen = 0;
const commandsWithCanary: string[] = [];

const descriptor = (url: string) => `
metadata: { name: Echo, slug: echo, version: "1.0.0" }
authentication:
  - type: api_key
    fields: [{ key: api_key, field_type: secret, required: true, secret: true }]
    test_endpoint: { url: "${url}/echo", method: GET, expected_status: 200 }
operations:
  - operation_id: echo
    endpoint: "${url}/echo"
    method: POST
    auth_type_ref: api_key
    auth_headers: { X-API-Key: "{api_key}" }
    parameters:
      - { name: message, location: body, field_type: string, required: true }
mcp_config:
  enabled: true
  server_name: echo
  server_description: Echo
  route_mappings:
    - { operation_id: echo, mcp_tool_name: echo, mcp_tool_description: "Echo the request back" }
`;

beforeAll(async () => {
  echo = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const key = String(req.headers['x-api-key'] ?? '');
      res.writeHead(200, { 'content-type': 'application/json', 'x-echo-key': key });
      // Asked so, the key spelled with JSON escapes only (a form no list of spellings has), beside an e-mail.
      const spelled = [...key].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
      if (body.includes('spell-escaped'))
        res.end(`{"message":"spell-escaped","key":"${spelled}","contact":"someone@example.com"}`);
      else res.end(JSON.stringify({ youSent: { headers: req.headers, body }, key }));
    });
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoUrl = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      exports.push(Buffer.concat(chunks).toString('utf8'));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const otlp = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  redis = await startRedisServer();
  // Every command sent to this Redis, from before the stack starts (publication of keys and
  // catalogs included) to the end of the file.
  monitorBase = new Redis(redis.url);
  monitor = await monitorBase.monitor();
  monitor.on('monitor', (_time: string, args: string[]) => {
    commandsSeen++;
    const text = args.join(' ');
    if (leaksIn(text)) commandsWithCanary.push(text.slice(0, 200));
  });
  ({ stack } = await startTestStack('canary', {
    redisUrl: redis.url,
    logLevel: 'debug',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: otlp, OTEL_BSP_SCHEDULE_DELAY: '100' },
  }));
  api = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey, recordingFetch(responses));
}, 120_000);

afterAll(async () => {
  monitor?.disconnect();
  monitorBase?.disconnect();
  await stack?.stop();
  await redis?.stop();
  await new Promise<void>((r) => echo.close(() => r()));
  await new Promise<void>((r) => receiver.close(() => r()));
});

async function callTool(url: string, name: string, args: Record<string, unknown>): Promise<string> {
  const client = new Client({ name: 'canary', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { 'x-api-key': stack.bootstrapKey } } }),
  );
  try {
    return JSON.stringify(await client.callTool({ name, arguments: args }));
  } finally {
    await client.close();
  }
}

describe('secrets never leave the data plane', () => {
  let toolResults = '';
  let flowResults = '';
  let echoServer: { id: string; url: string };

  it('uses the secret upstream, and the echoed value never reaches the agent', async () => {
    const connector = await unwrap(api.POST('/connectors', yamlBody(descriptor(echoUrl))));
    const instance = await unwrap(
      api.POST('/connector_instances', {
        body: { createServer: false, connector_id: connector.id, name: 'echo', credentials: { api_key: CANARY } },
      }),
    );
    const server = (await unwrap(
      api.POST('/mcp_manager', { body: { name: 'echo', mode: 'NORMAL', connectorInstanceId: instance.id } }),
    )) as { id: string; url: string };
    await unwrap(api.POST('/connector_instances/{id}/test', { params: { path: { id: instance.id } } }));
    const byId = (id: string) => ({ params: { path: { id } } });
    await unwrap(api.GET('/connectors'));
    await unwrap(api.GET('/connectors/{id}', byId(connector.id)));
    await unwrap(api.GET('/connectors/{id}/openapi.json', byId(connector.id)));
    await unwrap(api.GET('/connector_instances'));
    await unwrap(api.GET('/connector_instances/{id}', byId(instance.id)));
    await unwrap(api.GET('/mcp_manager'));
    await unwrap(api.GET('/mcp_manager/{id}', byId(server.id)));
    await unwrap(api.GET('/mcp_manager/{id}/config', byId(server.id)));
    await unwrap(api.GET('/api_keys'));
    echoServer = server;
    toolResults = await callTool(server.url, 'echo', { message: 'hello' });
    // The upstream did receive the real value and echoed it: the result shows it was redacted.
    expect(toolResults).toContain('[redacted]');
    expect(toolResults).toContain('hello');
  });

  // The Flower-flow part: a server secret set through the secrets API, used as `$secrets.API_KEY` by a
  // flow whose upstream echoes it. (Hook for workflow-specific cases: add more flows or steps here;
  // their tool results go into `flowResults`, everything else is searched by the last test.)
  it('uses the secret in a Flower flow, and the echoed value never reaches the agent', async () => {
    const server = (await unwrap(api.POST('/mcp_manager', { body: { name: 'echo-flow', mode: 'NORMAL' } }))) as {
      id: string;
      url: string;
    };
    const definition = JSON.stringify({
      flower: '0.1',
      id: 'echo-flow',
      flows: [
        {
          id: 'echo_flow',
          steps: [
            {
              id: 'echo',
              request: {
                method: 'POST',
                url: `${echoUrl}/echo?k=$secrets.API_KEY`,
                headers: { 'X-API-Key': '$secrets.API_KEY' },
                body: { message: 'from-flow', key: '$secrets.API_KEY' },
              },
              outputs: {
                key: '$response.body.key',
                header: '$response.header.x-echo-key',
                sent: '$response.body.youSent',
              },
            },
          ],
          outputs: {
            key: '$steps.echo.outputs.key',
            header: '$steps.echo.outputs.header',
            sent: '$steps.echo.outputs.sent',
          },
        },
        // A workspace secret (the server has none of that name): read the same way, redacted the same way.
        {
          id: 'echo_workspace',
          steps: [
            {
              id: 'echo',
              request: {
                method: 'POST',
                url: `${echoUrl}/echo?k=$secrets.WS_KEY`,
                headers: { 'X-API-Key': '$secrets.WS_KEY' },
                body: { message: 'from-workspace-secret', key: '$secrets.WS_KEY' },
              },
              outputs: { key: '$response.body.key', sent: '$response.body.youSent' },
            },
          ],
          outputs: { key: '$steps.echo.outputs.key', sent: '$steps.echo.outputs.sent' },
        },
      ],
    });
    const byId = { params: { path: { id: server.id } } };
    const apiKey = { params: { path: { id: server.id, name: 'API_KEY' } } };
    const wsKey = { params: { path: { name: 'WS_KEY' } } };
    await unwrap(api.POST('/mcp_servers/{id}/deploy', { ...byId, body: { definition } }));
    await unwrap(api.PUT('/mcp_servers/{id}/secrets/{name}', { ...apiKey, body: { value: CANARY } }));
    await unwrap(api.PUT('/secrets/{name}', { ...wsKey, body: { value: CANARY } }));
    await unwrap(api.GET('/secrets'));
    await unwrap(api.GET('/secrets/{name}', wsKey));
    await unwrap(api.GET('/mcp_servers/{id}/secrets', byId));
    await unwrap(api.GET('/mcp_servers/{id}/secrets/{name}', apiKey));
    await unwrap(api.GET('/mcp_servers/{id}/deployments', byId));
    await unwrap(api.GET('/mcp_manager/{id}/config', byId));
    flowResults = await callTool(server.url, 'echo_flow', {});
    expect(flowResults).not.toContain('isError":true');
    expect(flowResults).toContain('from-flow');
    expect(flowResults.toLowerCase()).toContain('[redacted]');
    const workspaceResult = await callTool(server.url, 'echo_workspace', {});
    flowResults += workspaceResult;
    expect(workspaceResult).not.toContain('isError":true');
    expect(workspaceResult).toContain('from-workspace-secret');
    expect(workspaceResult.toLowerCase()).toContain('[redacted]');
  });

  it('an echo spelled in \\u escapes: redacted in the text as decoded, and in a capture a guardrail rewrote (#73, 5, 6)', async () => {
    const byId = { params: { path: { id: echoServer.id } } };
    const flag = { name: 'flag-emails', serverId: echoServer.id, detectors: [{ kind: 'pii' }], action: 'flag' };
    await unwrap(api.POST('/guardrails', { body: flag as never }));
    await unwrap(api.POST('/mcp_manager/{id}/debug_sessions', { ...byId, body: { duration_minutes: 30 } }));
    type Result = { content: { text: string }[]; _meta?: Record<string, unknown> };
    const result = await waitFor('a result the e-mail guardrail flagged', async () => {
      const text = await callTool(echoServer.url, 'echo', { message: 'spell-escaped' });
      const r = JSON.parse(text) as Result;
      return r._meta?.['toolplane/guardrails'] ? ((toolResults += text), r) : undefined;
    });
    // What a model reads once it decodes the text: the key redacted, the flagged e-mail as it came.
    expect(JSON.parse(result.content[0]!.text)).toEqual({
      message: 'spell-escaped',
      key: '[redacted]',
      contact: 'someone@example.com',
    });
    // The call's debug capture: the guardrails wrote the body back decoded, and it was redacted again.
    const captured = await waitFor('the captured call', async () => {
      const page = await unwrap(api.GET('/execution_records', { params: { query: { limit: 50 } } }));
      for (const r of page.data.filter((x) => x.tool === 'echo')) {
        const full = await unwrap(api.GET('/execution_records/{id}', { params: { path: { id: r.id } } }));
        if (JSON.stringify(full.debug ?? null).includes('spell-escaped')) return JSON.stringify(full.debug);
      }
      return undefined;
    });
    expect(captured).toContain('[redacted]');
    expect(leaksIn(captured)).toBe(false);
    expect(leaksIn(JSON.stringify(JSON.parse(captured)))).toBe(false);
  });

  it('leaves no trace in tool results, REST responses, logs, spans, Redis or PostgreSQL', async () => {
    await unwrap(api.GET('/execution_records'));
    // Stopping the services flushes their logs and span exports.
    await Promise.all(
      stack.processes.map(
        (p) =>
          new Promise<void>((r) =>
            p.child.exitCode !== null ? r() : (p.child.once('exit', () => r()), p.child.kill('SIGTERM')),
          ),
      ),
    );
    const places: Record<string, string> = {
      toolResults,
      flowResults,
      restResponses: responses.join('\n'),
      spans: exports.join('\n'),
      redisCommands: commandsWithCanary.join('\n'),
    };
    for (const p of stack.processes) places[`log:${p.name}`] = p.output();

    const dump = await dumpRedis(stack);
    places.redis = dump.join('\n');
    expect(dump.length).toBeGreaterThan(0);

    const { tables, rows } = await dumpPostgres(stack);
    places.postgres = rows.join('\n');
    expect(tables).toEqual(expect.arrayContaining(['connector_instances', 'catalog_versions']));

    const leaks = Object.entries(places)
      .filter(([, text]) => leaksIn(text))
      .map(([where]) => where);
    expect(leaks).toEqual([]);
    // The search covered real output: logs, spans of the three services, Redis traffic, both calls' results.
    expect(places['log:worker-1']!.length).toBeGreaterThan(0);
    // Every REST answer of the management client was recorded (24 calls).
    expect(responses.length).toBeGreaterThan(20);
    for (const service of ['toolplane-edge', 'toolplane-worker', 'toolplane-control-plane'])
      expect(places.spans).toContain(service);
    expect(places.spans).toContain('echo_flow');
    expect(commandsSeen).toBeGreaterThan(0);
    expect(flowResults.length).toBeGreaterThan(0);
  });
});
