import { z } from 'zod';
import { HttpMethod, ParameterLocation } from './descriptor.ts';
import { QuotaRule } from './quotas.ts';
import { ApprovalRule } from './approvals.ts';
import { GuardrailRule } from './guardrails.ts';
import { DataLabel, labelSources, resultLabels, SessionSettings } from './session.ts';
import { CatalogEventType } from './events.ts';
import { TaskGrant } from './task-grants.ts';

/** A JSON Schema 2020-12 document; validated by Ajv where it is compiled, not here. */
export const JsonSchema = z.record(z.string(), z.unknown());
export type JsonSchema = z.infer<typeof JsonSchema>;

const ToolAnnotations = z.object({
  title: z.string().optional(),
  readOnlyHint: z.boolean().optional(),
  destructiveHint: z.boolean().optional(),
  idempotentHint: z.boolean().optional(),
  openWorldHint: z.boolean().optional(),
});

/** What an agent sees in `tools/list`. */
export const ToolDefinition = z.object({
  name: z.string().min(1).max(128),
  title: z.string().optional(),
  description: z.string(),
  inputSchema: JsonSchema,
  outputSchema: JsonSchema.optional(),
  annotations: ToolAnnotations.optional(),
  /**
   * Tasks extension: `required` for an external MCP tool that can only run as a task (callers that cannot make tasks
   * are refused); the edge lists other tools as `optional` to 2025-era clients.
   */
  execution: z.object({ taskSupport: z.enum(['optional', 'required']) }).optional(),
  /**
   * An external MCP tool's `_meta` as its server gave it (an MCP App's `ui.resourceUri`, ADR 0058), its `ui://`
   * pointers rewritten where the resource's URI was made unique.
   */
  _meta: z.record(z.string(), z.unknown()).optional(),
});
export type ToolDefinition = z.infer<typeof ToolDefinition>;

/** One argument of an HTTP operation: the MCP argument name and where its value goes upstream. */
export const HttpParamPlan = z.object({
  arg: z.string(),
  name: z.string(),
  in: ParameterLocation,
  default: z.unknown().optional(),
  /**
   * OpenAPI serialization (absent: the descriptor behaviour, i.e. `form` + explode for query arrays,
   * plain values elsewhere). `deepObject` applies to query objects (`name[key]=v`); `simple`, `label`
   * and `matrix` to path values; `spaceDelimited` / `pipeDelimited` to query arrays.
   */
  style: z.enum(['form', 'simple', 'label', 'matrix', 'spaceDelimited', 'pipeDelimited', 'deepObject']).optional(),
  explode: z.boolean().optional(),
  /** `in: body` only: this argument *is* the whole request body (a non-object schema, or an object wrapped under one argument). */
  wholeBody: z.boolean().optional(),
});
export type HttpParamPlan = z.infer<typeof HttpParamPlan>;

/** A limit shared by every worker: at most `limit` upstream calls per `intervalSeconds` for `key`. */
export const RateLimitPlan = z.object({
  /** Bucket id, e.g. `connector-instance:<id>` for the descriptor's `per_account` scope. */
  key: z.string(),
  limit: z.number().int().positive(),
  intervalSeconds: z.number().int().positive(),
});
export type RateLimitPlan = z.infer<typeof RateLimitPlan>;

/**
 * Authentication the worker computes from credential fields (keys of the plan's `secrets`) into the
 * reserved template value `{__authorization}` (used in `authHeaders`).
 */
export const AuthPlan = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('basic'), username: z.string(), password: z.string() }),
  z.object({ kind: z.literal('bearer'), token: z.string() }),
  z.object({
    kind: z.literal('oauth2_client_credentials'),
    tokenUrl: z.string(),
    scopes: z.array(z.string()).default([]),
    clientId: z.string(),
    clientSecret: z.string(),
  }),
  /**
   * A person's own account (ADR 0027): the connector instance's credential fields `clientId`/`clientSecret` are
   * the workspace's OAuth app; the bearer token is the calling external user's, from their connection
   * (`connection`, a secret name with `{user}` for the user's id), exchanged and refreshed by the worker.
   */
  z.object({
    kind: z.literal('oauth2_authorization_code'),
    authorizeUrl: z.string(),
    tokenUrl: z.string(),
    /** Where refreshes go when not the token endpoint (OpenAPI `refreshUrl`). */
    refreshUrl: z.string().optional(),
    revocationUrl: z.string().optional(),
    scopes: z.array(z.string()).default([]),
    clientId: z.string(),
    clientSecret: z.string(),
    /** Set when the catalog is compiled for a connector instance. */
    connection: z.string().optional(),
  }),
]);
export type AuthPlan = z.infer<typeof AuthPlan>;

/**
 * How the worker executes a single HTTP operation. Holds secret *names* only: `authHeaders` are
 * templates such as `{api_key}` and `secrets` maps each template field to a secret name in the store.
 */
export const HttpOperationPlan = z.object({
  kind: z.literal('http'),
  method: HttpMethod,
  /** Absolute URL with `{param}` placeholders for path parameters. */
  url: z.string(),
  params: z.array(HttpParamPlan),
  authHeaders: z.record(z.string(), z.string()),
  secrets: z.record(z.string(), z.string()),
  /** Checked atomically in Redis before the upstream call. */
  rateLimits: z.array(RateLimitPlan).optional(),
  /**
   * Per-user connections (`x-username`): for each credential field, the secret name of a
   * user's own value, with `{user}` standing for the user's id. Calls made for a user use these and
   * never fall back to the default credentials.
   */
  userSecrets: z.record(z.string(), z.string()).optional(),
  /** Computed credentials (basic, bearer, OAuth2 client credentials); see AuthPlan. */
  auth: AuthPlan.optional(),
  /** Credentials sent as query parameters or cookies (OpenAPI `apiKey` `in: query|cookie`): name → template such as `{api_key}`. */
  authQuery: z.record(z.string(), z.string()).optional(),
  authCookies: z.record(z.string(), z.string()).optional(),
  /**
   * How `in: body` arguments are encoded (default `json`). `form` is application/x-www-form-urlencoded,
   * `multipart` is multipart/form-data (string values as fields; objects as JSON parts).
   */
  bodyEncoding: z.enum(['json', 'form', 'multipart']).optional(),
  /**
   * The tool declares an `outputSchema`: a 2xx JSON answer becomes `structuredContent`. `wrap` names the
   * property the answer is put under when the response schema is not an object (`{ [wrap]: body }`).
   */
  output: z.object({ wrap: z.string().optional() }).optional(),
  /**
   * May the worker send this request again when the job is re-delivered after a worker stopped while it
   * may already have been sent? Absent: by method (GET, HEAD, PUT, DELETE and OPTIONS are idempotent).
   * From the OpenAPI extension `x-idempotent` or the descriptor's `idempotent`.
   */
  idempotent: z.boolean().optional(),
  /**
   * The upstream deduplicates requests carrying this header (OpenAPI `x-idempotency-key`, descriptor
   * `idempotency_key_header`): the worker sends it with a value derived from the invocation id, the same
   * on every delivery, so it may send again after a re-delivery.
   */
  idempotencyKeyHeader: z.string().optional(),
});
export type HttpOperationPlan = z.infer<typeof HttpOperationPlan>;

/** A tool of an external MCP server (`externalMcpConfigs`), proxied by the worker. */
const McpToolPlan = z.object({
  kind: z.literal('mcp'),
  /** The external server's `name` in the config. */
  server: z.string(),
  url: z.string(),
  /** The tool's name on the external server (ours may carry a prefix). */
  remoteTool: z.string(),
  /** Secret holding the configured headers as a JSON object (values are credentials). */
  headersSecret: z.string().optional(),
  /** A server registered on the workspace: header name → the secret holding its value (one per header). */
  headerSecrets: z.record(z.string(), z.string()).optional(),
});
type McpToolPlan = z.infer<typeof McpToolPlan>;

/** A tool a workflow step calls: an HTTP operation or an external MCP server's tool, compiled into the workflow's plan. */
export const ToolStepPlan = z.object({
  plan: z.discriminatedUnion('kind', [HttpOperationPlan, McpToolPlan]),
  /** Its name where it lives (a connector's operation id, a server's tool name). */
  name: z.string(),
  /** The hosted server offering the tool (absent: a connector's operation, an external server registered alone). */
  serverId: z.string().optional(),
  /** The connector instance whose credentials it sends, and the registered external MCP server it calls (ADR 0045). */
  instanceId: z.string().optional(),
  externalServerId: z.string().optional(),
  /**
   * A hosted server's tool: the server's name and the tool's input schema and annotations, as access policies'
   * conditions read a call of it (the worker decides each such step for the caller, ADR 0045).
   */
  serverName: z.string().optional(),
  inputSchema: z.record(z.string(), z.unknown()).optional(),
  annotations: z.record(z.string(), z.unknown()).optional(),
  /**
   * The tool is marked `confirm` on its server (`confirmTools`): the workflow tool calling it inherits the mark, so
   * the edge asks the caller's person before the workflow starts (ADR 0045).
   */
  confirm: z.literal(true).optional(),
  /**
   * What one call of the tool costs against cost quotas, as its catalog said at deployment (`CatalogTool.cost`;
   * absent: 1): a workflow tool whose step calls it costs that much for the step (ADR 0048).
   */
  cost: z.number().int().nonnegative().optional(),
  /**
   * The tool's data-flow labels as its catalog said at deployment (`CatalogTool.labels`, ADR 0078): a workflow tool
   * whose step calls it brings (and sends out) what the step's tool does.
   */
  labels: z
    .array(z.object({ label: DataLabel, source: z.enum(labelSources) }))
    .max(8)
    .optional(),
});
export type ToolStepPlan = z.infer<typeof ToolStepPlan>;

/**
 * A Flower / Arazzo workflow: the compiled IR of `@toolplane/workflow` (the workflow and
 * those it may run) and which workflow to run. Secret names only: `secretNames` maps each
 * `$secrets.NAME` the workflow reads to the secret's name in the store. Catalogs are stored in
 * PostgreSQL `jsonb`, which reorders object keys: every mapping of the IR whose order matters
 * (outputs) is an array of `[name, value]` pairs there (`OrderedMap`, IR `v: 2`), never an object.
 */
export const WorkflowPlan = z.object({
  kind: z.literal('workflow'),
  deploymentId: z.string(),
  workflowId: z.string(),
  ir: z.record(z.string(), z.unknown()),
  secretNames: z.record(z.string(), z.string()),
  /** The server opted in (`config.exposeCallerToken`) and the workflow reads `$current_user.token`: the edge puts the caller's OAuth token in the job. */
  callerToken: z.boolean().optional(),
  /**
   * Arazzo sources bound to a connector instance (`toolplane:connectors/…`), by source description name:
   * the secret name of each of the instance's credential fields (and of an external user's own, `{user}`
   * standing for the user's id), filling the credential templates of the steps calling its operations.
   */
  connectors: z
    .record(
      z.string(),
      z.object({
        instanceId: z.string(),
        secrets: z.record(z.string(), z.string()),
        userSecrets: z.record(z.string(), z.string()).optional(),
        /** The instance's `rate_limits`, keyed as its tools' (`connectorRateLimits`): each step calling its operations spends them. */
        rateLimits: z.array(RateLimitPlan).optional(),
      }),
    )
    .optional(),
  /**
   * The tools its steps call (docs/adr/0039), by reference (`toolplane:mcp_servers/<server>/tools/<tool>`…): each
   * one's plan as compiled at deployment, run by the worker as a call of that tool (its credentials, a person's own
   * account, rate limits). `serverId`: the hosted server whose people's connections an external MCP tool uses.
   */
  tools: z.record(z.string(), ToolStepPlan).optional(),
});
export type WorkflowPlan = z.infer<typeof WorkflowPlan>;

export const ExecutionPlan = z.discriminatedUnion('kind', [HttpOperationPlan, McpToolPlan, WorkflowPlan]);
export type ExecutionPlan = z.infer<typeof ExecutionPlan>;

/**
 * What an external MCP server offers besides tools, as listed when the catalog was compiled: its resources, resource
 * templates and prompts (served by the edge from the catalog, read and got through the worker, which alone holds the
 * headers), and whether it completes arguments or takes resource subscriptions. Prompt names carry the same prefix
 * rule as tools (`<server>__` when taken); resource URIs are kept as the server gave them, except a `ui://` URI another
 * attached server already offers, published as `ui://<server>__<rest>` (ADR 0058); any other URI already offered is
 * left out, with a warning.
 */
export const ExternalFeatures = McpToolPlan.pick({
  server: true,
  url: true,
  headersSecret: true,
  headerSecrets: true,
}).extend({
  resources: z.array(z.record(z.string(), z.unknown())).default([]),
  resourceTemplates: z.array(z.record(z.string(), z.unknown())).default([]),
  /** `prompt` as served (its `name` possibly prefixed); `remoteName` as the external server knows it. */
  prompts: z.array(z.object({ prompt: z.record(z.string(), z.unknown()), remoteName: z.string() })).default([]),
  /** The `ui://` URIs made unique: the published URI → the URI the external server knows (absent: none). */
  remoteUris: z.record(z.string(), z.string()).optional(),
  completions: z.boolean().optional(),
  subscribe: z.boolean().optional(),
});
export type ExternalFeatures = z.infer<typeof ExternalFeatures>;

export const CatalogTool = z.object({
  tool: ToolDefinition,
  plan: ExecutionPlan,
  /** Where the tool comes from (for SMART-mode search results and connection listings). */
  /** Where the tool comes from; `instanceId` names the connector instance (bindings are checked against it). */
  source: z.object({ connector: z.string(), instance: z.string(), instanceId: z.string().optional() }).optional(),
  /**
   * A person confirms each call first (the server's `confirmTools`): the edge asks the caller's client for MCP
   * elicitation and enqueues the call only after "accept" (ADR 0038). Absent: no confirmation.
   */
  confirm: z.literal(true).optional(),
  /**
   * Someone else approves each call first (the server's `approvalTools` and its rule, ADR 0049): the edge enqueues a
   * call only with an approval granted for exactly that call. Absent: no approval.
   */
  approval: ApprovalRule.optional(),
  /**
   * What one call costs against a cost quota (ADR 0048): the descriptor's or OpenAPI operation's `x-toolplane-cost`,
   * a workflow's declared cost, else the sum of its steps'. Absent: 1. Never shown to agents (`tools/list`).
   */
  cost: z.number().nonnegative().optional(),
  /**
   * The result shaped for models (the server's `config.resultShapes`): a JMESPath `projection` of the result's JSON and
   * an item cap (`maxItems`, on the projected value's arrays: itself, or its top-level members), applied by the worker
   * to each successful result. A tool with a projection has no `outputSchema` (the projection's shape is its own).
   */
  shape: z.object({ projection: z.string().optional(), maxItems: z.number().int().positive().optional() }).optional(),
  /**
   * Results cached (the server's `config.resultCache`, ADR 0067): a successful answer of an identical call is served
   * by the edge from Redis for `ttlMs`, to the same principal (`scope: principal`: key, token subject, person) or to
   * every caller of the server (`scope: server`). Only read-only HTTP GET tools and external MCP tools carry it.
   */
  cache: z.object({ ttlMs: z.number().int().positive(), scope: z.enum(['principal', 'server']) }).optional(),
  /**
   * Data-flow labels (ADR 0078): what each result brings into the caller's session (`private`, `untrusted`) and what
   * the tool does with what it is sent (`public_write`, `external_write`), with where each came from: the tool's
   * declaration (a route's or an operation's `labels`, a curated connector's default), the server's or the
   * instance's classification by an admin, or the MCP annotations read as hints (`openWorldHint`) when nothing is
   * declared. Absent: none. Never shown to agents.
   */
  labels: z
    .array(z.object({ label: DataLabel, source: z.enum(labelSources) }))
    .max(8)
    .optional(),
});
export type CatalogTool = z.infer<typeof CatalogTool>;

/**
 * An immutable, versioned snapshot of what one MCP server exposes. The control plane stores it in
 * PostgreSQL and publishes it to Redis; edges and workers cache it by `(serverId, version)`.
 */
export const Catalog = z.object({
  v: z.literal(1),
  serverId: z.string(),
  workspaceId: z.string(),
  version: z.number().int().positive(),
  name: z.string(),
  description: z.string().optional(),
  /**
   * MCP `serverInfo.name` when it is not `name`: a server created from a descriptor's `mcp_config`
   * answers `initialize` with its `server_name` as written (the server's own name is a slug of it).
   * `instructions` are the `description`.
   */
  serverInfo: z.object({ name: z.string() }).optional(),
  isPublic: z.boolean().default(false),
  /**
   * Callers may pass their own upstream credential with a call (`X-Upstream-Authorization`), used instead of
   * the stored credentials of connector and OpenAPI tools; absent or false: the header is refused.
   */
  perRequestAuth: z.boolean().optional(),
  /**
   * NORMAL: `tools` are what `tools/list` shows. SMART: `tools/list` shows the meta tools
   * (search, describe, execute, connections) and `tools` is the searchable catalog they act on.
   */
  mode: z.enum(['NORMAL', 'SMART']).default('NORMAL'),
  /** NORMAL servers: `tools/list` adds `run_code` (code mode, ADR 0068); SMART servers always show it. */
  codeMode: z.boolean().optional(),
  tools: z.array(CatalogTool),
  /** External MCP servers' resources, resource templates and prompts (absent: tools only). */
  external: z.array(ExternalFeatures).optional(),
  /**
   * The server's classification by an admin (`config.dataLabels`, ADR 0078): what every read of its attached servers'
   * resources and prompts brings into the caller's session, as every result of its tools does (each tool carries
   * them in its `labels` too). Absent: none.
   */
  classification: z.array(z.enum(resultLabels)).optional(),
  /** Problems met while compiling that did not stop it (an external MCP server that could not be listed). */
  warnings: z.array(z.string()).optional(),
  /**
   * The guardrails of this server (the workspace's, the server's, its tools'): the worker applies those on results, the
   * edge those on arguments (`on`); absent: none.
   */
  guardrails: z.array(GuardrailRule).optional(),
  /** The event types this server exposes (MCP Events, docs/events.md); absent: none. */
  events: z.array(CatalogEventType).optional(),
  /**
   * The server's settings of portable rules (ADR 0101), by rule name, each as its rule's own schema reads it (checked
   * when saved; the edge and the workers parse them again): absent, none.
   */
  ruleSettings: z.record(z.string(), z.unknown()).optional(),
  /**
   * The staging twin (ADR 0112): `on`, every call is answered by the twin; `recording`, calls go to production and
   * their clean results are kept for the twin. Absent: off.
   */
  twin: z.enum(['recording', 'on']).optional(),
});
export type Catalog = z.infer<typeof Catalog>;

/**
 * The scopes of an API key. management: the REST API; runtime: MCP on the edge; admin: the organization's workspaces
 * (POST /workspaces); server_admin: a key limited to servers may still change what they expose and who may call them,
 * deploy workflows on them and delete them; audit: the audit trail (which management does not imply); approve: the
 * approval requests only (list, read, approve, deny: what an approver needs; management implies it).
 */
export const apiKeyScopes = ['management', 'runtime', 'admin', 'server_admin', 'audit', 'approve'] as const;

/** What the edge needs to authenticate a key without touching the database. */
export const ApiKeyRecord = z.object({
  keyId: z.string(),
  /** The key's name (`caller.key_name` in policy conditions); republished when the key is renamed. */
  name: z.string().optional(),
  workspaceId: z.string(),
  scopes: z.array(z.string()),
  revoked: z.boolean().default(false),
  /** The only servers this key may reach; absent = every server of its workspace. */
  serverIds: z.array(z.string()).optional(),
  /** Every call made with this key is answered by the staging twin, on every server (ADR 0112). */
  twin: z.boolean().optional(),
});
export type ApiKeyRecord = z.infer<typeof ApiKeyRecord>;

/**
 * Who an access policy grants (ADR 0013). `value` is a key id, a `sub`, a group, a user name or a SCIM group's
 * displayName (`external_group`, ADR 0062: its members); "*" = any (not for api_key).
 */
export const PolicyPrincipal = z.object({
  type: z.enum(['api_key', 'oauth_subject', 'oauth_group', 'external_user', 'external_group']),
  value: z.string().min(1).max(200),
});
export type PolicyPrincipal = z.infer<typeof PolicyPrincipal>;

/** One allow rule: these principals may use these servers' tools (`["*"]` = all). */
export const AccessPolicyRule = z.object({
  id: z.string(),
  /** The policy's name: a refusal by its condition names it. */
  name: z.string().optional(),
  principals: z.array(PolicyPrincipal),
  servers: z.array(z.string()),
  tools: z.array(z.string()),
  /** A CEL condition (ADR 0036): the grant applies to a call only when it holds. */
  condition: z.string().max(2048).optional(),
  /**
   * With a condition (ADR 0049, `onFalse: "require_approval"`): a call this grant would refuse because its condition
   * is false runs instead once someone this rule names approved exactly that call. Its `version` digests the policy,
   * its condition and the rule: an edited grant leaves earlier requests unusable.
   */
  approval: ApprovalRule.optional(),
  /**
   * false (log only): a false condition refuses nothing and asks no approval; the call runs as if it held, and the
   * edge records what would have happened (`access.would_refuse`). Absent: enforced.
   */
  enforce: z.boolean().optional(),
});
export type AccessPolicyRule = z.infer<typeof AccessPolicyRule>;

/**
 * An enterprise IdP of the workspace as the edges' authorization server reads it (ADR 0082): whose ID-JAGs it redeems,
 * for which registered client (its secret only as a SHA-256 digest), and the claim naming the person.
 */
export const EnterpriseIdpRule = z.object({
  id: z.string(),
  name: z.string(),
  issuer: z.string(),
  jwksUrl: z.string(),
  clientId: z.string(),
  clientSecretHash: z.string(),
  userClaim: z.string(),
});
export type EnterpriseIdpRule = z.infer<typeof EnterpriseIdpRule>;

/** A workspace's access policies as published to Redis for the edge (deny by default). */
export const WorkspaceAccess = z.object({
  v: z.literal(1),
  workspaceId: z.string(),
  policies: z.array(AccessPolicyRule),
  /** The workspace's quotas (ADR 0048); absent: none. */
  quotas: z.array(QuotaRule).optional(),
  /** SCIM groups the policies name (ADR 0062): displayName → its active members' names; absent: none named. */
  groups: z.record(z.string(), z.array(z.string())).optional(),
  /** The workspace's session settings (ADR 0078): labels' lifetime and the session rules; absent: no session kept. */
  session: SessionSettings.optional(),
  /** The enterprise IdPs whose ID-JAGs the edges redeem for this workspace's servers (ADR 0082); absent: none. */
  enterpriseIdps: z.array(EnterpriseIdpRule).optional(),
  /** The workspace's task grants not long expired (ADR 0108), revoked ones too; absent: none. */
  taskGrants: z.array(TaskGrant).optional(),
});
export type WorkspaceAccess = z.infer<typeof WorkspaceAccess>;
