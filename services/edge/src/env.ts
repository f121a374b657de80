import { logLevel, maxBodyBytes, port, telemetryEnv } from '@toolplane/config';
import { checkQueueShards, checkRedisEnv, queueShardsShape, redisEnvShape } from '@toolplane/redis';
import { z } from 'zod';
import { DEFAULT_SANDBOX_LIMITS } from './code-mode/code-sandbox.ts';
import { DEFAULT_PROGRAM_BOUNDS } from './code-mode/code-slots.ts';

export const EdgeEnv = z.object({
  /** Port of the MCP HTTP endpoint (0 picks a free one). */
  PORT: port.default(8080),
  HOST: z.string().default('127.0.0.1'),
  // Redis in one of its three forms (REDIS_URL, REDIS_CLUSTER_NODES, REDIS_SENTINELS; ADR 0043), with auth and TLS.
  ...redisEnvShape,
  ...queueShardsShape,
  /** Must match the worker's and control plane's prefix. */
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default('tp'),
  /** Identifies this edge process on the results channel; random when unset. */
  EDGE_ID: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .optional(),
  /** How long a tools/call waits for the worker before giving up. */
  TOOL_CALL_TIMEOUT_MS: z.coerce.number().int().positive().default(30_000),
  /**
   * Quotas (ADR 0048) when the edge cannot reach Redis to check them: `false` (the default) refuses the call with
   * `quota.unavailable`; `true` lets it through uncounted.
   */
  QUOTA_FAIL_OPEN: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  /** How long an API key lookup is cached when no invalidation arrives. */
  API_KEY_CACHE_TTL_MS: z.coerce.number().int().min(0).default(60_000),
  /** Most API key lookups cached (valid and unknown keys; least recently used evicted). */
  API_KEY_CACHE_MAX: z.coerce.number().int().positive().default(10_000),
  /** How long an unknown API key is remembered (at most API_KEY_CACHE_TTL_MS). */
  API_KEY_NEGATIVE_TTL_MS: z.coerce.number().int().min(0).default(10_000),
  /** Most server catalogs cached with their compiled validators (least recently used evicted). */
  CATALOG_CACHE_MAX: z.coerce.number().int().positive().default(500),
  /** How long an unknown server id is remembered. */
  CATALOG_NEGATIVE_TTL_MS: z.coerce.number().int().min(0).default(10_000),
  /** Most workspaces whose access policies are cached (for API_KEY_CACHE_TTL_MS each). */
  ACCESS_CACHE_MAX: z.coerce.number().int().positive().default(10_000),
  /**
   * Requests answered 401 (no credential for a server that is not public, an invalid key or token)
   * allowed per client address and window; past it every request of the address gets 429 with
   * `Retry-After` until the window ends. 0 disables the limit.
   */
  UNAUTH_RATE_LIMIT: z.coerce.number().int().min(0).default(600),
  /** The window of UNAUTH_RATE_LIMIT (seconds); an address over its budget waits until it ends. */
  UNAUTH_RATE_WINDOW_SECONDS: z.coerce.number().int().positive().default(60),
  /**
   * Express `trust proxy`: how the client address is found behind load balancers. `false` (the
   * socket's address), a hop count, or comma-separated trusted addresses/subnets.
   */
  TRUST_PROXY: z.string().default('false'),
  /**
   * Plain 2025-era `tools/call` requests skip the MCP SDK's generic dispatch (same bytes out, checked by
   * tests/e2e/calls/fast-path.test.ts). `false` sends every request through the SDK (for comparison).
   */
  MCP_FAST_PATH: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  /** Largest accepted JSON-RPC request body. */
  MAX_BODY_BYTES: maxBodyBytes(1024 * 1024),
  /**
   * MCP Events, inbound URLs (`POST /hooks/{instanceId}`, ADR 0089): the most bytes of deliveries one connector
   * instance may have queued and not yet handled by a worker; past it a delivery is answered 503 with `Retry-After`.
   */
  INBOUND_MAX_QUEUED_BYTES_PER_INSTANCE: z.coerce
    .number()
    .int()
    .min(64 * 1024)
    .default(64 * 1024 * 1024),
  /**
   * MCP Events, inbound URLs: the most bytes of deliveries one client address (an IPv6 /64) may have queued for one
   * instance; past it a delivery is answered 429 with `Retry-After`. Keep it above MAX_BODY_BYTES × 4/3 (bodies are
   * queued base64) and below the instance's bound, so one address cannot fill an instance's share.
   */
  INBOUND_MAX_QUEUED_BYTES_PER_ADDRESS: z.coerce
    .number()
    .int()
    .min(64 * 1024)
    .default(16 * 1024 * 1024),
  /**
   * Browser origins allowed to call the MCP endpoints (comma-separated, `*` for any), with CORS (the dashboard's
   * origin, for "Try a tool"). Requests with another `Origin` header get 403 (DNS-rebinding protection); requests
   * without one are not browsers.
   */
  ALLOWED_ORIGINS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((o) => o.trim())
        .filter(Boolean),
    ),
  /** Base URL agents use to reach this edge; OAuth resources are `<PUBLIC_URL>/mcp/<serverId>`. */
  PUBLIC_URL: z.string().url().optional(),
  /** OAuth 2.1 authorization server (issuer) whose access tokens this edge accepts; unset disables OAuth. */
  OAUTH_ISSUER: z.string().url().optional(),
  /** Its JWKS URL (signature keys). */
  OAUTH_JWKS_URL: z.string().url().optional(),
  /** Scope a token needs to list and call tools. */
  OAUTH_REQUIRED_SCOPE: z.string().default('mcp:tools'),
  /**
   * Token claim naming the external user an OAuth caller is: when it names a user of the workspace,
   * tools run with that user's connections.
   */
  OAUTH_USER_CLAIM: z.string().min(1).default('sub'),
  /**
   * Enterprise-managed authorization (ADR 0082): PEM file of the private key (EC P-256, Ed25519 or RSA) the edges sign
   * their access tokens with; every edge of a deployment needs the same one. Set, with PUBLIC_URL: the edge is an
   * authorization server (issuer PUBLIC_URL) redeeming ID-JAGs of the workspaces' enterprise IdPs; unset: it is not.
   */
  ENTERPRISE_AS_SIGNING_KEY_FILE: z.string().min(1).optional(),
  /** Lifetime of the access tokens the edges issue for ID-JAGs (seconds). */
  ENTERPRISE_AS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(30).max(3600).default(300),
  /** Clock skew allowed on an ID-JAG's `exp` and `iat` (seconds). */
  ENTERPRISE_AS_CLOCK_SKEW_SECONDS: z.coerce.number().int().min(0).max(300).default(30),
  /**
   * PEM file of the workers' X25519 public key for per-request credentials: the edge seals a caller's
   * `X-Upstream-Authorization` to it (it can seal, never open). Unset: the header is refused.
   */
  REQUEST_CREDENTIALS_PUBLIC_KEY_FILE: z.string().min(1).optional(),
  /** While a caller that sent `_meta.progressToken` waits, a progress notification at least this often (ms; 0 disables). */
  PROGRESS_INTERVAL_MS: z.coerce.number().int().min(0).default(5_000),
  /** 2026-07-28 `tools/list` cache hint (ms): how long clients may reuse the list. */
  TOOLS_LIST_TTL_MS: z.coerce.number().int().min(0).default(10_000),
  /**
   * Durable tasks (MCP Tasks, ADR 0040): how long a task and its result are kept from its creation (ms; the `ttl` /
   * `ttlMs` the edge states).
   */
  TASK_RETENTION_MS: z.coerce.number().int().positive().default(3_600_000),
  /** How long a task's call may run (ms; its job's deadline), at most TASK_RETENTION_MS. */
  TASK_TIMEOUT_MS: z.coerce.number().int().positive().default(900_000),
  /** The poll interval the edge suggests to task clients (ms). */
  TASK_POLL_INTERVAL_MS: z.coerce.number().int().positive().default(1_000),
  /**
   * 2026-07-28: a call of a client that declared the Tasks extension answers as a plain result when it ends within
   * this long (ms), and as a task otherwise (the server decides).
   */
  TASK_IMMEDIATE_MS: z.coerce.number().int().min(0).default(500),
  /**
   * Approvals (ADR 0049): the most approval requests one caller (key, token or person) may have waiting for a decision
   * on one tool of one server; past it a call makes no request and gets a tool error saying to wait.
   */
  APPROVAL_MAX_PENDING: z.coerce.number().int().positive().default(20),
  /**
   * Code mode (ADR 0068): a `run_code` program's wall time from the call's arrival, its thread's start and inner calls
   * included (ms).
   */
  CODE_MODE_WALL_MS: z.coerce.number().int().positive().default(DEFAULT_SANDBOX_LIMITS.wallMs),
  /**
   * Code mode: the program's memory (MB): QuickJS's allocation limit, and how far its WebAssembly memory may grow past
   * the engine's own 16 MB.
   */
  CODE_MODE_MEMORY_MB: z.coerce
    .number()
    .int()
    .min(1)
    .max(1024)
    .default(DEFAULT_SANDBOX_LIMITS.memoryBytes / 1024 / 1024),
  /** Code mode: the tool calls one program may make. */
  CODE_MODE_MAX_CALLS: z.coerce.number().int().positive().default(DEFAULT_SANDBOX_LIMITS.maxCalls),
  /** Code mode: the console output kept (bytes; the rest is cut, and the result says so). */
  CODE_MODE_OUTPUT_BYTES: z.coerce.number().int().positive().default(DEFAULT_SANDBOX_LIMITS.outputBytes),
  /** Code mode: the program's return value (characters of JSON); a larger one is an error. */
  CODE_MODE_RESULT_CHARS: z.coerce.number().int().positive().default(DEFAULT_SANDBOX_LIMITS.resultChars),
  /**
   * Code mode: programs running at once on this edge (each a thread with its own memory); past it a `run_code` call is
   * refused with a retryable tool error, never queued.
   */
  CODE_MODE_MAX_PROGRAMS: z.coerce.number().int().positive().default(DEFAULT_PROGRAM_BOUNDS.perEdge),
  /**
   * Code mode: programs one caller may run at once on this edge (a person, else an API key, else an OAuth subject,
   * else an anonymous caller's client address); past it the call is refused with a retryable tool error.
   */
  CODE_MODE_MAX_PROGRAMS_PER_CALLER: z.coerce.number().int().positive().default(DEFAULT_PROGRAM_BOUNDS.perCaller),
  /** MCP Events (docs/events.md): a poll or push subscription lives this long after its last poll or heartbeat. */
  EVENTS_IDLE_TTL_MS: z.coerce.number().int().positive().default(3_600_000),
  /** MCP Events: an open `events/stream` sends a heartbeat (with its cursor) at least this often. */
  EVENTS_HEARTBEAT_MS: z.coerce.number().int().positive().max(30_000).default(25_000),
  /** MCP Events: the webhook subscription TTL granted when the client suggests none. */
  EVENTS_WEBHOOK_DEFAULT_TTL_MS: z.coerce.number().int().positive().default(3_600_000),
  /** MCP Events: the longest webhook subscription TTL granted (never "no expiry"). */
  EVENTS_WEBHOOK_MAX_TTL_MS: z.coerce.number().int().positive().default(86_400_000),
  /** MCP Events: the most subscriptions one connector instance holds (past it: `ResourceExhausted`). */
  EVENTS_MAX_SUBSCRIPTIONS: z.coerce.number().int().positive().default(10_000),
  /**
   * MCP Events: the most subscriptions of one connector instance one caller holds (a person, else an API key, else an
   * OAuth subject, else an anonymous caller's client address; past it: `ResourceExhausted`), so that no one caller
   * fills EVENTS_MAX_SUBSCRIPTIONS for everyone.
   */
  EVENTS_MAX_SUBSCRIPTIONS_PER_CALLER: z.coerce.number().int().positive().default(100),
  /** MCP Events: the `nextPollMs` a poll answers with. */
  EVENTS_NEXT_POLL_MS: z.coerce.number().int().positive().default(5_000),
  /** MCP Events, tests only: webhook callbacks may be `http://127.0.0.1` or `http://[::1]`. */
  EVENTS_ALLOW_LOOPBACK_CALLBACKS: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  ...telemetryEnv,
  LOG_LEVEL: logLevel,
});
export type EdgeEnv = z.infer<typeof EdgeEnv>;

/** Cross-field rules, applied by `EdgeEnvChecked`. */
export const EdgeEnvChecked = EdgeEnv.superRefine((env, ctx) => {
  checkRedisEnv(env, ctx);
  checkQueueShards(env, ctx);
  if (env.OAUTH_ISSUER && (!env.OAUTH_JWKS_URL || !env.PUBLIC_URL)) {
    ctx.addIssue({
      code: 'custom',
      path: ['OAUTH_JWKS_URL'],
      message: 'OAUTH_ISSUER needs OAUTH_JWKS_URL and PUBLIC_URL',
    });
  }
  if (env.ENTERPRISE_AS_SIGNING_KEY_FILE && !env.PUBLIC_URL)
    ctx.addIssue({ code: 'custom', path: ['PUBLIC_URL'], message: 'ENTERPRISE_AS_SIGNING_KEY_FILE needs PUBLIC_URL' });
});
