import { randomUUID } from 'node:crypto';
import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { setGlobalErrorHandler, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import {
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type SpanExporter,
} from '@opentelemetry/sdk-trace';
import type { LogRecordExporter } from '@opentelemetry/sdk-logs';
import { startLogs, stopLogs } from './logs.ts';
import { setMeter } from './metrics.ts';
import { setTracer } from './tracing.ts';

export interface TelemetryOptions {
  /** `service.name` of every span and metric (e.g. `toolplane-edge`). */
  serviceName: string;
  serviceVersion?: string;
  /** Extra resource attributes (`OTEL_RESOURCE_ATTRIBUTES`, e.g. `k8s.pod.name`); they may set `service.version`. */
  resourceAttributes?: Record<string, string> | undefined;
  /** OTLP/HTTP base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`): traces go to `<endpoint>/v1/traces`. Unset: tracing is off. */
  otlpEndpoint?: string | undefined;
  /** Full traces URL (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); wins over `otlpEndpoint`. */
  otlpTracesEndpoint?: string | undefined;
  /**
   * Full log records URL (`OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`, e.g. `http://collector:4318/v1/logs`). Unset: no log
   * records (not derived from `otlpEndpoint`: a traces-only backend such as Jaeger refuses them).
   */
  otlpLogsEndpoint?: string | undefined;
  /** Tests: send log records here instead of OTLP. Enables log records. */
  logExporter?: LogRecordExporter;
  /** Extra headers for the collector (`OTEL_EXPORTER_OTLP_HEADERS`, e.g. an auth token). */
  otlpHeaders?: Record<string, string> | undefined;
  /** Share of new traces recorded (0…1, default 1). Traces started by the agent follow its sampled flag. */
  sampleRatio?: number | undefined;
  /** Longest time a finished span waits before export (`OTEL_BSP_SCHEDULE_DELAY`, default 5000 ms). */
  exportDelayMs?: number | undefined;
  /** Port of the Prometheus `/metrics` endpoint. Unset: metrics are off. */
  metricsPort?: number | undefined;
  metricsHost?: string | undefined;
  /** Tests: send spans here (synchronously) instead of OTLP. Enables tracing. */
  spanExporter?: SpanExporter;
  /** Export failures and other SDK errors (throttled to one a minute). Default: a line on stderr. */
  onError?: (err: unknown) => void;
}

export interface Telemetry {
  readonly tracing: boolean;
  readonly metrics: boolean;
  /** Resolves when the metrics endpoint listens (rejects if it cannot). */
  readonly ready: Promise<void>;
  /** `http://host:port/metrics` when metrics are on. */
  metricsUrl(): string | undefined;
  /** Flushes buffered spans and stops everything; the global OpenTelemetry API is reset. */
  shutdown(): Promise<void>;
}

let started = false;

/** SDK errors, at most one a minute: `onError`, or a line on stderr. */
function throttled(onError?: (err: unknown) => void): (err: unknown) => void {
  let lastError = 0;
  const report =
    onError ??
    ((err: unknown) => process.stderr.write(`telemetry: ${err instanceof Error ? err.message : String(err)}\n`));
  return (err) => {
    const now = Date.now();
    if (now - lastError < 60_000) return;
    lastError = now;
    report(err);
  };
}

/** Traces: the provider (sampled as configured, exported over OTLP or to the test's exporter), context and propagation. */
function startTracing(
  opts: TelemetryOptions,
  resource: ReturnType<typeof resourceFromAttributes>,
  tracesUrl: string | undefined,
): { tracerProvider: TracerProvider; contextManager: AsyncLocalStorageContextManager } {
  const ratio = opts.sampleRatio ?? 1;
  const exporter = opts.spanExporter ?? new OTLPTraceExporter({ url: tracesUrl!, headers: opts.otlpHeaders ?? {} });
  const tracerProvider = new TracerProvider({
    resource,
    sampler: new ParentBasedSampler({
      root: ratio >= 1 ? new AlwaysOnSampler() : new TraceIdRatioBasedSampler(ratio),
    }),
    spanProcessors: [
      opts.spanExporter
        ? new SimpleSpanProcessor({ exporter })
        : new BatchSpanProcessor({ exporter, scheduledDelayMillis: opts.exportDelayMs ?? 5000 }),
    ],
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(tracerProvider);
  setTracer(tracerProvider.getTracer('@toolplane/telemetry', opts.serviceVersion ?? '0.1.0'));
  return { tracerProvider, contextManager };
}

/**
 * Starts OpenTelemetry for one service process: traces exported over OTLP/HTTP (JSON) when an
 * endpoint is configured, metrics on a Prometheus endpoint when a port is configured. With
 * neither, nothing is registered and the helpers of this package cost a flag check.
 *
 * Spans are made by hand at a few places (edge request, enqueue, worker job, workflow steps,
 * upstream HTTP request): no auto-instrumentation patches `http` or other modules (ADR 0009).
 */
export function startTelemetry(opts: TelemetryOptions): Telemetry {
  const tracesUrl =
    opts.otlpTracesEndpoint ?? (opts.otlpEndpoint ? `${opts.otlpEndpoint.replace(/\/+$/, '')}/v1/traces` : undefined);
  const tracing = tracesUrl !== undefined || opts.spanExporter !== undefined;
  const logsUrl = opts.otlpLogsEndpoint;
  const logsOn = logsUrl !== undefined || opts.logExporter !== undefined;
  const metricsOn = opts.metricsPort !== undefined;
  if (!tracing && !metricsOn && !logsOn)
    return {
      tracing: false,
      metrics: false,
      ready: Promise.resolve(),
      metricsUrl: () => undefined,
      shutdown: async () => undefined,
    };
  if (started) throw new Error('startTelemetry was already called in this process (shut the first one down)');
  started = true;

  setGlobalErrorHandler(throttled(opts.onError));

  const resource = resourceFromAttributes({
    'service.name': opts.serviceName,
    'service.namespace': 'toolplane',
    'service.version': opts.serviceVersion ?? '0.1.0',
    'service.instance.id': randomUUID(),
    ...opts.resourceAttributes,
  });

  const { tracerProvider, contextManager } = tracing ? startTracing(opts, resource, tracesUrl) : {};

  if (logsOn)
    startLogs({
      resource,
      url: logsUrl,
      headers: opts.otlpHeaders,
      exporter: opts.logExporter,
      delayMs: opts.exportDelayMs,
    });

  let meterProvider: MeterProvider | undefined;
  let prometheus: PrometheusExporter | undefined;
  let ready: Promise<void> = Promise.resolve();
  if (metricsOn) {
    const host = opts.metricsHost ?? '127.0.0.1';
    ready = new Promise<void>((resolve, reject) => {
      prometheus = new PrometheusExporter({ host, port: opts.metricsPort!, withoutScopeInfo: true }, (err) =>
        err ? reject(err) : resolve(),
      );
    });
    meterProvider = new MeterProvider({ resource, readers: [prometheus!] });
    metrics.setGlobalMeterProvider(meterProvider);
    setMeter(meterProvider.getMeter('@toolplane/telemetry'));
  }

  let stopped: Promise<void> | undefined;
  return {
    tracing,
    metrics: metricsOn,
    ready,
    metricsUrl() {
      return metricsOn ? `http://${opts.metricsHost ?? '127.0.0.1'}:${opts.metricsPort}/metrics` : undefined;
    },
    shutdown() {
      stopped ??= (async () => {
        setTracer(undefined);
        setMeter(undefined);
        await Promise.allSettled([tracerProvider?.shutdown(), meterProvider?.shutdown(), stopLogs()]);
        contextManager?.disable();
        trace.disable();
        context.disable();
        propagation.disable();
        metrics.disable();
        started = false;
      })();
      return stopped;
    },
  };
}

/** The telemetry variables of a service's env (parsed by its `env.ts`). */
export interface TelemetryEnv {
  OTEL_EXPORTER_OTLP_ENDPOINT?: string | undefined;
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?: string | undefined;
  OTEL_EXPORTER_OTLP_LOGS_ENDPOINT?: string | undefined;
  OTEL_EXPORTER_OTLP_HEADERS?: string | undefined;
  OTEL_SERVICE_NAME?: string | undefined;
  OTEL_RESOURCE_ATTRIBUTES?: string | undefined;
  OTEL_TRACES_SAMPLER_ARG?: number | undefined;
  OTEL_BSP_SCHEDULE_DELAY?: number | undefined;
  METRICS_PORT?: number | undefined;
  METRICS_HOST?: string | undefined;
}

/** `k1=v1,k2=v2` (values URL-encoded), the OTLP header list format. */
export function parseOtlpHeaders(value: string | undefined): Record<string, string> | undefined {
  if (!value) return undefined;
  const headers: Record<string, string> = {};
  for (const pair of value.split(',')) {
    const i = pair.indexOf('=');
    if (i <= 0) continue;
    headers[decodeURIComponent(pair.slice(0, i).trim())] = decodeURIComponent(pair.slice(i + 1).trim());
  }
  return headers;
}

export function telemetryOptionsFromEnv(defaultServiceName: string, env: TelemetryEnv): TelemetryOptions {
  return {
    serviceName: env.OTEL_SERVICE_NAME ?? defaultServiceName,
    otlpEndpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT,
    otlpTracesEndpoint: env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    otlpLogsEndpoint: env.OTEL_EXPORTER_OTLP_LOGS_ENDPOINT,
    otlpHeaders: parseOtlpHeaders(env.OTEL_EXPORTER_OTLP_HEADERS),
    // Same `k=v,k=v` (URL-encoded) format as the OTLP headers (OpenTelemetry specification).
    resourceAttributes: parseOtlpHeaders(env.OTEL_RESOURCE_ATTRIBUTES),
    sampleRatio: env.OTEL_TRACES_SAMPLER_ARG,
    exportDelayMs: env.OTEL_BSP_SCHEDULE_DELAY,
    metricsPort: env.METRICS_PORT,
    metricsHost: env.METRICS_HOST,
  };
}

/**
 * Wraps a service app for `runService`: the metrics endpoint must listen before the app starts, and
 * buffered spans are flushed after the app stopped (its last spans included).
 */
export function withTelemetry<A extends { start(): Promise<void>; stop(): Promise<void> }>(
  app: A,
  telemetry: Telemetry,
): { start(): Promise<void>; stop(): Promise<void> } {
  return {
    async start() {
      await telemetry.ready;
      await app.start();
    },
    async stop() {
      try {
        await app.stop();
      } finally {
        await telemetry.shutdown();
      }
    },
  };
}
