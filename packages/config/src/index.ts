import { z } from 'zod';

export { classifyAddress, hostRefusal, isMetadataHost, type AddressClass } from './address-class.ts';
export { clientKey, trustProxy } from './client-address.ts';

/**
 * Parses the environment once, in a service's `main.ts`. Prints every problem and exits on failure.
 * Nothing else in the codebase reads `process.env`.
 */
export function loadEnv<S extends z.ZodType>(
  schema: S,
  source: Record<string, string | undefined> = process.env,
): z.infer<S> {
  const parsed = schema.safeParse(source);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    process.stderr.write(`invalid environment:\n${lines.join('\n')}\n`);
    process.exit(1);
  }
  return parsed.data;
}

export const logLevel = z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info');

export const port = z.coerce.number().int().min(0).max(65535);

const optionalUrl = z.union([z.literal('').transform(() => undefined), z.string().url()]).optional();

/**
 * The telemetry settings every service reads (docs/operations.md, "Tracing and metrics"), spread into its
 * schema. Described here with `.describe()`: scripts/gen-config-docs.ts reads that for docs/configuration.md.
 */
export const telemetryEnv = {
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalUrl.describe(
    'OpenTelemetry (docs/operations.md, "Tracing and metrics"): OTLP/HTTP collector base URL; traces are off when unset.',
  ),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optionalUrl.describe(
    'Full OTLP traces URL; wins over OTEL_EXPORTER_OTLP_ENDPOINT.',
  ),
  OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: optionalUrl.describe(
    'Full OTLP/HTTP log records URL (e.g. `http://collector:4318/v1/logs`): the control plane sends every audit event there as a log record. Unset: none.',
  ),
  OTEL_EXPORTER_OTLP_HEADERS: z
    .string()
    .optional()
    .describe('Headers for the collector, `k1=v1,k2=v2` (values URL-encoded).'),
  OTEL_SERVICE_NAME: z.string().min(1).optional(),
  OTEL_RESOURCE_ATTRIBUTES: z
    .string()
    .optional()
    .describe(
      'Extra resource attributes of spans and metrics, `k=v,k=v` (Kubernetes: pod, namespace, node, `service.version`).',
    ),
  OTEL_TRACES_SAMPLER_ARG: z.coerce
    .number()
    .min(0)
    .max(1)
    .optional()
    .describe('Share of new traces recorded (0…1, default 1); traces the agent started follow its sampled flag.'),
  OTEL_BSP_SCHEDULE_DELAY: z.coerce
    .number()
    .int()
    .min(1)
    .optional()
    .describe('Longest time finished spans wait before export (ms, default 5000).'),
  METRICS_PORT: port.optional().describe('Port of the Prometheus `/metrics` endpoint; unset disables metrics.'),
  METRICS_HOST: z.string().default('127.0.0.1'),
};

/**
 * The secrets store's settings, the same for the control plane (which seals and writes secrets) and the worker
 * (which opens and reads them), spread into both schemas; each adds its own key file.
 */
export const secretsStoreEnv = {
  SECRETS_BACKEND: z
    .enum(['local', 'aws'])
    .default('local')
    .describe(
      'Where secrets are kept: `local` (the embedded sealed store: `SECRETS_DIR`, with `SECRETS_PUBLIC_KEY_FILE` on ' +
        'the control plane and `SECRETS_PRIVATE_KEY_FILE` on the worker) or `aws` (AWS Secrets Manager: `AWS_REGION`).',
    ),
  SECRETS_DIR: z
    .string()
    .min(1)
    .optional()
    .describe('Directory of the embedded sealed secrets store (required when `SECRETS_BACKEND=local`).'),
  AWS_REGION: z
    .string()
    .min(1)
    .optional()
    .describe(
      "AWS region of Secrets Manager (required when `SECRETS_BACKEND=aws`); credentials come from the SDK's default chain (IRSA).",
    ),
  SECRETS_AWS_ENDPOINT: z
    .string()
    .url()
    .optional()
    .describe('Secrets Manager endpoint override (an emulator such as moto_server, or a VPC endpoint).'),
  SECRETS_NAME_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9/_+=.@-]{0,256}$/)
    .default('toolplane/')
    .describe(
      'Prefix of every secret name in AWS Secrets Manager (per deployment; IAM policies scope to it). The same value for the control plane and the worker.',
    ),
};

/** `MAX_BODY_BYTES`: the largest request body a service accepts, in bytes, with that service's default. */
export const maxBodyBytes = (defaultBytes: number) => z.coerce.number().int().positive().default(defaultBytes);

/**
 * The body of every service's `main.ts`: start the app, exit 1 if it cannot start, and stop it
 * cleanly (finish in-flight work, close connections) on SIGTERM or SIGINT.
 */
export function runService(app: { start(): Promise<void>; stop(): Promise<void> }): void {
  app.start().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      app.stop().then(
        () => process.exit(0),
        (err: unknown) => {
          console.error(err);
          process.exit(1);
        },
      );
    });
  }
}

/** What `guardProcess` needs of a logger (pino's signature). */
export interface ProcessGuardLogger {
  error(obj: object, msg: string): void;
  fatal(obj: object, msg: string): void;
  flush?(): void;
}

/**
 * Process-level safety nets, installed once in each service's `main.ts`. A promise rejection nobody
 * handled (e.g. a Redis command failing during an outage) is logged and the process keeps serving:
 * such a rejection concerns one operation, never the process's state. An uncaught exception leaves
 * the state unknown: it is logged and the process exits 1 (the orchestrator restarts it).
 */
export function guardProcess(log: ProcessGuardLogger): void {
  process.on('unhandledRejection', (reason) => {
    log.error({ err: reason }, 'unhandled promise rejection (the process keeps serving)');
  });
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception: exiting');
    log.flush?.();
    process.exit(1);
  });
}
