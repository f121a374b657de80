import type { AnyValue, Attributes } from '@opentelemetry/api';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import type { Resource } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider, type LogRecordExporter } from '@opentelemetry/sdk-logs';

/** The logger of the running process's log records (`startTelemetry`); undefined while logs are off. */
let provider: LoggerProvider | undefined;

/** Log records go to `url` over OTLP/HTTP (JSON), batched (or to `exporter`, tests). */
export function startLogs(opts: {
  resource: Resource;
  url?: string | undefined;
  headers?: Record<string, string> | undefined;
  exporter?: LogRecordExporter | undefined;
  delayMs?: number | undefined;
}): LoggerProvider {
  const exporter = opts.exporter ?? new OTLPLogExporter({ url: opts.url!, headers: opts.headers ?? {} });
  provider = new LoggerProvider({
    resource: opts.resource,
    processors: [new BatchLogRecordProcessor({ exporter, scheduledDelayMillis: opts.delayMs ?? 5000 })],
  });
  return provider;
}

export function stopLogs(): Promise<void> | undefined {
  const p = provider;
  provider = undefined;
  return p?.shutdown();
}

/**
 * One log record of `scope` (e.g. `toolplane.audit`), with an event name, a body and attributes; nothing when logs
 * are off. Records are exported in batches; a collector that is away loses what the batch held (the source of truth
 * stays where the caller keeps it).
 */
export function emitLogRecord(
  scope: string,
  record: { eventName: string; body: AnyValue; attributes: Attributes; timestamp: Date },
): void {
  provider?.getLogger(scope).emit({
    eventName: record.eventName,
    body: record.body,
    attributes: record.attributes,
    timestamp: record.timestamp,
    severityText: 'INFO',
    severityNumber: 9,
  });
}
