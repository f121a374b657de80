import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** Paths whose values are never logged, whatever the level. */
export const redactPaths = [
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
];

export interface CreateLoggerOptions {
  service: string;
  level?: LoggerOptions['level'];
  /** Defaults to stdout; tests pass a stream to capture lines. */
  destination?: pino.DestinationStream;
}

export function createLogger(opts: CreateLoggerOptions): Logger {
  return pino(
    {
      level: opts.level ?? 'info',
      base: { service: opts.service },
      redact: { paths: redactPaths, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination ?? pino.destination({ sync: false }),
  );
}
