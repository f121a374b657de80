import { logLevel, port } from '@toolplane/config';
import { z } from 'zod';

export const WorkerEnv = z.object({
  /** Redis for the invocation queue, catalogs and results. */
  REDIS_URL: z.string().url(),
  /** Prefix of every Redis key and BullMQ queue; isolates deployments sharing one Redis. */
  REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+$/).default('tp'),
  /** Jobs run concurrently by one worker process (they are I/O bound). */
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(64),
  /** Directory of the embedded sealed secrets store. */
  SECRETS_DIR: z.string().min(1),
  /** PEM file of the X25519 private key that opens sealed secrets. Only the worker has it. */
  SECRETS_PRIVATE_KEY_FILE: z.string().min(1),
  /** How long a resolved secret stays in memory; rotation takes effect within this time. */
  SECRETS_CACHE_TTL_MS: z.coerce.number().int().min(0).default(30_000),
  /** Upper bound for one upstream HTTP request. */
  HTTP_TIMEOUT_MS: z.coerce.number().int().positive().default(30_000),
  /** Upstream responses larger than this are cut off and reported as an error. */
  HTTP_MAX_RESPONSE_BYTES: z.coerce.number().int().positive().default(5 * 1024 * 1024),
  /** Port of the worker's health endpoints (/healthz, /readyz); 0 picks a free one; unset disables. */
  HEALTH_PORT: port.optional(),
  HEALTH_HOST: z.string().default('127.0.0.1'),
  /** Execution records waiting for the control plane are capped at about this many (oldest dropped first). */
  EXECUTION_RECORDS_MAX_BACKLOG: z.coerce.number().int().min(1000).default(100_000),
  /** In debug sessions, request and response bodies are kept up to this size (each). */
  DEBUG_MAX_BODY_BYTES: z.coerce.number().int().min(0).default(16 * 1024),
  /** OpenTelemetry (docs/operations.md, "Tracing and metrics"): OTLP/HTTP collector base URL; traces are off when unset. */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.union([z.literal('').transform(() => undefined), z.string().url()]).optional(),
  /** Full OTLP traces URL; wins over OTEL_EXPORTER_OTLP_ENDPOINT. */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.union([z.literal('').transform(() => undefined), z.string().url()]).optional(),
  /** Headers for the collector, `k1=v1,k2=v2` (values URL-encoded). */
  OTEL_EXPORTER_OTLP_HEADERS: z.string().optional(),
  OTEL_SERVICE_NAME: z.string().min(1).optional(),
  /** Share of new traces recorded (0…1, default 1); traces the agent started follow its sampled flag. */
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).optional(),
  /** Longest time finished spans wait before export (ms, default 5000). */
  OTEL_BSP_SCHEDULE_DELAY: z.coerce.number().int().min(1).optional(),
  /** Port of the Prometheus `/metrics` endpoint; unset disables metrics. */
  METRICS_PORT: port.optional(),
  METRICS_HOST: z.string().default('127.0.0.1'),
  LOG_LEVEL: logLevel,
});
export type WorkerEnv = z.infer<typeof WorkerEnv>;
