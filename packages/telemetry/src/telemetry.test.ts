import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from '@jest/globals';
import * as semconv from '@opentelemetry/semantic-conventions';
import * as incubating from '@opentelemetry/semantic-conventions/incubating';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import {
  attr,
  contextFromIds,
  currentTraceIds,
  endSpan,
  extractContext,
  injectContext,
  logMixin,
  noopSpan,
  observeQueueDepth,
  parseOtlpHeaders,
  recordQueueWait,
  recordQuotaCharged,
  recordQuotaRefused,
  recordQuotaUse,
  recordToolCall,
  SpanKind,
  startSpan,
  startTelemetry,
  telemetryOptionsFromEnv,
  traceLogFields,
  traceparentOf,
  tracingEnabled,
  withSpan,
} from './index.ts';

const agentTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
const agentSpan = '00f067aa0ba902b7';
const agentTraceparent = `00-${agentTrace}-${agentSpan}-01`;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

describe('telemetry while off (no endpoint, no metrics port)', () => {
  it('registers nothing and the helpers do nothing', async () => {
    const t = startTelemetry({ serviceName: 'test' });
    expect(t.tracing).toBe(false);
    expect(t.metrics).toBe(false);
    expect(tracingEnabled()).toBe(false);
    let seen: unknown;
    const result = await withSpan(
      'work',
      { a: 1 },
      async (span) => {
        seen = span;
        expect(currentTraceIds()).toBeUndefined();
        expect(traceparentOf()).toBeUndefined();
        return 42;
      },
      { parent: extractContext({ traceparent: agentTraceparent }) },
    );
    expect(result).toBe(42);
    expect(seen).toBe(noopSpan);
    expect(startSpan('x', undefined)).toBe(noopSpan);
    const carrier: Record<string, unknown> = {};
    injectContext(carrier);
    expect(carrier).toEqual({});
    expect(logMixin()).toBeUndefined();
    let asked = false;
    observeQueueDepth('q', async () => {
      asked = true;
      return {};
    });
    recordToolCall('s', 't', 'success', 1);
    expect(asked).toBe(false);
    await t.shutdown();
  });
});

describe('traces', () => {
  it('continues an agent traceparent, nests spans and propagates the active span', async () => {
    const exporter = new InMemorySpanExporter();
    const t = startTelemetry({ serviceName: 'test', spanExporter: exporter });
    try {
      expect(tracingEnabled()).toBe(true);
      const carrier: Record<string, unknown> = {};
      let ids: ReturnType<typeof currentTraceIds>;
      let logFields: Record<string, string> = {};
      await withSpan(
        'tools/call get_ticket',
        { [attr.mcpMethodName]: 'tools/call' },
        async (server) => {
          await withSpan(
            'send tool-invocations',
            undefined,
            async (producer) => {
              injectContext(carrier);
              ids = currentTraceIds();
              logFields = logMixin()!();
              expect(traceparentOf(producer)).toBe(carrier.traceparent);
            },
            { kind: SpanKind.PRODUCER },
          );
          expect(traceparentOf()).toBe(`00-${agentTrace}-${server.spanContext().spanId}-01`);
        },
        { kind: SpanKind.SERVER, parent: extractContext({ traceparent: agentTraceparent }) },
      );

      const spans = exporter.getFinishedSpans();
      const server = spans.find((s) => s.name === 'tools/call get_ticket')!;
      const producer = spans.find((s) => s.name === 'send tool-invocations')!;
      expect(server.spanContext().traceId).toBe(agentTrace);
      expect(server.parentSpanContext?.spanId).toBe(agentSpan);
      expect(server.kind).toBe(SpanKind.SERVER);
      expect(producer.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
      expect(producer.kind).toBe(SpanKind.PRODUCER);
      expect(carrier.traceparent).toBe(`00-${agentTrace}-${producer.spanContext().spanId}-01`);
      expect(ids).toEqual({ traceId: agentTrace, spanId: producer.spanContext().spanId });
      expect(logFields).toEqual({ trace_id: agentTrace, span_id: producer.spanContext().spanId });
      expect(traceLogFields()).toEqual({}); // no active span out here

      // The worker side: a job's traceparent becomes the parent of its consumer span.
      await withSpan('process tool-invocations', undefined, async () => undefined, {
        kind: SpanKind.CONSUMER,
        parent: extractContext(carrier as { traceparent: string }),
      });
      const consumer = exporter.getFinishedSpans().find((s) => s.name === 'process tool-invocations')!;
      expect(consumer.spanContext().traceId).toBe(agentTrace);
      expect(consumer.parentSpanContext?.spanId).toBe(producer.spanContext().spanId);

      // A record's ids rebuild a parent context (the control plane's span for a stored record).
      const child = startSpan('process execution-records', undefined, {
        parent: contextFromIds(agentTrace, consumer.spanContext().spanId),
      });
      endSpan(child);
      expect(exporter.getFinishedSpans().at(-1)!.parentSpanContext?.spanId).toBe(consumer.spanContext().spanId);
    } finally {
      await t.shutdown();
    }
    expect(tracingEnabled()).toBe(false);
  });

  it('marks failures with error.type, ERROR status except for user errors, and never copies messages', async () => {
    const exporter = new InMemorySpanExporter();
    const t = startTelemetry({ serviceName: 'test', spanExporter: exporter });
    try {
      const secretish = 'the token sk_live_123 was refused';
      await expect(
        withSpan('ours', undefined, async () => {
          throw Object.assign(new Error(secretish), { code: 'upstream.unreachable', kind: 'transient' });
        }),
      ).rejects.toThrow(secretish);
      await expect(
        withSpan('theirs', undefined, async () => {
          throw Object.assign(new Error(secretish), { code: 'tool.not_found', kind: 'user' });
        }),
      ).rejects.toThrow(secretish);
      const [ours, theirs] = exporter.getFinishedSpans();
      expect(ours!.attributes[attr.errorType]).toBe('upstream.unreachable');
      expect(ours!.status.code).toBe(2); // ERROR
      expect(theirs!.attributes[attr.errorType]).toBe('tool.not_found');
      expect(theirs!.status.code).toBe(0); // UNSET
      expect(JSON.stringify([ours!.attributes, ours!.status, ours!.events, theirs!.events])).not.toContain(
        'sk_live_123',
      );
    } finally {
      await t.shutdown();
    }
  });

  it('ignores a malformed traceparent (a new trace starts)', async () => {
    const exporter = new InMemorySpanExporter();
    const t = startTelemetry({ serviceName: 'test', spanExporter: exporter });
    try {
      await withSpan('x', undefined, async () => undefined, {
        parent: extractContext({ traceparent: '00-zzzz-123-01' }),
      });
      const [span] = exporter.getFinishedSpans();
      expect(span!.parentSpanContext).toBeUndefined();
      expect(span!.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
    } finally {
      await t.shutdown();
    }
  });

  it('exports OTLP/HTTP JSON with hex ids to <endpoint>/v1/traces', async () => {
    const bodies: { path: string; type: string | undefined; body: string }[] = [];
    const receiver: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodies.push({
          path: req.url ?? '',
          type: req.headers['content-type'],
          body: Buffer.concat(chunks).toString('utf8'),
        });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    const t = startTelemetry({ serviceName: 'exporter-test', otlpEndpoint: endpoint, exportDelayMs: 10 });
    await withSpan('exported', { [attr.genAiToolName]: 'get_ticket' }, async () => undefined, {
      parent: extractContext({ traceparent: agentTraceparent }),
    });
    await t.shutdown();
    await new Promise((r) => receiver.close(r));
    expect(bodies.length).toBeGreaterThan(0);
    expect(bodies[0]!.path).toBe('/v1/traces');
    expect(bodies[0]!.type).toContain('application/json');
    const payload = JSON.parse(bodies[0]!.body) as {
      resourceSpans: {
        resource: { attributes: { key: string; value: { stringValue?: string } }[] };
        scopeSpans: { spans: { traceId: string; parentSpanId: string; name: string }[] }[];
      }[];
    };
    const rs = payload.resourceSpans[0]!;
    expect(rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue).toBe('exporter-test');
    const span = rs.scopeSpans[0]!.spans[0]!;
    expect(span).toMatchObject({ name: 'exported', traceId: agentTrace, parentSpanId: agentSpan });
  });
});

describe('metrics', () => {
  it('serves counters, histograms and queue depth on the Prometheus endpoint', async () => {
    const port = await freePort();
    const t = startTelemetry({ serviceName: 'metrics-test', metricsPort: port });
    try {
      await t.ready;
      expect(t.tracing).toBe(false);
      recordToolCall('srv-1', 'get_ticket', 'success', 12);
      recordToolCall('srv-1', 'get_ticket', 'tool_error', 30);
      recordQueueWait('tool-invocations', 3);
      observeQueueDepth('tool-invocations', async () => ({ waiting: 7, active: 2 }));
      recordQuotaCharged('q-1', 'cost', 4);
      recordQuotaCharged('q-1', 'cost', 4);
      recordQuotaRefused('q-1', false);
      recordQuotaUse('q-1', 0.4);
      recordQuotaUse('q-1', 0.8);
      const text = await (await fetch(t.metricsUrl()!)).text();
      expect(text).toMatch(/toolplane_tool_calls_total\{[^}]*outcome="success"[^}]*\} 1/);
      expect(text).toMatch(/toolplane_tool_calls_total\{[^}]*outcome="tool_error"[^}]*\} 1/);
      expect(text).toMatch(/toolplane_tool_calls_total\{[^}]*server="srv-1"/);
      expect(text).toMatch(/toolplane_tool_call_duration_bucket\{[^}]*outcome="success"[^}]*le="0.025"\} 1/);
      expect(text).toMatch(/toolplane_queue_wait_duration_count\{[^}]*queue="tool-invocations"[^}]*\} 1/);
      expect(text).toMatch(/toolplane_queue_depth\{[^}]*state="waiting"[^}]*\} 7/);
      expect(text).toMatch(/^toolplane_quota_charged_total\{quota="q-1",counts="cost"\} 8$/m);
      expect(text).toMatch(/^toolplane_quota_refused_total\{quota="q-1",enforce="false"\} 1$/m);
      expect(text).toMatch(/^toolplane_quota_use\{quota="q-1"\} 0.8$/m);
    } finally {
      await t.shutdown();
    }
  });
});

describe('configuration', () => {
  it('maps the env variables and parses OTLP headers', () => {
    expect(parseOtlpHeaders('authorization=Bearer%20abc, x-tenant = t1,broken')).toEqual({
      authorization: 'Bearer abc',
      'x-tenant': 't1',
    });
    expect(
      telemetryOptionsFromEnv('toolplane-edge', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', METRICS_PORT: 9464 }),
    ).toMatchObject({ serviceName: 'toolplane-edge', otlpEndpoint: 'http://c:4318', metricsPort: 9464 });
    expect(telemetryOptionsFromEnv('toolplane-edge', { OTEL_SERVICE_NAME: 'edge-eu' }).serviceName).toBe('edge-eu');
  });

  it('uses the semantic-convention attribute names of the installed package', () => {
    const all = { ...semconv, ...incubating } as Record<string, unknown>;
    const expected: Record<string, string> = {
      httpRequestMethod: 'ATTR_HTTP_REQUEST_METHOD',
      httpResponseStatusCode: 'ATTR_HTTP_RESPONSE_STATUS_CODE',
      urlFull: 'ATTR_URL_FULL',
      urlTemplate: 'ATTR_URL_TEMPLATE',
      serverAddress: 'ATTR_SERVER_ADDRESS',
      serverPort: 'ATTR_SERVER_PORT',
      errorType: 'ATTR_ERROR_TYPE',
      networkProtocolName: 'ATTR_NETWORK_PROTOCOL_NAME',
      networkTransport: 'ATTR_NETWORK_TRANSPORT',
      messagingSystem: 'ATTR_MESSAGING_SYSTEM',
      messagingOperationName: 'ATTR_MESSAGING_OPERATION_NAME',
      messagingOperationType: 'ATTR_MESSAGING_OPERATION_TYPE',
      messagingDestinationName: 'ATTR_MESSAGING_DESTINATION_NAME',
      messagingMessageId: 'ATTR_MESSAGING_MESSAGE_ID',
      mcpMethodName: 'ATTR_MCP_METHOD_NAME',
      mcpProtocolVersion: 'ATTR_MCP_PROTOCOL_VERSION',
      jsonrpcRequestId: 'ATTR_JSONRPC_REQUEST_ID',
      rpcResponseStatusCode: 'ATTR_RPC_RESPONSE_STATUS_CODE',
      genAiOperationName: 'ATTR_GEN_AI_OPERATION_NAME',
      genAiToolName: 'ATTR_GEN_AI_TOOL_NAME',
      genAiToolCallId: 'ATTR_GEN_AI_TOOL_CALL_ID',
    };
    for (const [key, constant] of Object.entries(expected))
      expect([key, all[constant]]).toEqual([key, attr[key as keyof typeof attr]]);
    expect(incubating.GEN_AI_OPERATION_NAME_VALUE_EXECUTE_TOOL).toBe('execute_tool');
  });
});
