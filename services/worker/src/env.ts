import { logLevel, port, secretsStoreEnv, telemetryEnv } from '@toolplane/config';
import { checkQueueShards, checkRedisEnv, queueShardsShape, redisEnvShape } from '@toolplane/redis';
import { z } from 'zod';

export const WorkerEnv = z.object({
  // Redis in one of its three forms (REDIS_URL, REDIS_CLUSTER_NODES, REDIS_SENTINELS; ADR 0043), with auth and TLS.
  ...redisEnvShape,
  /** Prefix of every Redis key and BullMQ queue; isolates deployments sharing one Redis. */
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default('tp'),
  /**
   * Calls one worker process runs at once. They mostly wait on upstreams (a waiting call costs memory,
   * about 70 KB, not CPU), so this is sized for I/O: at 100 ms upstream latency 2,000 in flight allow
   * 20,000 calls/s, more than a core serves. It bounds the worker's memory; per-origin connections
   * (HTTP_MAX_CONNECTIONS_PER_ORIGIN) and the connectors' rate limits protect the upstreams.
   */
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(20_000).default(2000),
  /**
   * BullMQ workers (job fetchers) in one worker process, sharing WORKER_CONCURRENCY. One fetches a burst of
   * jobs one Redis round trip after the other and starts none before its run of fetches ends; several fetch
   * a burst in parallel, which shortens the wait of calls that arrive together (docs/benchmarks.md).
   */
  WORKER_FETCHERS: z.coerce.number().int().min(1).max(64).default(4),
  ...queueShardsShape,
  /**
   * The shards this worker reads (comma-separated indexes, e.g. `0,1`), for workers placed near some masters;
   * empty: every shard. Every shard must be read by some worker.
   */
  WORKER_QUEUE_SHARDS: z
    .string()
    .regex(/^\s*(\d+\s*(,\s*\d+\s*)*)?$/, 'comma-separated shard indexes, e.g. 0,2')
    .default('')
    .transform((v) => [
      ...new Set(
        v
          .split(',')
          .filter((x) => x.trim() !== '')
          .map(Number),
      ),
    ])
    .describe('The queue shards this worker reads (comma-separated indexes); empty: all of them.'),
  /**
   * Stalled-job detection (docs/operations.md, "Worker crashes"): a job's lock lasts this long and is
   * renewed every half of it. Lower re-delivers a dead worker's jobs sooner; too low re-delivers jobs of
   * a live worker whose event loop was blocked longer than this.
   */
  WORKER_LOCK_DURATION_MS: z.coerce.number().int().min(1000).default(10_000),
  /** How often each worker looks for jobs whose lock expired (a crashed worker's jobs run again after about lock duration + 1-2 × this). */
  WORKER_STALLED_INTERVAL_MS: z.coerce.number().int().min(500).default(5_000),
  /**
   * Re-deliveries of one job after its worker stopped; after one more stall the queue gives it up (the
   * caller gets "outcome unknown", or an error saying nothing was sent).
   */
  WORKER_MAX_STALLED_COUNT: z.coerce.number().int().min(0).max(10).default(1),
  /**
   * The execution lease of a call not safe to send again (written before its request may leave) lives until
   * the call's deadline plus this: a job re-delivered later than that, past its deadline, is recorded "outcome unknown".
   */
  EXECUTION_LEASE_GRACE_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .default(15 * 60_000),
  /**
   * MCP Events (docs/events.md): how far a delivery's signed timestamp (Stripe, Slack, Standard Webhooks) may be from
   * the worker's clock before it is refused as stale.
   */
  EVENTS_TIMESTAMP_TOLERANCE_SECONDS: z.coerce.number().int().min(1).max(3600).default(300),
  /** How long a verified delivery's id is remembered: the same id again within it is refused as a replay. */
  EVENTS_REPLAY_WINDOW_SECONDS: z.coerce.number().int().min(60).default(86_400),
  /** The most entries one subscription's stream keeps (older ones are trimmed: a reader behind gets `truncated`). */
  EVENTS_STREAM_MAX_LEN: z.coerce.number().int().min(10).default(1000),
  /** The longest wait between two attempts of one webhook delivery (the backoff doubles from 1 s up to it). */
  EVENTS_WEBHOOK_MAX_BACKOFF_MS: z.coerce.number().int().min(100).default(60_000),
  // The secrets store (SECRETS_BACKEND, SECRETS_DIR, AWS_REGION, SECRETS_AWS_ENDPOINT, SECRETS_NAME_PREFIX).
  ...secretsStoreEnv,
  /** PEM file of the X25519 private key that opens sealed secrets; only the worker has it (required when `SECRETS_BACKEND=local`). */
  SECRETS_PRIVATE_KEY_FILE: z.string().min(1).optional(),
  /**
   * PEM file of the X25519 private key that opens per-request credentials (a caller's `X-Upstream-Authorization`,
   * sealed by the edge to its public half; the edge's `REQUEST_CREDENTIALS_PUBLIC_KEY_FILE`). Default:
   * `SECRETS_PRIVATE_KEY_FILE`. Unset (and no default): calls carrying such a credential fail.
   */
  REQUEST_CREDENTIALS_PRIVATE_KEY_FILE: z.string().min(1).optional(),
  /**
   * PEM file of the control plane's X25519 public key for record arguments (ADR 0080): each call's arguments are kept
   * in its execution record sealed to it, for the backtest only (the control plane's `RECORD_ARGUMENTS_PRIVATE_KEY_FILE`).
   * Unset: records keep no arguments, and a backtest cannot replay conditions or guardrails on them.
   */
  RECORD_ARGUMENTS_PUBLIC_KEY_FILE: z.string().min(1).optional(),
  /**
   * The same public key as text instead of a file: PEM, or its DER (SPKI) in base64 on one line. For deployments that
   * mount no ConfigMap volume (the prod overlay: an environment variable from a ConfigMap; k8s/README.md).
   */
  RECORD_ARGUMENTS_PUBLIC_KEY: z.string().min(1).optional(),
  /**
   * PEM file of the Ed25519 private key (PKCS #8) that signs each call's receipt (ADR 0111, docs/security.md
   * "Receipts"); its public half is published by the control plane (`RECEIPT_KEYS_FILE`). Unset: calls get no receipt.
   */
  RECEIPT_SIGNING_KEY_FILE: z.string().min(1).optional(),
  /** Most catalog versions whose execution plans are kept in memory, and most servers whose debug-session state is (least recently used evicted). */
  PLAN_CACHE_MAX: z.coerce.number().int().positive().default(1000),
  /** How long a resolved secret stays in memory; rotation takes effect within this time. */
  SECRETS_CACHE_TTL_MS: z.coerce.number().int().min(0).default(30_000),
  /** Most secret values and OAuth client-credentials tokens kept in memory (least recently used evicted). */
  SECRETS_CACHE_MAX: z.coerce.number().int().positive().default(10_000),
  /** Upper bound for one upstream HTTP request. */
  HTTP_TIMEOUT_MS: z.coerce.number().int().positive().default(30_000),
  /**
   * Guardrails on results: a result with more bytes of text than this is blocked unscanned by a guardrail without a
   * `maxBytes` of its own (never passed unscanned). Scanning is linear in the text.
   */
  GUARDRAIL_MAX_SCAN_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  /** Upstream responses larger than this are cut off and reported as an error. */
  HTTP_MAX_RESPONSE_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(5 * 1024 * 1024),
  /**
   * Most open connections (kept alive between calls) from this worker to one upstream origin
   * (scheme, host, port); requests beyond it wait for a free connection.
   */
  HTTP_MAX_CONNECTIONS_PER_ORIGIN: z.coerce.number().int().min(1).default(1024),
  /** Upper bound for DNS lookup plus TCP/TLS connection setup of one upstream request. */
  HTTP_CONNECT_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  /** Redirects followed per upstream request (each target checked by the outbound guard); 0 follows none. */
  HTTP_MAX_REDIRECTS: z.coerce.number().int().min(0).max(20).default(5),
  /**
   * Outbound guard allowlist, comma-separated IPs, CIDRs and host names (`*.example.internal`): these may be
   * reached although loopback, private, link-local or cloud-metadata addresses are refused. For development only.
   */
  OUTBOUND_ALLOW: z.string().default(''),
  /**
   * Base URL people's browsers reach the control plane at (its `PUBLIC_API_URL`): a person without a usable OAuth
   * connection is given `<PUBLIC_API_URL>/connect/<token>` (ADR 0027). Unset: they are told so without a link.
   */
  PUBLIC_API_URL: z.string().url().optional(),
  /** Port of the worker's health endpoints (/healthz, /readyz); 0 picks a free one; unset disables. */
  HEALTH_PORT: port.optional(),
  HEALTH_HOST: z.string().default('127.0.0.1'),
  /** Execution records waiting for the control plane are capped at about this many (oldest dropped first). */
  EXECUTION_RECORDS_MAX_BACKLOG: z.coerce.number().int().min(1000).default(100_000),
  /**
   * Durable tasks (ADR 0040): most bytes of a task's result (its JSON) kept in Redis for the task's retention. A larger
   * one fails the task saying so (the call ran; its result is not kept); plain calls are not bounded by it.
   */
  TASK_MAX_RESULT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(1024 * 1024),
  /** In debug sessions, request and response bodies are kept up to this size (each). */
  DEBUG_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(0)
    .default(16 * 1024),
  ...telemetryEnv,
  LOG_LEVEL: logLevel,
});
export type WorkerEnv = z.infer<typeof WorkerEnv>;

/** Cross-field rules (the Redis form, the shards), applied by `WorkerEnvChecked` (what the service parses at start). */
export const WorkerEnvChecked = WorkerEnv.superRefine((env, ctx) => {
  checkRedisEnv(env, ctx);
  checkQueueShards(env, ctx);
  if (env.RECORD_ARGUMENTS_PUBLIC_KEY && env.RECORD_ARGUMENTS_PUBLIC_KEY_FILE)
    ctx.addIssue({
      code: 'custom',
      path: ['RECORD_ARGUMENTS_PUBLIC_KEY'],
      message: 'set RECORD_ARGUMENTS_PUBLIC_KEY or RECORD_ARGUMENTS_PUBLIC_KEY_FILE, not both',
    });
  // Checks run after a field failed too: the list may be the raw text then.
  if (!Array.isArray(env.WORKER_QUEUE_SHARDS)) return;
  const outside = env.WORKER_QUEUE_SHARDS.filter((i) => i >= env.REDIS_QUEUE_SHARDS);
  if (outside.length > 0)
    ctx.addIssue({
      code: 'custom',
      path: ['WORKER_QUEUE_SHARDS'],
      message: `shard ${outside.join(', ')} does not exist: REDIS_QUEUE_SHARDS is ${env.REDIS_QUEUE_SHARDS} (shards 0 to ${env.REDIS_QUEUE_SHARDS - 1})`,
    });
});
