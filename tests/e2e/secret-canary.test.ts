import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Stack } from '@toolplane/cli';
import { Redis } from 'ioredis';
import pg from 'pg';
import { startTestStack } from '../helpers.ts';

// A secret with a unique random value is used by a connector call; the upstream echoes it back in
// headers and body. Then every output we can reach is searched for it: 0 occurrences.
const CANARY = `canary-${randomBytes(12).toString('hex')}`;
const forms = [CANARY, Buffer.from(CANARY).toString('base64').replace(/=+$/, '')];

let stack: Stack;
let echo: Server;
let echoUrl: string;
const responses: string[] = [];

function track(text: string): string {
  responses.push(text);
  return text;
}

async function rest(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<unknown> {
  const res = await fetch(`${stack.controlPlaneUrl}/api/v1${path}`, {
    method,
    headers: { 'x-api-key': stack.bootstrapKey, ...(body !== undefined ? { 'content-type': contentType } : {}) },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = track(await res.text());
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

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
      res.end(JSON.stringify({ youSent: { headers: req.headers, body }, key }));
    });
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoUrl = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
  ({ stack } = await startTestStack('canary', { logLevel: 'debug' }));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await new Promise<void>((r) => echo.close(() => r()));
});

describe('secrets never leave the data plane', () => {
  let toolResults = '';

  it('uses the secret upstream, and the echoed value never reaches the agent', async () => {
    const connector = (await rest('POST', '/connectors', descriptor(echoUrl), 'application/yaml')) as { id: string };
    const instance = (await rest('POST', '/connector_instances', { connector_id: connector.id, name: 'echo', credentials: { api_key: CANARY } })) as { id: string };
    const server = (await rest('POST', '/mcp_manager', { name: 'echo', mode: 'NORMAL', connectorInstanceId: instance.id })) as { id: string; url: string };
    await rest('POST', `/connector_instances/${instance.id}/test`);
    for (const path of ['/connectors', `/connectors/${connector.id}`, `/connectors/${connector.id}/openapi.json`, '/connector_instances', `/connector_instances/${instance.id}`, '/mcp_manager', `/mcp_manager/${server.id}`, `/mcp_manager/${server.id}/config`, '/api_keys']) {
      await rest('GET', path);
    }
    const client = new Client({ name: 'canary', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(server.url), { requestInit: { headers: { 'x-api-key': stack.bootstrapKey } } }));
    const result = await client.callTool({ name: 'echo', arguments: { message: 'hello' } });
    await client.close();
    toolResults = JSON.stringify(result);
    // The upstream did receive the real value and echoed it: the result shows it was redacted.
    expect(toolResults).toContain('[redacted]');
    expect(toolResults).toContain('hello');
  });

  it('leaves no trace in tool results, REST responses, logs, Redis or PostgreSQL', async () => {
    const places: Record<string, string> = { toolResults, restResponses: responses.join('\n') };
    for (const p of stack.processes) places[`log:${p.name}`] = p.output();

    const redis = new Redis(stack.redisUrl);
    const dump: string[] = [];
    for (const key of await redis.keys(`${stack.redisPrefix}:*`)) {
      const type = await redis.type(key);
      dump.push(key);
      if (type === 'string') dump.push((await redis.get(key)) ?? '');
      else if (type === 'hash') dump.push(JSON.stringify(await redis.hgetall(key)));
      else if (type === 'list') dump.push(JSON.stringify(await redis.lrange(key, 0, -1)));
      else if (type === 'set') dump.push(JSON.stringify(await redis.smembers(key)));
      else if (type === 'zset') dump.push(JSON.stringify(await redis.zrange(key, '0', '-1')));
      else if (type === 'stream') dump.push(JSON.stringify(await redis.xrange(key, '-', '+')));
    }
    redis.disconnect();
    places.redis = dump.join('\n');
    expect(dump.length).toBeGreaterThan(0);

    const db = new pg.Client({ connectionString: stack.databaseUrl });
    await db.connect();
    const tables = (await db.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`)).rows.map((r) => r.table_name);
    const rows: string[] = [];
    for (const t of tables) rows.push(JSON.stringify((await db.query(`SELECT * FROM "${t}"`)).rows));
    await db.end();
    places.postgres = rows.join('\n');
    expect(tables).toEqual(expect.arrayContaining(['connector_instances', 'catalog_versions']));

    const leaks = Object.entries(places).filter(([, text]) => forms.some((f) => text.includes(f))).map(([where]) => where);
    expect(leaks).toEqual([]);
    // The logs are not empty: the search covered real output.
    expect(places['log:worker-1']!.length).toBeGreaterThan(0);
  });
});
