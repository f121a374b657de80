import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** Paths whose values are never logged, whatever the level. */
const redactPaths = [
  'arguments',
  '*.arguments',
  'headers',
  '*.headers',
  'authorization',
  '*.authorization',
  '*.password',
  '*.token',
  '*.apiKey',
  '*.api_key',
  '*.secret',
  '*.secrets',
  'credentials',
  '*.credentials',
  'body',
  '*.body',
  // A tool.invoke job's caller-supplied Config-* values and the caller's OAuth token (workflow tools).
  'config',
  '*.config',
  'callerToken',
  '*.callerToken',
  // A caller's per-request upstream credential: sealed in jobs, never logged even so.
  'upstreamAuthorization',
  '*.upstreamAuthorization',
];

export interface CreateLoggerOptions {
  service: string;
  level?: LoggerOptions['level'];
  /** Defaults to stdout; tests pass a stream to capture lines. */
  destination?: pino.DestinationStream;
  /**
   * Fields added to every line, e.g. `trace_id` / `span_id` of the active span: services pass
   * `logMixin()` from `@toolplane/telemetry` (undefined while tracing is off, so lines cost nothing more).
   * Must return a new object each time (pino merges the line's fields into it). Redaction still applies.
   */
  mixin?: (() => Record<string, unknown>) | undefined;
}

export function createLogger(opts: CreateLoggerOptions): Logger {
  return pino(
    {
      level: opts.level ?? 'info',
      base: { service: opts.service },
      redact: { paths: redactPaths, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      ...(opts.mixin ? { mixin: opts.mixin } : {}),
    },
    opts.destination ?? pino.destination({ sync: false }),
  );
}
