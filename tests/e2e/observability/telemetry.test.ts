import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { registerTicketExample, repoRoot, type RegisteredExample, type Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, ticketSystemDescriptorYaml, type TicketSystem } from '@toolplane/examples';
import { freePort } from '@toolplane/embedded';
import { startSamlIdp, type SamlIdp } from '../../helpers/saml-idp.ts';
import { startTestStack, yamlBody } from '../../helpers/stack.ts';
import { scaled, waitFor } from '../../helpers/wait.ts';

// One trace per tool call across edge → Redis → worker → upstream (and the control plane
// storing its record), received by an OTLP/HTTP endpoint of this test, with W3C context reaching the
// upstream and no secret value in any span.

/** The upstream API key: a unique value searched for in everything exported. */
const CANARY = `canary-${randomBytes(12).toString('hex')}`;

/** OTLP span kinds. */
const Kind = { INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 } as const;

interface OtlpValue {
  stringValue?: string;
  intValue?: number | string;
  boolValue?: boolean;
  doubleValue?: number;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string | number;
  attributes?: { key: string; value: OtlpValue }[];
  status?: { code?: number };
}
interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  kind: number;
  status: number;
  start: bigint;
  attributes: Record<string, string | number | boolean | undefined>;
}

let stack: Stack;
let api: ManagementClient;
let upstream: TicketSystem;
let example: RegisteredExample;
let receiver: Server;
/** An identity provider whose certificate the control plane reports the expiry of (it is valid for one day). */
let idp: SamlIdp;
/** An audit exporter whose receiver never answers: its lag is reported. */
let exporterId: string;
/** Every OTLP request body received, raw (for the canary search) and decoded. */
const rawPayloads: string[] = [];
const spans: ReceivedSpan[] = [];

function scalar(v: OtlpValue): string | number | boolean | undefined {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  return v.boolValue;
}

/** OpenTelemetry log records received (the control plane's audit events). */
const logRecords: {
  service: string;
  scope: string;
  eventName: string;
  body: string;
  attributes: Record<string, unknown>;
}[] = [];

function receiveLogs(text: string): void {
  const payload = JSON.parse(text) as {
    resourceLogs: {
      resource: { attributes: { key: string; value: OtlpValue }[] };
      scopeLogs: {
        scope: { name: string };
        logRecords: { eventName?: string; body?: OtlpValue; attributes?: { key: string; value: OtlpValue }[] }[];
      }[];
    }[];
  };
  for (const rl of payload.resourceLogs) {
    const service = String(scalar(rl.resource.attributes.find((a) => a.key === 'service.name')!.value));
    for (const sl of rl.scopeLogs)
      for (const r of sl.logRecords)
        logRecords.push({
          service,
          scope: sl.scope.name,
          eventName: r.eventName ?? '',
          body: String(r.body ? scalar(r.body) : ''),
          attributes: Object.fromEntries((r.attributes ?? []).map((a) => [a.key, scalar(a.value)])),
        });
  }
}

function startReceiver(): Promise<string> {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/logs' && String(req.headers['content-type']).includes('json')) {
        const text = Buffer.concat(chunks).toString('utf8');
        rawPayloads.push(text);
        receiveLogs(text);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        return;
      }
      if (req.method !== 'POST' || req.url !== '/v1/traces' || !String(req.headers['content-type']).includes('json')) {
        res.writeHead(415).end();
        return;
      }
      const body = Buffer.concat(chunks).toString('utf8');
      rawPayloads.push(body);
      const payload = JSON.parse(body) as {
        resourceSpans: {
          resource: { attributes: { key: string; value: OtlpValue }[] };
          scopeSpans: { spans: OtlpSpan[] }[];
        }[];
      };
      for (const rs of payload.resourceSpans) {
        const service = String(scalar(rs.resource.attributes.find((a) => a.key === 'service.name')!.value));
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            spans.push({
              service,
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId || undefined,
              name: s.name,
              kind: s.kind,
              status: s.status?.code ?? 0,
              start: BigInt(s.startTimeUnixNano),
              attributes: Object.fromEntries((s.attributes ?? []).map((a) => [a.key, scalar(a.value)])),
            });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  return new Promise((resolve) =>
    receiver.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(receiver.address() as AddressInfo).port}`)),
  );
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

/** Spans of one trace, once every `expected` name has arrived from its service. */
async function waitForTrace(
  traceId: string,
  expected: [service: string, name: string][],
  timeoutMs = scaled(20_000),
): Promise<ReceivedSpan[]> {
  return waitFor(
    `trace ${traceId} with ${JSON.stringify(expected)}`,
    () => {
      const found = spans.filter((s) => s.traceId === traceId);
      if (expected.every(([service, name]) => found.some((s) => s.service === service && s.name === name)))
        return found;
      throw new Error(`got ${JSON.stringify(found.map((s) => [s.service, s.name]))}`);
    },
    timeoutMs,
  );
}

function one(found: ReceivedSpan[], service: string, name: string): ReceivedSpan {
  const matches = found.filter((s) => s.service === service && s.name === name);
  expect(matches.map((s) => `${s.service} ${s.name}`)).toEqual([`${service} ${name}`]);
  return matches[0]!;
}

async function callTool(
  args: Record<string, unknown>,
  opts: {
    headers?: Record<string, string>;
    meta?: Record<string, unknown>;
    modern?: boolean;
    apiKey?: string;
    url?: string;
    tool?: string;
  } = {},
): Promise<{ status: number; body: string }> {
  const envelope = {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientInfo': { name: 'telemetry-e2e', version: '1' },
    'io.modelcontextprotocol/clientCapabilities': {},
  };
  const meta = opts.modern ? { ...envelope, ...opts.meta } : opts.meta;
  const res = await fetch(opts.url ?? example.mcpUrl, {
    method: 'POST',
    headers: {
      'x-api-key': opts.apiKey ?? stack.bootstrapKey,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': opts.modern ? '2026-07-28' : '2025-11-25',
      ...(opts.modern ? { 'mcp-method': 'tools/call', 'mcp-name': 'get_ticket' } : {}),
      ...opts.headers,
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 7,
      method: 'tools/call',
      params: { name: opts.tool ?? 'get_ticket', arguments: args, ...(meta ? { _meta: meta } : {}) },
    }),
  });
  return { status: res.status, body: await res.text() };
}

type RecordRow = { id: string; tool: string; outcome: string; trace_id: string | null };
async function recordWithTrace(traceId: string, tool = 'get_ticket'): Promise<RecordRow> {
  return waitFor(`an execution record with trace ${traceId}`, async () => {
    const page = await unwrap(api.GET('/execution_records', { params: { query: { tool, limit: 200 } } }));
    const hit = page.data.find((r) => r.trace_id === traceId);
    if (!hit) throw new Error(`records so far: ${JSON.stringify(page.data)}`);
    return hit;
  });
}

beforeAll(async () => {
  const endpoint = await startReceiver();
  upstream = await startTicketSystem({ apiKey: CANARY, host: '127.0.0.1' });
  idp = await startSamlIdp({ acsUrl: () => '', workspaceId: () => '', person: () => ({ subject: 'x', groups: [] }) });
  // Metrics on in every service, each on a free port (`toolplane dev --metrics-port` uses the same option).
  ({ stack, api } = await startTestStack('telemetry', {
    logLevel: 'warn',
    metricsPort: 0,
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: `${endpoint}/v1/logs`,
      OTEL_BSP_SCHEDULE_DELAY: '100',
    },
    // Debug level: the worker's per-call line must carry the trace ids.
    serviceEnv: { worker: { LOG_LEVEL: 'debug' }, 'control-plane': idp.env() },
  }));
  expect(Object.keys(stack.metricsUrls).sort()).toEqual(['control-plane', 'edge', 'worker-1']);
  example = await registerTicketExample(api, upstream.url, CANARY, 'telemetry');
  const closed = await freePort();
  const target = { type: 'syslog' as const, host: '127.0.0.1', port: closed };
  exporterId = (await unwrap(api.POST('/audit_exporters', { body: { name: 'nowhere', target } }))).id;
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await upstream?.close();
  await new Promise((r) => receiver?.close(r));
  await idp?.close();
});

describe('OpenTelemetry traces of a tool call', () => {
  it('continue the agent traceparent through edge, queue, worker, upstream and the control plane, with correct parent/child links', async () => {
    const traceId = hex(16);
    const agentSpanId = hex(8);
    upstream.requests.length = 0;
    const res = await callTool({ ticket_id: 'TCK-1' }, { headers: { traceparent: `00-${traceId}-${agentSpanId}-01` } });
    expect(res.status).toBe(200);
    expect(res.body).toContain('Login page returns 500');

    const trace = await waitForTrace(traceId, [
      ['toolplane-edge', 'tools/call get_ticket'],
      ['toolplane-edge', 'send tool-invocations'],
      ['toolplane-worker', 'process tool-invocations'],
      ['toolplane-worker', 'GET /api/v1/tickets/{ticket_id}'],
      ['toolplane-control-plane', 'process execution-records'],
    ]);
    const server = one(trace, 'toolplane-edge', 'tools/call get_ticket');
    const producer = one(trace, 'toolplane-edge', 'send tool-invocations');
    const consumer = one(trace, 'toolplane-worker', 'process tool-invocations');
    const client = one(trace, 'toolplane-worker', 'GET /api/v1/tickets/{ticket_id}');
    const stored = one(trace, 'toolplane-control-plane', 'process execution-records');

    // edge server → producer → consumer → HTTP client; the control plane's span hangs off the consumer.
    expect(server).toMatchObject({ kind: Kind.SERVER, parentSpanId: agentSpanId });
    expect(producer).toMatchObject({ kind: Kind.PRODUCER, parentSpanId: server.spanId });
    expect(consumer).toMatchObject({ kind: Kind.CONSUMER, parentSpanId: producer.spanId });
    expect(client).toMatchObject({ kind: Kind.CLIENT, parentSpanId: consumer.spanId });
    expect(stored).toMatchObject({ kind: Kind.CONSUMER, parentSpanId: consumer.spanId });

    // Semantic conventions: MCP / GenAI on the tool call, messaging on the queue hop, HTTP on the upstream request.
    expect(server.attributes).toMatchObject({
      'mcp.method.name': 'tools/call',
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'get_ticket',
      'jsonrpc.request.id': '7',
      'mcp.protocol.version': '2025-11-25',
      'toolplane.server.id': example.serverId,
    });
    expect(server.attributes['error.type']).toBeUndefined();
    expect(producer.attributes).toMatchObject({
      'messaging.system': 'bullmq',
      'messaging.operation.type': 'send',
      'messaging.destination.name': 'tool-invocations',
    });
    const invocationId = producer.attributes['messaging.message.id'];
    expect(consumer.attributes).toMatchObject({
      'messaging.operation.type': 'process',
      'messaging.destination.name': 'tool-invocations',
      'messaging.message.id': invocationId,
      'gen_ai.tool.name': 'get_ticket',
      'toolplane.outcome': 'success',
    });
    expect(client.attributes).toMatchObject({
      'http.request.method': 'GET',
      'http.response.status_code': 200,
      'url.template': '/api/v1/tickets/{ticket_id}',
      'url.full': `${upstream.url}/api/v1/tickets/TCK-1`,
      'server.address': '127.0.0.1',
    });

    // The upstream received W3C context: same trace, the HTTP client span as parent.
    const received = upstream.requests.filter((r) => r.path === '/api/v1/tickets/TCK-1');
    expect(received).toHaveLength(1);
    expect(received[0]!.headers.traceparent).toBe(`00-${traceId}-${client.spanId}-01`);

    // The execution record shows the trace id; the worker's log lines carry it too.
    const record = await recordWithTrace(traceId);
    expect(record).toMatchObject({ id: invocationId, outcome: 'success' });
    const detail = await unwrap(api.GET('/execution_records/{id}', { params: { path: { id: record.id } } }));
    expect(detail.trace_id).toBe(traceId);
    expect(detail.steps).toHaveLength(1);
    const worker = stack.processes.find((p) => p.service === 'worker')!;
    const line = worker
      .output()
      .split('\n')
      .find((l) => l.includes(`"trace_id":"${traceId}"`));
    expect(line).toBeDefined();
    expect(JSON.parse(line!)).toMatchObject({ trace_id: traceId, span_id: consumer.spanId, invocationId });
  });

  it('prefers the MCP _meta.traceparent over the HTTP header (2026-07-28 request)', async () => {
    const metaTrace = hex(16);
    const metaParent = hex(8);
    const headerTrace = hex(16);
    const res = await callTool(
      { ticket_id: 'TCK-2' },
      {
        modern: true,
        meta: { traceparent: `00-${metaTrace}-${metaParent}-01` },
        headers: { traceparent: `00-${headerTrace}-${hex(8)}-01` },
      },
    );
    expect(res.status).toBe(200);
    const trace = await waitForTrace(metaTrace, [
      ['toolplane-edge', 'tools/call get_ticket'],
      ['toolplane-worker', 'GET /api/v1/tickets/{ticket_id}'],
    ]);
    expect(one(trace, 'toolplane-edge', 'tools/call get_ticket')).toMatchObject({
      parentSpanId: metaParent,
      attributes: expect.objectContaining({ 'mcp.protocol.version': '2026-07-28' }),
    });
    expect(spans.filter((s) => s.traceId === headerTrace)).toEqual([]);
  });

  it('marks a failing call so an operator can find it from its record', async () => {
    const traceId = hex(16);
    const res = await callTool({ ticket_id: 'TCK-404' }, { headers: { traceparent: `00-${traceId}-${hex(8)}-01` } });
    expect(res.body).toContain('"isError":true');
    const trace = await waitForTrace(traceId, [
      ['toolplane-edge', 'tools/call get_ticket'],
      ['toolplane-worker', 'process tool-invocations'],
      ['toolplane-worker', 'GET /api/v1/tickets/{ticket_id}'],
    ]);
    const ERROR = 2;
    expect(one(trace, 'toolplane-edge', 'tools/call get_ticket').attributes['error.type']).toBe('tool_error');
    expect(one(trace, 'toolplane-worker', 'process tool-invocations')).toMatchObject({
      status: ERROR,
      attributes: expect.objectContaining({ 'toolplane.outcome': 'tool_error', 'error.type': 'upstream.http_error' }),
    });
    expect(one(trace, 'toolplane-worker', 'GET /api/v1/tickets/{ticket_id}')).toMatchObject({
      status: ERROR,
      attributes: expect.objectContaining({ 'http.response.status_code': 404, 'error.type': '404' }),
    });
    expect((await recordWithTrace(traceId)).outcome).toBe('tool_error');
  });

  it("names who called, for which external user and why it could act, on the worker's span", async () => {
    await unwrap(api.POST('/external_users', { body: { name: 'traced-user' } }));
    await unwrap(
      api.PUT('/external_users/{name}/connections/{instanceId}', {
        params: { path: { name: 'traced-user', instanceId: example.instanceId } },
        body: { credentials: { api_key: CANARY } },
      }),
    );
    await unwrap(
      api.POST('/access_policies', {
        body: {
          name: 'traced-user-tools',
          principals: [{ type: 'external_user', value: 'traced-user' }],
          servers: ['*'],
          tools: ['*'],
        },
      }),
    );
    const traceId = hex(16);
    const call = () =>
      callTool(
        { ticket_id: 'TCK-1' },
        { headers: { traceparent: `00-${traceId}-${hex(8)}-01`, 'x-username': 'traced-user' } },
      );
    // The policy reaches the edge over pub/sub: the first calls may still be refused.
    await waitFor('a call as traced-user', async () => (await call()).status === 200);
    const trace = await waitForTrace(traceId, [['toolplane-worker', 'process tool-invocations']]);
    const consumer = trace.find(
      (s) => s.name === 'process tool-invocations' && s.attributes['toolplane.caller.username'] === 'traced-user',
    )!;
    expect(consumer.attributes).toMatchObject({
      'toolplane.caller.username': 'traced-user',
      // The bootstrap key is named by no policy: the workspace's own credential may act as its users.
      'toolplane.caller.acting_via': 'unnamed-key',
    });
    expect(consumer.attributes['toolplane.caller.key_id']).toEqual(expect.any(String));
  });

  it('starts a new trace when the agent sends none', async () => {
    const before = new Set(spans.map((s) => s.traceId));
    const res = await callTool({ ticket_id: 'TCK-3' });
    expect(res.status).toBe(200);
    const fresh = await waitFor('a new root span of the call', () =>
      spans.find((s) => !before.has(s.traceId) && s.name === 'tools/call get_ticket' && s.parentSpanId === undefined),
    );
    await waitForTrace(fresh.traceId, [['toolplane-worker', 'GET /api/v1/tickets/{ticket_id}']]);
  });

  it("nests a run_code program's inner calls under its span: the context crosses the sandbox thread", async () => {
    const server = await unwrap(
      api.POST('/mcp_manager', {
        body: { name: 'telemetry-code', mode: 'NORMAL', connectorInstanceId: example.instanceId, codeMode: true },
      }),
    );
    const code =
      "await tools.get_ticket({ ticket_id: 'TCK-1' }); return (await tools.get_ticket({ ticket_id: 'TCK-2' })).id;";
    const traceId = await waitFor('the server on the edge, and a program run', async () => {
      const id = hex(16);
      const res = await callTool(
        { code },
        {
          tool: 'run_code',
          url: `${stack.edgeUrl}/mcp/${server.id}`,
          headers: { traceparent: `00-${id}-${hex(8)}-01` },
        },
      );
      return res.status === 200 && res.body.includes('TCK-2') && !res.body.includes('"isError":true') ? id : undefined;
    });
    const found = await waitFor('two inner calls in the trace', () => {
      const t = spans.filter((s) => s.traceId === traceId);
      const consumers = t.filter((s) => s.service === 'toolplane-worker' && s.name === 'process tool-invocations');
      return consumers.length === 2 && t.some((s) => s.name === 'tools/call run_code') ? t : undefined;
    });
    const program = one(found, 'toolplane-edge', 'tools/call run_code');
    const producers = found.filter((s) => s.service === 'toolplane-edge' && s.name === 'send tool-invocations');
    expect(producers).toHaveLength(2);
    for (const p of producers) expect(p).toMatchObject({ kind: Kind.PRODUCER, parentSpanId: program.spanId });
    const consumers = found.filter((s) => s.name === 'process tool-invocations');
    expect(consumers.map((c) => c.parentSpanId).sort()).toEqual(producers.map((p) => p.spanId).sort());
  });

  it('puts no secret value in any span or resource attribute', async () => {
    const traceId = hex(16);
    expect(
      (await callTool({ ticket_id: 'TCK-1' }, { headers: { traceparent: `00-${traceId}-${hex(8)}-01` } })).status,
    ).toBe(200);
    await waitForTrace(traceId, [
      ['toolplane-worker', 'GET /api/v1/tickets/{ticket_id}'],
      ['toolplane-control-plane', 'process execution-records'],
    ]);
    const everything = rawPayloads.join('\n');
    expect(everything).toContain('get_ticket'); // the search covers real span data
    expect(everything).not.toContain(CANARY);
    expect(everything).not.toContain(Buffer.from(CANARY).toString('base64').replace(/=+$/, ''));
    expect(everything).not.toContain(stack.bootstrapKey);
  });
});

describe('OpenTelemetry log records', () => {
  it('carry every audit event of the control plane, as the trail stored it', async () => {
    const policy = await unwrap(
      api.POST('/access_policies', {
        body: {
          name: 'exported',
          principals: [{ type: 'oauth_subject', value: 'erin' }],
          servers: ['*'],
          tools: ['*'],
        },
      }),
    );
    const record = await waitFor('the audit event as a log record', () =>
      logRecords.find(
        (r) =>
          r.attributes['audit.action'] === 'access_policy.create' && r.attributes['audit.resource.id'] === policy.id,
      ),
    );
    expect(record).toMatchObject({
      service: 'toolplane-control-plane',
      scope: 'toolplane.audit',
      eventName: 'toolplane.audit',
    });
    const [stored] = (
      await unwrap(
        api.GET('/audit_events', { params: { query: { action: 'access_policy.create', resource_id: policy.id } } }),
      )
    ).data;
    expect(JSON.parse(record.body)).toEqual(stored);
    expect(record.attributes).toMatchObject({
      'audit.hash': stored!.hash,
      'audit.seq': stored!.seq,
      'audit.outcome': 'success',
    });
    // The registration of this file's example (connector, instance, server, the upstream's key) is in the trail too.
    await waitFor('the connector instance event', () =>
      logRecords.find((r) => r.attributes['audit.action'] === 'connector_instance.create'),
    );
    const everything = rawPayloads.join('\n');
    expect(everything).not.toContain(CANARY);
    expect(everything).not.toContain(stack.bootstrapKey);
  });
});

/** A second secret, used by the workflow through `$secrets.API_KEY` (in a URL and a header). */
const WORKFLOW_SECRET = `wfsecret-${randomBytes(12).toString('hex')}`;

describe('OpenTelemetry traces of a multi-step Flower workflow call', () => {
  it("nest flow.run → step.run (in order) → action.run → HTTP client spans under the job, and the upstream gets each action's context", async () => {
    const received: { path: string; traceparent: string | undefined; authorization: string | undefined }[] = [];
    const wfUpstream = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://upstream');
      received.push({
        path: url.pathname,
        traceparent: req.headers.traceparent as string | undefined,
        authorization: req.headers.authorization,
      });
      const body =
        url.pathname === '/wf/lookup'
          ? { id: `item-${url.searchParams.get('q')}` }
          : { id: url.searchParams.get('id'), name: 'Angers', ok: true };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    await new Promise<void>((r) => wfUpstream.listen(0, '127.0.0.1', r));
    const up = `http://127.0.0.1:${(wfUpstream.address() as AddressInfo).port}`;
    try {
      const server = await unwrap(api.POST('/mcp_manager', { body: { name: 'telemetry-flower', mode: 'NORMAL' } }));
      const definition = JSON.stringify({
        flower: '0.1',
        id: 'telemetry-flower',
        flows: [
          {
            id: 'lookup_item',
            inputs: { properties: { city: { type: 'string' } }, required: ['city'] },
            steps: [
              {
                id: 'lookup',
                request: { method: 'GET', url: `${up}/wf/lookup?key=$secrets.API_KEY`, query: { q: '$inputs.city' } },
                outputs: { id: '$response.body.id' },
              },
              {
                id: 'details',
                request: {
                  method: 'GET',
                  url: `${up}/wf/items`,
                  query: { id: '$steps.lookup.outputs.id' },
                  headers: { Authorization: 'Bearer $secrets.API_KEY' },
                },
                outputs: { name: '$response.body.name' },
              },
            ],
            outputs: { id: '$steps.lookup.outputs.id', name: '$steps.details.outputs.name' },
          },
        ],
      });
      await unwrap(api.POST('/mcp_servers/{id}/deploy', { params: { path: { id: server.id } }, body: { definition } }));
      await unwrap(
        api.PUT('/mcp_servers/{id}/secrets/{name}', {
          params: { path: { id: server.id, name: 'API_KEY' } },
          body: { value: WORKFLOW_SECRET },
        }),
      );

      const traceId = hex(16);
      const agentSpanId = hex(8);
      const res = await fetch(server.url, {
        method: 'POST',
        headers: {
          'x-api-key': stack.bootstrapKey,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2025-11-25',
          traceparent: `00-${traceId}-${agentSpanId}-01`,
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'tools/call',
          params: { name: 'lookup_item', arguments: { city: 'angers' } },
        }),
      });
      const body = await res.text();
      expect(body).toContain('item-angers');
      expect(body).not.toContain('"isError":true');

      const trace = await waitForTrace(traceId, [
        ['toolplane-edge', 'tools/call lookup_item'],
        ['toolplane-edge', 'send tool-invocations'],
        ['toolplane-worker', 'process tool-invocations'],
        ['toolplane-worker', 'flow.run lookup_item'],
        ['toolplane-worker', 'step.run lookup'],
        ['toolplane-worker', 'step.run details'],
        ['toolplane-worker', 'action.run lookup'],
        ['toolplane-worker', 'action.run details'],
        ['toolplane-worker', 'GET /wf/lookup?key=$secrets.API_KEY'],
        ['toolplane-worker', 'GET /wf/items'],
        ['toolplane-control-plane', 'process execution-records'],
      ]);
      const server_ = one(trace, 'toolplane-edge', 'tools/call lookup_item');
      const producer = one(trace, 'toolplane-edge', 'send tool-invocations');
      const consumer = one(trace, 'toolplane-worker', 'process tool-invocations');
      const flow = one(trace, 'toolplane-worker', 'flow.run lookup_item');
      const steps = trace
        .filter((s) => s.name.startsWith('step.run '))
        .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
      const actions = ['lookup', 'details'].map((id) => one(trace, 'toolplane-worker', `action.run ${id}`));
      const clients = [
        one(trace, 'toolplane-worker', 'GET /wf/lookup?key=$secrets.API_KEY'),
        one(trace, 'toolplane-worker', 'GET /wf/items'),
      ];

      expect(server_.parentSpanId).toBe(agentSpanId);
      expect(producer.parentSpanId).toBe(server_.spanId);
      expect(consumer.parentSpanId).toBe(producer.spanId);
      expect(flow).toMatchObject({
        kind: Kind.INTERNAL,
        parentSpanId: consumer.spanId,
        attributes: expect.objectContaining({
          'toolplane.workflow.id': 'lookup_item',
          'toolplane.workflow.outcome': 'completed',
        }),
      });
      // The step spans, in the order they ran, each the parent of its action, each action the parent of its HTTP request.
      expect(steps.map((s) => s.name)).toEqual(['step.run lookup', 'step.run details']);
      for (let i = 0; i < 2; i++) {
        expect(steps[i]).toMatchObject({
          parentSpanId: flow.spanId,
          attributes: expect.objectContaining({
            'toolplane.workflow.step': ['lookup', 'details'][i],
            'toolplane.workflow.outcome': 'success',
          }),
        });
        expect(actions[i]).toMatchObject({
          parentSpanId: steps[i]!.spanId,
          attributes: expect.objectContaining({ 'toolplane.workflow.status': 200, 'toolplane.workflow.attempt': 1 }),
        });
        expect(clients[i]).toMatchObject({
          kind: Kind.CLIENT,
          parentSpanId: actions[i]!.spanId,
          attributes: expect.objectContaining({ 'http.response.status_code': 200 }),
        });
      }
      expect(steps[0]!.start < steps[1]!.start).toBe(true);
      // Secret values are redacted from URLs: the template keeps the expression, url.full the placeholder.
      expect(String(clients[0]!.attributes['url.full']).toLowerCase()).toBe(`${up}/wf/lookup?key=[redacted]&q=angers`);

      // Both upstream requests carried the trace, each with its own HTTP client span as parent.
      expect(received.map((r) => r.path)).toEqual(['/wf/lookup', '/wf/items']);
      expect(received.map((r) => r.traceparent)).toEqual(clients.map((c) => `00-${traceId}-${c.spanId}-01`));
      expect(received[1]!.authorization).toBe(`Bearer ${WORKFLOW_SECRET}`); // the secret was really used…
      const everything = rawPayloads.join('\n');
      expect(everything).not.toContain(WORKFLOW_SECRET); // …and appears in no span

      const record = await recordWithTrace(traceId, 'lookup_item');
      expect(record.outcome).toBe('success');
    } finally {
      await new Promise((r) => wfUpstream.close(r));
    }
  });
});

/** The value of one series in a Prometheus text page (0 when absent); `labels` must all match. */
function sample(page: string, name: string, labels: Record<string, string>): number {
  for (const line of page.split('\n')) {
    const m = /^([a-z_:][a-z0-9_:]*)(?:\{(.*)\})? (\S+)$/i.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/([a-z_][a-z0-9_]*)="((?:[^"\\]|\\.)*)"/gi)].map((x) => [x[1], x[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return 0;
}

async function scrape(service: 'control-plane' | 'edge' | 'worker'): Promise<string> {
  return (await fetch(stack.metricsUrls[service === 'worker' ? 'worker-1' : service]!)).text();
}

describe('metrics', () => {
  it("count the control plane's stored execution records on its own endpoint", async () => {
    const stored = async () => sample(await scrape('control-plane'), 'toolplane_execution_records_stored_total', {});
    const before = await stored();
    expect((await callTool({ ticket_id: 'TCK-1' })).status).toBe(200);
    await waitFor('the call to be counted as a stored record', async () => (await stored()) > before);
  });

  it('count tool calls by server, tool and outcome, latency, queue wait and depth, and denied requests', async () => {
    const server = example.serverId;
    const [w0, e0] = await Promise.all([scrape('worker'), scrape('edge')]);
    expect((await callTool({ ticket_id: 'TCK-1' })).status).toBe(200);
    expect((await callTool({ ticket_id: 'TCK-404' })).body).toContain('"isError":true');
    expect((await callTool({ ticket_id: 'TCK-1' }, { apiKey: 'tp_not_a_key_0000000000000000' })).status).toBe(401);
    const [w1, e1] = await Promise.all([scrape('worker'), scrape('edge')]);
    const delta = (before: string, after: string, name: string, labels: Record<string, string>) =>
      sample(after, name, labels) - sample(before, name, labels);

    expect(delta(w0, w1, 'toolplane_tool_calls_total', { server, tool: 'get_ticket', outcome: 'success' })).toBe(1);
    expect(delta(w0, w1, 'toolplane_tool_calls_total', { server, tool: 'get_ticket', outcome: 'tool_error' })).toBe(1);
    expect(
      delta(w0, w1, 'toolplane_tool_call_duration_count', { server, tool: 'get_ticket', outcome: 'success' }),
    ).toBe(1);
    expect(
      delta(w0, w1, 'toolplane_tool_call_duration_bucket', {
        server,
        tool: 'get_ticket',
        outcome: 'success',
        le: '+Inf',
      }),
    ).toBe(1);
    expect(delta(w0, w1, 'toolplane_queue_wait_duration_count', { queue: 'tool-invocations' })).toBe(2);
    expect(w1).toMatch(/^toolplane_queue_depth\{queue="tool-invocations",state="waiting"\} 0$/m);
    expect(
      delta(w0, w1, 'http_client_request_duration_count', {
        http_request_method: 'GET',
        http_response_status_code: '404',
        error_type: '404',
      }),
    ).toBe(1);
    expect(delta(e0, e1, 'toolplane_requests_denied_total', { reason: 'unauthenticated' })).toBe(1);
    expect(
      delta(e0, e1, 'mcp_server_operation_duration_count', {
        mcp_method_name: 'tools/call',
        gen_ai_tool_name: 'get_ticket',
        error_type: 'tool_error',
      }),
    ).toBe(1);
    expect(w1 + e1).not.toContain(CANARY);
  });

  it('count calls refused by a rate limit, by server and tool (and as rejected tool calls)', async () => {
    // The seed descriptor under another slug, with a budget of one call per hour.
    const limited = ticketSystemDescriptorYaml
      .replace('slug: "ticket-system"', 'slug: "ticket-system-limited"')
      .replace('limit: 1000\n    interval_seconds: 60', 'limit: 1\n    interval_seconds: 3600');
    expect(limited).toContain('slug: "ticket-system-limited"');
    expect(limited).toContain('limit: 1\n    interval_seconds: 3600');
    const connector = await unwrap(api.POST('/connectors', yamlBody(limited)));
    const instance = await unwrap(
      api.POST('/connector_instances', {
        body: {
          createServer: false,
          connector_id: connector.id,
          name: 'limited-instance',
          base_url: upstream.url,
          credentials: { api_key: CANARY },
        },
      }),
    );
    const server = await unwrap(
      api.POST('/mcp_manager', {
        body: { name: 'telemetry-limited', mode: 'NORMAL', connectorInstanceId: instance.id },
      }),
    );

    const w0 = await scrape('worker');
    const first = await callTool({ ticket_id: 'TCK-1' }, { url: server.url });
    const second = await callTool({ ticket_id: 'TCK-1' }, { url: server.url });
    expect(first.body).not.toContain('"isError":true');
    expect(second.body).toContain('Rate limit reached for this API (1 calls per 3600 s)');
    const w1 = await scrape('worker');
    const delta = (name: string, labels: Record<string, string>) => sample(w1, name, labels) - sample(w0, name, labels);
    expect(delta('toolplane_rate_limited_total', { server: server.id, tool: 'get_ticket' })).toBe(1);
    expect(delta('toolplane_tool_calls_total', { server: server.id, tool: 'get_ticket', outcome: 'rejected' })).toBe(1);
    expect(delta('toolplane_tool_calls_total', { server: server.id, tool: 'get_ticket', outcome: 'success' })).toBe(1);
    // The other server's budget is untouched.
    expect(delta('toolplane_rate_limited_total', { server: example.serverId, tool: 'get_ticket' })).toBe(0);
  });
});

// `yaml` is a dependency of packages/openapi, not of tests/: load that copy (as tests/deploy/lib.ts does).
const parseYaml = (
  createRequire(join(repoRoot, 'packages/openapi/package.json'))('yaml') as { parse(s: string): unknown }
).parse;

interface RuleRead {
  /** Metric name → labels its selectors match on. */
  selectors: Map<string, Set<string>>;
  /** Labels of `by (…)` / `on (…)` clauses, each with the metrics of its expression (one of them must carry it). */
  grouping: { label: string; metrics: string[] }[];
}

/** The PromQL expressions of the alert rules and of every dashboard panel. */
function monitoringExpressions(): string[] {
  const doc = parseYaml(readFileSync(join(repoRoot, 'k8s/monitoring/rules.yaml'), 'utf8')) as {
    groups: { rules: { expr: string }[] }[];
  };
  const dashboards = join(repoRoot, 'k8s/monitoring/dashboards');
  const panels = readdirSync(dashboards)
    .filter((f) => f.endsWith('.json'))
    .flatMap(
      (f) =>
        (JSON.parse(readFileSync(join(dashboards, f), 'utf8')) as { panels: { targets?: { expr: string }[] }[] })
          .panels,
    )
    .flatMap((p) => (p.targets ?? []).map((t) => t.expr));
  return [...doc.groups.flatMap((g) => g.rules.map((r) => r.expr)), ...panels];
}

/** What PromQL expressions read: metric selectors (names, matched labels) and grouping labels. */
function ruleReads(expressions: string[]): RuleRead {
  const keywords = new Set(['and', 'or', 'unless', 'bool', 'offset']);
  const read: RuleRead = { selectors: new Map(), grouping: [] };
  for (const expr of expressions) {
    let text = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
    const labels = [...text.matchAll(/\b(?:by|on|without|ignoring)\s*\(([^)]*)\)/g)].flatMap((m) =>
      m[1]!.split(',').map((l) => l.trim()),
    );
    text = text.replace(/\b(?:by|on|without|ignoring)\s*\([^)]*\)/g, ' ');
    const metrics: string[] = [];
    // An identifier not preceded by a digit or dot (durations, numbers), with its selector; a `(` after it: a function.
    for (const m of text.matchAll(/(?<![\w.:])([a-zA-Z_][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?(\s*\()?/g)) {
      const [, name, selector, call] = m;
      if (call || keywords.has(name!) || name!.includes(':')) continue;
      metrics.push(name!);
      const set = read.selectors.get(name!) ?? new Set<string>();
      for (const l of (selector ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)) set.add(l[1]!);
      read.selectors.set(name!, set);
    }
    // Over recorded series only (`toolplane:…`), the labels are those their own rules group by, checked there.
    if (metrics.length > 0) for (const label of labels) read.grouping.push({ label, metrics });
  }
  return read;
}

describe('the alert rules and dashboards (k8s/monitoring)', () => {
  it('read only metrics and labels the services export on /metrics', async () => {
    // A success, a tool error, a refused key and a stored record: every series the rules read, but the approval
    // webhooks' (below).
    expect((await callTool({ ticket_id: 'TCK-1' })).status).toBe(200);
    expect((await callTool({ ticket_id: 'TCK-404' })).body).toContain('"isError":true');
    expect((await callTool({ ticket_id: 'TCK-1' }, { apiKey: 'tp_not_a_key_0000000000000000' })).status).toBe(401);
    await waitFor('a stored execution record', async () =>
      sample(await scrape('control-plane'), 'toolplane_execution_records_stored_total', {}) > 0 ? true : undefined,
    );
    const pages = await Promise.all([scrape('edge'), scrape('worker'), scrape('control-plane')]);
    // The gauges the day-two alerts read carry real values: the exporter is behind, the certificate has a day left.
    expect(sample(pages[2]!, 'toolplane_audit_export_lag', { exporter: exporterId })).toBeGreaterThan(0);
    const left = sample(pages[2]!, 'toolplane_certificate_expiry', { certificate: 'saml_idp', index: '0' });
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(86_400);
    // PostgreSQL answers the control plane's check; no approval request waits (the query over the pending ones ran).
    expect(sample(pages[2]!, 'toolplane_database_up', {})).toBe(1);
    expect(pages[2]).toMatch(/^toolplane_approvals_pending(\{[^}]*\})? 0$/m);
    expect(pages[2]).toMatch(/^toolplane_approvals_oldest_pending(_seconds)?(\{[^}]*\})? 0$/m);
    expect(pages[1]).toMatch(/^toolplane_queue_depth\{[^}]*queue="inbound-events"[^}]*\} 0$/m);
    expect(pages[1]).toMatch(/^toolplane_events_webhooks_pending(\{[^}]*\})? 0$/m);
    /** Each exported series name and the labels it carries. */
    const exported = new Map<string, Set<string>>();
    for (const line of pages.join('\n').split('\n')) {
      const m = /^([a-z_:][a-z0-9_:]*)(?:\{(.*)\})? \S+$/i.exec(line);
      if (!m) continue;
      const labels = exported.get(m[1]!) ?? new Set<string>();
      for (const l of (m[2] ?? '').matchAll(/([a-z_][a-z0-9_]*)="/gi)) labels.add(l[1]!);
      exported.set(m[1]!, labels);
    }
    // Prometheus's own: `up`, `scrape_duration_seconds` and the target labels it adds to every series (the PodMonitor's `service`).
    const targetLabels = new Set(['instance', 'job', 'service']);
    const prometheusOwn = new Set(['up', 'scrape_duration_seconds']);
    // Counted only when an approval rule's webhook is announced to (tests/e2e/governance/approvals.test.ts makes
    // such calls); its name and attributes are read from the instrument's declaration instead.
    const declaredOnly: Record<string, string[]> = { toolplane_approval_notifications_total: ['format', 'outcome'] };
    const telemetry = readFileSync(join(repoRoot, 'packages/telemetry/src/metrics.ts'), 'utf8');
    expect(telemetry).toContain("createCounter('toolplane.approval.notifications'");
    expect(telemetry).toMatch(/approvalNotifications\.add\(1, \{ format, outcome \}\)/);

    const labelsOf = (name: string) =>
      prometheusOwn.has(name)
        ? new Set<string>()
        : (exported.get(name) ?? (declaredOnly[name] ? new Set(declaredOnly[name]) : undefined));
    const problems: string[] = [];
    const { selectors, grouping } = ruleReads(monitoringExpressions());
    expect(selectors.size).toBeGreaterThan(10);
    for (const [name, labels] of selectors) {
      const have = labelsOf(name);
      if (!have) problems.push(`${name}: not exported`);
      else
        for (const label of labels)
          if (!have.has(label) && !targetLabels.has(label)) problems.push(`${name}: no label ${label}`);
    }
    for (const { label, metrics } of grouping)
      if (!targetLabels.has(label) && !metrics.some((n) => labelsOf(n)?.has(label)))
        problems.push(`${label}: on none of ${metrics.join(', ')}`);
    expect(problems).toEqual([]);
  });
});
