import { z } from 'zod';
import { AuthPlan } from './catalog.ts';
import { HttpUrl } from './input-rules.ts';
import { DelegationLimit } from './delegation.ts';
import { GuardrailFinding } from './guardrails.ts';
import { labelSources, resultLabels, SessionOfJob } from './session.ts';

/** Queue and job names, and Redis key layout shared by edge, worker and control plane. */
export const queueNames = { toolInvocations: 'tool-invocations', dataPlaneTasks: 'data-plane-tasks' } as const;
export const jobNames = { toolInvoke: 'tool.invoke' } as const;

/**
 * Redis key layout shared by edge, worker and control plane. `prefix` isolates deployments (and
 * tests) sharing one Redis; BullMQ's own keys use the same prefix.
 */
export function redisKeys(prefix: string) {
  return {
    prefix,
    ...publishedStateKeys(prefix),
    ...callKeys(prefix),
    ...mcpSessionKeys(prefix),
    ...oauthConnectKeys(prefix),
  } as const;
}

/** What the control plane publishes for edges and workers, and the channels that say it changed. */
function publishedStateKeys(prefix: string) {
  return {
    /** The server's live catalog (edges read it). */
    catalog: (serverId: string) => `${prefix}:catalog:${serverId}`,
    /** One immutable catalog version (workers read it, so calls enqueued just before an update still run). */
    catalogVersion: (serverId: string, version: number) => `${prefix}:catalog:${serverId}:v${version}`,
    apiKeys: `${prefix}:apikeys`,
    /**
     * String (JSON `{ epoch, runId, publishedAt }`): written by the control plane once every key, catalog
     * and access policy is published to this Redis (`runId`: Redis's `run_id` then). Absent: the state
     * is missing or being restored, and edges fail closed.
     */
    runtimeState: `${prefix}:runtime-state`,
    /**
     * String: the tool-call queue's shard count (REDIS_QUEUE_SHARDS), set by the first edge or worker to start;
     * the others refuse to start with another count (calls on a shard no worker reads would wait for nothing).
     */
    queueLayout: `${prefix}:queue-layout`,
    /** String (a random token, expiring): a control plane publishes `resource` from PostgreSQL (ADR 0017). */
    publicationLock: (resource: string) => `${prefix}:lock:${resource}`,
    /** Hash: API key id → epoch ms of its last use (edges write it at most once a minute per key). */
    apiKeyLastUsed: `${prefix}:apikeys:last-used`,
    /** String (JSON WorkspaceAccess): a workspace's access policies (edges read it). */
    access: (workspaceId: string) => `${prefix}:access:${workspaceId}`,
    /** Pub/sub: an edge found published state missing (the workspace id whose access document it lacked): the control plane republishes. */
    stateMissing: `${prefix}:events:state-missing`,
    /**
     * Pub/sub: the control plane published the whole state again (after Redis lost it, or at its start, e.g. on a
     * restored database): edges and workers drop everything they cached from it (the marker's epoch).
     */
    stateRepublished: `${prefix}:events:state-republished`,
    /** Pub/sub: a workspace id whose access policies changed. */
    accessChanged: `${prefix}:events:access`,
    /** Pub/sub: a server id whose catalog changed (or was deleted). */
    catalogChanged: `${prefix}:events:catalog`,
    /** Pub/sub: an API key hash that changed (created, revoked). */
    apiKeyChanged: `${prefix}:events:apikey`,
    /**
     * Pub/sub: a credential's standing changed other than by its key's record (a narrowed token revoked; a person
     * deleted, deactivated or renamed away; the message names which): each edge judges its open streams again (ADR 0095).
     */
    standingChanged: `${prefix}:events:standing`,
    /** Pub/sub: a secret-name prefix whose values changed (workers drop cached values under it). */
    secretsChanged: `${prefix}:events:secrets`,
    /** Hash: external user name → id, per workspace (x-username). */
    users: (workspaceId: string) => `${prefix}:users:${workspaceId}`,
    /**
     * Hash: name → id of the workspace's people who are gone under that name (deleted, deactivated, renamed away; issue
     * #89): a token whose user claim names one is refused, never run as the workspace's own caller. A name taken again
     * leaves it.
     */
    formerUsers: (workspaceId: string) => `${prefix}:former-users:${workspaceId}`,
    /** Hash: user id → JSON of the user's declared attributes (`$current_user.<name>` in workflows). */
    userAttributes: (workspaceId: string) => `${prefix}:user-attributes:${workspaceId}`,
    /** String (JSON `ServerIdentitySettings`): how a server treats calls made for external users. */
    serverIdentity: (serverId: string) => `${prefix}:server-identity:${serverId}`,
    /** Set: what one external user has connected (`instance:<id>`, `mcp:<serverId>/<external>`, `secret:<NAME>`), for SMART list_connections. */
    userConnections: (workspaceId: string, userId: string) => `${prefix}:user-connections:${workspaceId}:${userId}`,
    /** String (JSON `{ sessionId, endsAt }`, expiring at endsAt): the open debug session of a server. */
    debugSession: (serverId: string) => `${prefix}:debug:${serverId}`,
    /** Pub/sub: a server id whose debug session was opened or closed (workers drop their cached state). */
    debugSessionChanged: `${prefix}:events:debug`,
    /**
     * String (JSON `{ e, at, r }`: the credentials epoch it was made under, when, the result; expiring at its TTL): one
     * cached result of a cacheable tool (ADR 0067), under the digest of workspace, server, catalog version, tool,
     * arguments and principal. Written by the worker, read by the edge.
     */
    resultCache: (digest: string) => `${prefix}:result-cache:${digest}`,
    /**
     * String (a counter): bumped by the control plane whenever a secret of the workspace is written or deleted
     * (instance credentials, people's connections, workspace secrets, external headers); a cached result made under
     * another value is not served.
     */
    credentialsEpoch: (workspaceId: string) => `${prefix}:credentials-epoch:${workspaceId}`,
  } as const;
}

/** What one call passes through: the record streams, its execution lease, cancellations, tasks and replies. */
/**
 * The staging twin's keys (ADR 0112), under `<prefix>:twin`: its state (a hash per workspace and server) and its
 * recordings (a list per workspace, server and tool), each workspace's in one hash slot. Its quota counters are the
 * quotas' keys under the same prefix (`quotaCounterKey(twinKeys(prefix).prefix, …)`).
 */
export function twinKeys(prefix: string) {
  const twin = `${prefix}:twin`;
  return {
    prefix: twin,
    state: (workspaceId: string, serverId: string) => `${twin}:state:{t:${workspaceId}}:${serverId}`,
    recordings: (workspaceId: string, serverId: string, tool: string) =>
      `${twin}:rec:{t:${workspaceId}}:${serverId}:${tool}`,
  };
}

function callKeys(prefix: string) {
  return {
    /** Stream: execution records from workers (and edges) to the control plane. */
    executionRecords: `${prefix}:execution-records`,
    /** Stream: audit events the edges decide (refused calls, people's confirmations) to the control plane's trail. */
    auditEvents: `${prefix}:audit-events`,
    /**
     * String (the number of deliveries that reached the sending point), expiring after the call's deadline
     * plus a grace period: the execution lease. Written by the worker before a request of the invocation
     * may leave for the upstream; a re-delivered job that finds it may have been sent already.
     */
    lease: (invocationId: string) => `${prefix}:lease:${invocationId}`,
    /** Pub/sub: an invocation id whose caller went away (workers abort it if they run it). */
    cancel: `${prefix}:events:cancel`,
    /**
     * Hash (`TaskRecord` fields, expiring at the task's retention): a durable task (MCP Tasks extension, ADR 0040),
     * written by the edge that created it and settled by the worker that ran its job; read by any edge.
     */
    task: (taskId: string) => `${prefix}:task:${taskId}`,
    /** Sorted set (task ids by creation time, expiring with the newest task): one caller's tasks (2025-era `tasks/list`). */
    tasksOf: (scope: string) => `${prefix}:tasks:${scope}`,
    /** Pub/sub: results for one edge process (and, while a call runs, its progress/log events). */
    results: (edgeId: string) => `${prefix}:results:${edgeId}`,
    /** Pub/sub: a 2025-era `notifications/cancelled` (caller scope + request id): the edge running that request aborts it. */
    mcpCancel: `${prefix}:events:mcp-cancel`,
  } as const;
}

/** The little 2025-era MCP session state a stateless edge keeps, relays across edges, and resource subscriptions. */
function mcpSessionKeys(prefix: string) {
  return {
    /** String (a log level, expiring): what `logging/setLevel` asked for, per caller and MCP session. */
    mcpLogLevel: (scope: string) => `${prefix}:mcp-log-level:${scope}`,
    /**
     * String (`1`, expiring like `mcpLogLevel`): the MCP session's client declared URL-mode elicitation
     * (`capabilities.elicitation.url` in its 2025-11-25 `initialize`); absent for every other session.
     */
    mcpUrlElicitation: (scope: string) => `${prefix}:mcp-url-elicitation:${scope}`,
    /**
     * String (`1`, expiring like `mcpLogLevel`): the MCP session's client declared form-mode elicitation
     * (`capabilities.elicitation.form`, or a bare `elicitation: {}`, in its 2025-11-25 `initialize`).
     */
    mcpFormElicitation: (scope: string) => `${prefix}:mcp-form-elicitation:${scope}`,
    /**
     * String (32 random bytes, base64url; no expiry): the key every edge seals 2026-07-28 confirmation states with
     * (HMAC-SHA256, ADR 0038), made by the first edge that needs it (`SET NX`).
     */
    confirmStateKey: `${prefix}:confirm-state-key`,
    /** String (`1`, expiring with the state): a confirmation state's nonce, spent the first time the state is used. */
    confirmStateSpent: (nonce: string) => `${prefix}:confirm-state-spent:${nonce}`,
    /**
     * String (JSON `{ sampling?, elicitation? }`, expiring like `mcpLogLevel`): what the MCP session's client declared
     * in its 2025-11-25 `initialize` for requests a server sends during a call; absent when it declared neither.
     */
    mcpRelayCapabilities: (scope: string) => `${prefix}:mcp-relay-capabilities:${scope}`,
    /**
     * Pub/sub: a 2025-era client's answer to an `elicitation/create` the edge sent on a call's stream (JSON
     * `[key, answer]`, the key naming the caller's session and the request): the edge waiting for it resumes.
     */
    mcpElicitationReply: `${prefix}:events:mcp-elicitation-reply`,
    /**
     * Pub/sub: a caller's answer to a request an external MCP server sent during a call (JSON `[relayId, answer]`,
     * answer `{ result }` or `{ error }`), published by the edge that relayed it: the worker waiting for it resumes.
     */
    mcpRelayReply: `${prefix}:events:mcp-relay-reply`,
    /**
     * Sorted set: the external servers' resources someone is subscribed to (member JSON `[serverId, server, uri]`,
     * score: the epoch ms until which it is wanted), written by the edges while subscriptions live; a worker watches
     * each attached server that has any (`resourceWatchLock`) and publishes its updates on `resourceUpdated`.
     */
    resourceWatches: `${prefix}:resource-watches`,
    /** String (a worker id, expiring): the worker holding the watch of one attached server (`serverId` + server). */
    resourceWatchLock: (watchId: string) => `${prefix}:resource-watch-lock:${watchId}`,
    /** Pub/sub: an external server's resource changed (JSON `[serverId, uri]`): the edges tell its subscribers. */
    resourceUpdated: `${prefix}:events:resource-updated`,
    /** Set (URIs, expiring like `mcpLogLevel`): the resources a 2025-era MCP session subscribed to. */
    mcpSubscriptions: (scope: string) => `${prefix}:mcp-subscriptions:${scope}`,
  } as const;
}

/** People's connect links and what is known of their OAuth connections (ADR 0027). */
function oauthConnectKeys(prefix: string) {
  return {
    /**
     * String (JSON `ConnectLink`, 10 minutes, taken once with GETDEL): a person's connect link (ADR 0027), under the
     * SHA-256 (hex) of its token, as API keys are: what Redis holds opens nothing.
     */
    oauthConnectLink: (tokenHash: string) => `${prefix}:oauth-connect-link:${tokenHash}`,
    /**
     * String (JSON `{ link, verifier, redirectUri, browser }`, 10 minutes, taken once): an opened link waiting for
     * the provider's callback, under the SHA-256 (hex) of its `state`; `browser` is the hash of the connect page's
     * cookie in the browser that pressed the button (the callback must come with it).
     */
    oauthConnectState: (stateHash: string) => `${prefix}:oauth-connect-state:${stateHash}`,
    /**
     * Set (the `oauthConnectLink` and `oauthConnectState` keys, expiring with the last of them): what is pending for
     * one connection (its secret name); all of it is cancelled once the connection is made or ended.
     */
    oauthConnectPending: (connection: string) => `${prefix}:oauth-connect-pending:${connection}`,
    /**
     * Hash (`OAuthConnectionState`, no secret): what is known of a person's OAuth connection (its status, when the
     * access token expires, the granted scopes), written by the worker, read by the control plane and the edge.
     * Absent (Redis restarted empty): connected as far as known; the next refresh or call says otherwise.
     */
    oauthConnection: (connection: string) => `${prefix}:oauth-connection:${connection}`,
  } as const;
}
export type RedisKeys = ReturnType<typeof redisKeys>;

/** An anonymous caller's client as its session is keyed: a base64url SHA-256 prefix (never an address). */
/**
 * A client's digest (base64url, made by the edge). A plain string here: a pattern would keep the worker's compiled exact
 * check of jobs (exact-check.ts) from being built, and every job would be parsed by zod instead.
 */
const ClientDigest = z.string().min(1);

export const Principal = z.object({
  workspaceId: z.string(),
  keyId: z.string().optional(),
  /** OAuth subject (`sub`) when the caller used an access token. */
  subject: z.string().optional(),
  /** The external user (`x-username`) the call runs for, resolved by the edge to its id. */
  userId: z.string().optional(),
  username: z.string().optional(),
  /**
   * With `username`: why the caller may act as that user (ADR 0013): a policy id, `unnamed-key`, `token-user`, or
   * `id-jag:<IdP id>` for the edges' own tokens (the enterprise IdP that vouched for the person, ADR 0082).
   */
  actingVia: z.string().optional(),
  /**
   * A narrowed token's call (ADR 0084): its id and the chain of actors, root first (the key, then each holder); the
   * task grant it was redeemed from (ADR 0108), if one.
   */
  delegation: z.object({ tokenId: z.string(), actors: z.array(z.string()), grantId: z.string().optional() }).optional(),
  /**
   * An anonymous caller's own client (its MCP session, else its address, as a digest; never the address), in a
   * workspace that keeps sessions: its session scope (`sessionScopes`), kept in its records so a backtest replays
   * each client's session apart (ADR 0078 amended, ADR 0080).
   */
  client: ClientDigest.optional(),
  /**
   * The caller calls the staging twin (ADR 0112): its key is in twin mode, or the server is. Every rule runs as in
   * production; the worker answers instead of the upstream, its record is marked twin, its quotas are the twin's.
   */
  twin: z.literal(true).optional(),
});
export type Principal = z.infer<typeof Principal>;

/** A server's settings for calls made for external users (from its `config`). */
export const ServerIdentitySettings = z.object({
  v: z.literal(1),
  /** A user without their own connection runs with the shared credentials (default: a tool error). */
  fallbackToShared: z.boolean().default(false),
});
export type ServerIdentitySettings = z.infer<typeof ServerIdentitySettings>;

/** The `caller` of an execution record: the authenticating principal, the acting user and the reason it may act. */
export function recordCaller(p: Principal): ExecutionRecord['caller'] {
  return {
    ...(p.keyId ? { keyId: p.keyId } : {}),
    ...(p.subject !== undefined && !p.keyId ? { subject: p.subject } : {}),
    ...(p.username ? { username: p.username } : {}),
    ...(p.actingVia ? { actingVia: p.actingVia } : {}),
    ...(p.delegation ? { delegation: p.delegation } : {}),
    ...(p.client ? { client: p.client } : {}),
    ...(p.twin ? { twin: true as const } : {}),
  };
}

/**
 * The caller as access decisions read it (`@toolplane/access` `CallerIdentity`, and `caller.*` of conditions): what a
 * workflow's steps calling hosted servers' tools are decided with in the worker (ADR 0045). No credential: ids, names,
 * the token's verified claims.
 */
export const StepCaller = z.object({
  identity: z.object({
    keyId: z.string().optional(),
    keyServerIds: z.array(z.string()).optional(),
    subject: z.string().optional(),
    groups: z.array(z.string()).optional(),
    anonymous: z.boolean().optional(),
    username: z.string().optional(),
    selfUser: z.boolean().optional(),
  }),
  condition: z.object({
    key_id: z.string().optional(),
    key_name: z.string().optional(),
    subject: z.string().optional(),
    claims: z.record(z.string(), z.unknown()).optional(),
    user: z.string().optional(),
  }),
});
export type StepCaller = z.infer<typeof StepCaller>;

const QuotaChargeOfJob = z.object({
  keys: z.array(z.string()),
  amounts: z.array(z.number()),
  inFlight: z.array(z.string()).optional(),
});
const ApprovalOfJob = z.object({ key: z.string(), id: z.string(), timeoutMs: z.number().int().positive() });
const CacheOfJob = z.object({
  key: z.string(),
  ttlMs: z.number().int().nonnegative(),
  epoch: z.string(),
  scope: z.enum(['principal', 'server']),
});

/**
 * What the stages of the edge's call pipeline (ADR 0077) hand the worker: one key per capability, each absent when
 * its stage had nothing to say (a call under no rule carries no `rules` at all).
 */
export const CallRules = z.object({
  /**
   * The quota counters the edge charged for this call (ADR 0048): `keys`/`amounts` the windowed ones, which a worker
   * that finds the job expired in the queue gives back; `inFlight` the calls-in-flight counters, which the worker
   * releases (1 each) when the job ends however it ends, the TTL being the fallback of a crashed worker. Counter keys
   * name quotas and callers, never a secret.
   */
  quota: QuotaChargeOfJob.optional(),
  /**
   * The tool's declared cost units (`CatalogTool.cost`), only when it declares one (absent: 1): what the worker writes
   * as the call's `costUnits` in its record, for usage reports.
   */
  cost: z.number().nonnegative().optional(),
  /**
   * A task's call held for someone else's approval (ADR 0049): the job waits in the queue (delayed until the request's
   * expiry) and runs only if the request `id` under `key` (`approvalKey`) is granted when it starts, spending it
   * (`startApprovedJob`); a denied or expired request fails the task instead. `timeoutMs`: how long the call may run
   * once it starts (the job's own deadline covers the wait too).
   */
  approval: ApprovalOfJob.optional(),
  /**
   * `arguments`: what guardrails on arguments found in a call that went on (redacted, flagged, log-only; ADR 0050), each with
   * `on: "arguments"`: the worker lists them in the call's record next to what the result's guardrails found. Never
   * a value; absent when nothing was found.
   */
  guardrails: z.object({ arguments: z.array(GuardrailFinding) }).optional(),
  /**
   * A cacheable tool's call the edge found no cached answer for (ADR 0067): the worker stores a clean successful
   * result (no error, no guardrail finding, not a task's, not an `input_required` round) under `key` for `ttlMs`,
   * with the credentials `epoch` the edge read; `scope` is said in the result's `_meta["toolplane/cache"]`. `ttlMs` 0:
   * an external MCP tool nobody configured, cached only as its result declares (`ttlMs` > 0, `cacheScope`).
   */
  cache: CacheOfJob.optional(),
  /**
   * The caller's session (ADR 0078), in a workspace that keeps one: the worker adds what the result brings (the
   * tool's labels, its guardrails' findings) to the session's scopes in Redis before the result leaves.
   */
  session: SessionOfJob.optional(),
  /**
   * A workflow called with a narrowed token (ADR 0084), whose steps call hosted servers' tools: the token's rights
   * (its id, servers, tools, its chain's conditions and call limits, its expiry; never the token), which each step
   * meets as a direct call would (`delegationStepRefusal`), its calls charged to the chain's limits.
   */
  delegation: z
    .object({
      tokenId: z.string(),
      servers: z.array(z.string()).nullable(),
      tools: z.array(z.string()).nullable(),
      conditions: z.array(z.string()),
      limits: z.array(DelegationLimit),
      exp: z.number().int(),
    })
    .optional(),
});
export type CallRules = z.infer<typeof CallRules>;

/** What every version of the job carries besides the rules. */
const jobFields = {
  invocationId: z.string().min(1),
  /** A call a `run_code` program made (code mode, ADR 0068): the program's invocation, copied to the record. */
  parentInvocationId: z.string().optional(),
  serverId: z.string(),
  catalogVersion: z.number().int().positive(),
  tool: z.string(),
  arguments: z.record(z.string(), z.unknown()),
  principal: Principal,
  /** Epoch ms after which the worker gives up. */
  deadlineAt: z.number().int(),
  /** The edge process waiting for the result (pub/sub channel suffix). */
  replyTo: z.string(),
  /** W3C `traceparent` of the edge's enqueue (producer) span: the worker's span continues it. Absent while tracing is off. */
  traceparent: z.string().optional(),
  /** The caller asked for progress (`_meta.progressToken`): the worker publishes `ToolInvokeEvent`s while it runs. */
  progress: z.boolean().optional(),
  /** The caller's MCP log level: external MCP servers' log messages at this level and above are relayed. */
  logLevel: z.enum(['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency']).optional(),
  /**
   * Workflow tools only: the caller's `Config-*` request headers (name without the prefix, lower-case)
   * for `$config.<name>` / `$current_user.<name>`. Caller-supplied, possibly sensitive: never logged,
   * never recorded (the worker redacts them from results and records).
   */
  config: z.record(z.string(), z.string()).optional(),
  /**
   * Workflow tools only, and only when the server opted in (`config.exposeCallerToken`) and the tool
   * reads `$current_user.token`: the caller's OAuth access token (never an API key). It stays in Redis
   * for the job's lifetime.
   */
  callerToken: z.string().optional(),
  /**
   * Workflow tools whose steps call hosted servers' tools, and tasks' calls only: the caller, for the worker's access
   * decision of each such step (its tool's grants and conditions, with the step's arguments; ADR 0045) and of a task's
   * call when its job starts. Absent there: the steps fail, the task is refused.
   */
  stepCaller: StepCaller.optional(),
  /**
   * Workflow tools whose steps call hosted servers' tools: what the caller authenticated with (the API key's SHA-256, a
   * narrowed token's chain of ids, the token's expiry in epoch ms; never a credential), judged again before each such
   * step (ADR 0090): a key deleted, a token revoked or expired since the call started refuses the next step.
   */
  callerStanding: z
    .object({
      keyHash: z.string().optional(),
      tokenChain: z.array(z.string()).optional(),
      expiresAt: z.number().int().optional(),
    })
    .optional(),
  /**
   * Connector and OpenAPI tools only, and only when the server allows per-request authentication
   * (`perRequestAuth`): the caller's `X-Upstream-Authorization` value, sealed by the edge to the workers'
   * request-credentials key (compact JWE, ECDH-ES with X25519, A256GCM; its protected header names this
   * `invocationId`). Never in clear: the edge cannot open it, the worker uses it for this call instead of
   * the stored credentials and keeps it nowhere (docs/security.md, "Per-request credentials").
   */
  upstreamAuthorization: z.string().optional(),
  /**
   * The staging twin (ADR 0112): `answer`, the worker answers instead of the upstream and opens no connection (the
   * principal's `twin` says the same; either makes a twin job); `record`, a production call of a server in twin mode
   * `recording`, whose clean result the worker keeps for the twin.
   */
  twin: z.enum(['answer', 'record']).optional(),
  /**
   * External MCP tools only, 2026-07-28 multi-round-trip (SEP-2322): the caller's retry of a call that
   * returned `input_required` (its `inputResponses` and the echoed opaque `requestState`), and the
   * client capabilities it declared (`elicitation`, `sampling`, `roots`), which the worker declares to
   * the external server so that it may ask for input through the result. Nothing is kept between rounds.
   */
  multiRound: z
    .object({
      inputResponses: z.unknown().optional(),
      requestState: z.unknown().optional(),
      clientCapabilities: z.record(z.string(), z.unknown()).optional(),
    })
    .optional(),
  /**
   * A request to an external MCP server other than `tools/call` (a resource read, a prompt, a completion): `tool` then
   * names what is asked for in records (a prompt's or resource's name), the worker sends `method` with `params` to
   * the attached server `server` of the catalog version and answers its result in `mcpResult`.
   */
  request: z
    .object({
      method: z.enum(['resources/read', 'prompts/get', 'completion/complete']),
      server: z.string(),
      params: z.record(z.string(), z.unknown()),
    })
    .optional(),
  /**
   * External MCP tools called by a 2025-era client that declared sampling and/or elicitation: the capabilities the worker
   * declares to the external server, whose `sampling/createMessage` and `elicitation/create` requests during the call
   * are relayed to the caller on the call's stream (`ToolInvokeEvent` kind `request`); the answer comes back on
   * `mcpRelayReply`.
   */
  relay: z
    .object({
      sampling: z.record(z.string(), z.unknown()).optional(),
      elicitation: z.record(z.string(), z.unknown()).optional(),
    })
    .optional(),
  /**
   * The edge takes a plain result as the JSON its worker serialised (`SerializedToolResult`, ADR 0033): the worker
   * may then publish it as a second part of the reply. A worker that does not know this field answers as before.
   */
  serializedResult: z.literal(true).optional(),
  /**
   * The call runs as a durable task (ADR 0040): the worker settles the task record `task(id)` with its reply (when the
   * record still exists and is `working`), and does not run a job whose task was cancelled or lost.
   */
  task: z.object({ id: z.string().min(1) }).optional(),
};

/**
 * The first version of the job: the rules as loose fields. Still read during a rolling upgrade (a job an edge of the
 * previous release queued), upgraded as it is parsed (`upgradeJobV1`); no edge writes it any more.
 */
const ToolInvokeJobV1 = z.object({
  v: z.literal(1),
  ...jobFields,
  quotaCharge: QuotaChargeOfJob.optional(),
  cost: z.number().nonnegative().optional(),
  approval: ApprovalOfJob.optional(),
  argumentFindings: z.array(GuardrailFinding).optional(),
  cache: CacheOfJob.optional(),
});
export type ToolInvokeJobV1 = z.input<typeof ToolInvokeJobV1>;

/**
 * `tool.invoke` job payload. References only: never secrets or resolved credentials (the edge can read Redis too).
 * New fields enter as `.optional()`; a breaking change is a new version, read beside the old one until no edge writes
 * it. Version 2 (ADR 0077): what the call's stages decided under `rules`, a key per capability.
 */
export const ToolInvokeJobV2 = z.object({ v: z.literal(2), ...jobFields, rules: CallRules.optional() });

/** A version 1 job as version 2: its loose rule fields under `rules`. */
function upgradeJobV1(job: z.output<typeof ToolInvokeJobV1>): z.output<typeof ToolInvokeJobV2> {
  const { v: _v, quotaCharge, cost, approval, argumentFindings, cache, ...rest } = job;
  const rules: CallRules = {
    ...(quotaCharge ? { quota: quotaCharge } : {}),
    ...(cost !== undefined ? { cost } : {}),
    ...(approval ? { approval } : {}),
    ...(argumentFindings ? { guardrails: { arguments: argumentFindings } } : {}),
    ...(cache ? { cache } : {}),
  };
  return { v: 2, ...rest, ...(Object.keys(rules).length > 0 ? { rules } : {}) };
}

/** The job as workers read it: version 2, or a version 1 job upgraded. */
export const ToolInvokeJob = z.union([ToolInvokeJobV2, ToolInvokeJobV1.transform(upgradeJobV1)]);
export type ToolInvokeJob = z.output<typeof ToolInvokeJob>;

const ContentBlock = z.looseObject({ type: z.string() });

export const ToolResultPayload = z.object({
  content: z.array(ContentBlock),
  structuredContent: z.record(z.string(), z.unknown()).optional(),
  isError: z.boolean().optional(),
  /** Facts for the client beside the content (a quota's refusal: which, its limit, when to retry). */
  _meta: z.record(z.string(), z.unknown()).optional(),
  /**
   * How long, from now, the result may be reused, and by whom (`public`: any caller; `private`: this principal only):
   * SEP-2549's fields (2026-07-28 cacheable results), on a cached tool's result (ADR 0067), or as an external MCP
   * server declared them (which decides whether its tool's result is cached unless the server's config does). An
   * external server's malformed value is dropped, never a failed call.
   */
  ttlMs: z.number().nonnegative().optional().catch(undefined),
  cacheScope: z.enum(['public', 'private']).optional().catch(undefined),
  /**
   * An external MCP server's 2026-07-28 `input_required` result, relayed as-is to the caller (which
   * retries with `inputResponses` and the `requestState`): `content` is then empty and not sent.
   */
  resultType: z.literal('input_required').optional(),
  inputRequests: z.record(z.string(), z.unknown()).optional(),
  requestState: z.string().optional(),
  /** The answer to a job's `request` (a resource's contents, a prompt's messages, completion values), relayed as-is. */
  mcpResult: z.record(z.string(), z.unknown()).optional(),
  /** The external server answered the retry of a multi-round call with this JSON-RPC error (e.g. a tampered `requestState`): relayed as such. */
  protocolError: z.object({ code: z.number().int(), message: z.string(), data: z.unknown().optional() }).optional(),
});
export type ToolResultPayload = z.infer<typeof ToolResultPayload>;

const ToolInvokeFailure = z.object({
  v: z.literal(1),
  invocationId: z.string(),
  ok: z.literal(false),
  error: z.object({
    kind: z.enum(['user', 'transient', 'internal']),
    code: z.string(),
    message: z.string(),
    /**
     * `connection.required` only: the person's connect link, also in `message` (ADR 0027). The edge asks a client
     * that declared URL-mode elicitation to open it (MCP `-32042`, or `input_required` on 2026-07-28).
     */
    connectUrl: z.string().url().optional(),
  }),
});

const ToolInvokeSuccess = z.object({
  v: z.literal(1),
  invocationId: z.string(),
  ok: z.literal(true),
  result: ToolResultPayload,
});

/** What a worker answers for a tool invocation. */
export const ToolInvokeResult = z.discriminatedUnion('ok', [ToolInvokeSuccess, ToolInvokeFailure]);
export type ToolInvokeResult = z.infer<typeof ToolInvokeResult>;

const utf8 = new TextDecoder();

/**
 * A plain tool result (only `content`, `structuredContent` and `isError`, in that order) as its worker serialised it:
 * UTF-8 JSON that the edge writes into its answer as it came, without parsing and serialising it again (ADR 0033).
 * `value()` parses it where a value is needed (the SDK's path).
 */
export class SerializedToolResult {
  readonly json: Uint8Array;
  readonly isError: boolean | undefined;
  private parsed: ToolResultPayload | undefined;

  constructor(json: Uint8Array, isError: boolean | undefined) {
    this.json = json;
    this.isError = isError;
  }

  /** The result as a value, parsed and checked on first use. */
  value(): ToolResultPayload {
    return (this.parsed ??= ToolResultPayload.parse(JSON.parse(utf8.decode(this.json))));
  }
}

/** A tool result as the edge holds it: a value, or the JSON its worker serialised. */
export type ToolOutcome = ToolResultPayload | SerializedToolResult;

/** The result of a `ToolOutcome` as a value. */
export const toolResultValue = (outcome: ToolOutcome): ToolResultPayload =>
  outcome instanceof SerializedToolResult ? outcome.value() : outcome;

/** What the edge receives for a tool invocation: the worker's answer, its result possibly still serialised. */
export const ReceivedToolInvokeResult = z.discriminatedUnion('ok', [
  ToolInvokeSuccess.extend({ result: z.union([z.instanceof(SerializedToolResult), ToolResultPayload]) }),
  ToolInvokeFailure,
]);
export type ReceivedToolInvokeResult = z.infer<typeof ReceivedToolInvokeResult>;

/**
 * What a worker publishes on the edge's result channel while a call runs (only when the job asked for
 * it): progress (workflow steps, an external MCP server's own progress) and relayed log messages.
 */
export const ToolInvokeEvent = z.object({
  v: z.literal(1),
  invocationId: z.string(),
  event: z.discriminatedUnion('kind', [
    z.object({
      kind: z.literal('progress'),
      progress: z.number().optional(),
      total: z.number().optional(),
      message: z.string().optional(),
    }),
    z.object({
      kind: z.literal('log'),
      level: ToolInvokeJobV1.shape.logLevel.unwrap(),
      logger: z.string().optional(),
      data: z.unknown(),
    }),
    /** An external server's request to the caller (job `relay`): answered on `mcpRelayReply` under `relayId`. */
    z.object({
      kind: z.literal('request'),
      relayId: z.string(),
      method: z.enum(['sampling/createMessage', 'elicitation/create']),
      params: z.record(z.string(), z.unknown()),
    }),
  ]),
});
export type ToolInvokeEvent = z.infer<typeof ToolInvokeEvent>;

/**
 * What every data-plane task carries besides its `kind` and its own fields: the version, an id, when its asker stops
 * waiting, and the process its reply goes to.
 */
const taskEnvelope = {
  v: z.literal(1),
  taskId: z.string().min(1),
  deadlineAt: z.number().int(),
  replyTo: z.string(),
};

/**
 * `connector.test` (control plane → worker): run a connector's `test_endpoint` with an instance's
 * credentials. The request holds secret names only; the worker resolves them.
 */
const ConnectorTestJobV1 = z.object({
  ...taskEnvelope,
  kind: z.literal('connector.test'),
  method: z.string(),
  url: z.string(),
  /** Header templates such as `{api_key}`, filled from `secrets` by the worker. */
  headers: z.record(z.string(), z.string()),
  secrets: z.record(z.string(), z.string()),
  expectedStatus: z.number().int(),
});
/**
 * `mcp.list_tools` (control plane → worker): connect to an external MCP server and list its tools
 * (`load-tools-from-url`). Header values are sent by the worker only.
 */
const ListRemoteToolsJobV1 = z.object({
  ...taskEnvelope,
  kind: z.literal('mcp.list_tools'),
  url: z.string().url(),
  headers: z.record(z.string(), z.string()),
  /** Secret holding more headers (a JSON object), resolved by the worker. */
  headersSecret: z.string().optional(),
  /** More headers, one secret each (header name → secret name), resolved by the worker. */
  headerSecrets: z.record(z.string(), z.string()).optional(),
});

/**
 * `document.fetch` (control plane → worker): fetch a document (an Arazzo source description's OpenAPI
 * document) at deploy time through the outbound guard. `https` only, except for hosts the worker's
 * `OUTBOUND_ALLOW` lists (development and tests); every redirect is checked the same way.
 */
const FetchDocumentJobV1 = z.object({
  ...taskEnvelope,
  kind: z.literal('document.fetch'),
  url: z.string().url(),
  /** The body is refused beyond this size. */
  maxBytes: z
    .number()
    .int()
    .positive()
    .max(64 * 1024 * 1024),
});

/**
 * `webhook.post` (control plane → worker): POST a JSON body to a URL a workspace gave (a quota's alert webhook, ADR
 * 0048) through the outbound guard: `https` only, plain `http` only for hosts the worker's `OUTBOUND_ALLOW` lists; no
 * redirect is followed (a 3xx is a failure). One attempt: the control plane retries. The body names no secret.
 */
const PostWebhookJobV1 = z.object({
  ...taskEnvelope,
  kind: z.literal('webhook.post'),
  url: HttpUrl,
  /** JSON text. */
  body: z.string().max(64 * 1024),
});
export type PostWebhookJob = z.infer<typeof PostWebhookJobV1>;

/** Where `audit.export` sends a batch: a syslog receiver, Splunk HEC or a webhook (secret names only). */
export const AuditExportTarget = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('syslog'),
    host: z.string().min(1).max(253),
    port: z.number().int().min(1).max(65535),
    /** TLS (RFC 5425) with `caPem` as the trusted roots (else the system's), the name checked `serverName` or `host`. */
    tls: z.boolean(),
    caPem: z
      .string()
      .max(64 * 1024)
      .optional(),
    serverName: z.string().max(253).optional(),
    /** The message body: the event as JSON, or a CEF line carrying it. */
    format: z.enum(['json', 'cef']),
  }),
  z.object({
    type: z.literal('splunk_hec'),
    url: HttpUrl,
    /** The secret holding the HEC token. */
    tokenSecret: z.string().min(1),
    index: z.string().max(200).optional(),
    sourcetype: z.string().max(200).optional(),
  }),
  z.object({
    type: z.literal('webhook'),
    url: HttpUrl,
    /** The secret holding the HMAC key of `x-toolplane-signature`. */
    hmacSecret: z.string().min(1),
  }),
]);
export type AuditExportTarget = z.infer<typeof AuditExportTarget>;

/**
 * `audit.export` (control plane → worker): one batch of a workspace's audit events, in `seq` order and exactly as
 * hashed, sent to a receiver (ADR 0065). One attempt: the control plane's deliverer retries and moves its cursor.
 */
const AuditExportJobV1 = z.object({
  ...taskEnvelope,
  kind: z.literal('audit.export'),
  workspaceId: z.string(),
  target: AuditExportTarget,
  events: z.array(z.record(z.string(), z.unknown())).min(1).max(500),
});
export type AuditExportJob = z.infer<typeof AuditExportJobV1>;

/**
 * What a person's connect link stands for (ADR 0027), written by the worker that found the person without a usable
 * connection: whose connection, which tool's OAuth app (the catalog version names it), and what the browser is
 * sent to the provider with. No secret: the client id is public, the app's secret stays in the store.
 */
export const ConnectLink = z.object({
  v: z.literal(1),
  workspaceId: z.string(),
  userId: z.string(),
  username: z.string(),
  serverId: z.string(),
  catalogVersion: z.number().int(),
  tool: z.string(),
  /** The person's connection: the secret name their tokens are stored under. */
  connection: z.string(),
  /** Where the browser is sent: never anything but an http(s) URL, whatever a rewritten record says. */
  authorizeUrl: HttpUrl,
  clientId: z.string(),
  scopes: z.array(z.string()),
});
export type ConnectLink = z.infer<typeof ConnectLink>;

/**
 * `oauth.exchange` (control plane → worker): the provider's authorization code for a connect link, with the PKCE
 * verifier, to be exchanged by the worker (the only reader of the app's client secret) and stored as the person's
 * connection. The code is single-use and useless without the client secret.
 */
const OAuthExchangeJobV1 = z.object({
  ...taskEnvelope,
  kind: z.literal('oauth.exchange'),
  link: ConnectLink,
  code: z.string().min(1),
  verifier: z.string().min(43),
  redirectUri: z.string().url(),
});
export type OAuthExchangeJob = z.infer<typeof OAuthExchangeJobV1>;

/**
 * `oauth.revoke` (control plane → worker): ends a person's connection. The worker revokes the token at the provider
 * (RFC 7009, when the connector declares a revocation endpoint; the refresh token when there is one) with the app's
 * credentials, then deletes the tokens. `auth` and `secrets` are the instance's compiled plan (secret names only).
 */
const OAuthRevokeJobV1 = z.object({
  ...taskEnvelope,
  kind: z.literal('oauth.revoke'),
  workspaceId: z.string(),
  /** The person's connection: the secret name their tokens are stored under. */
  connection: z.string(),
  auth: AuthPlan,
  secrets: z.record(z.string(), z.string()),
});
export type OAuthRevokeJob = z.infer<typeof OAuthRevokeJobV1>;

/**
 * `oauth.connect_link` (edge → worker): a connect link for a person's own account (ADR 0027), asked by SMART
 * `connect`. Only the worker makes links (they name the app's client id, read from the secrets store); it takes the
 * tool's plan from the catalog version named here and writes the link's binding, so the edge sees only the URL.
 */
const OAuthConnectLinkJobV1 = z.object({
  ...taskEnvelope,
  kind: z.literal('oauth.connect_link'),
  // Whose link, for which tool: the binding's own fields.
  ...ConnectLink.pick({
    workspaceId: true,
    userId: true,
    username: true,
    serverId: true,
    catalogVersion: true,
    tool: true,
  }).shape,
});
export type OAuthConnectLinkJob = z.infer<typeof OAuthConnectLinkJobV1>;

export const DataPlaneTask = z.discriminatedUnion('kind', [
  ConnectorTestJobV1,
  ListRemoteToolsJobV1,
  FetchDocumentJobV1,
  OAuthExchangeJobV1,
  OAuthRevokeJobV1,
  OAuthConnectLinkJobV1,
  PostWebhookJobV1,
  AuditExportJobV1,
]);
export type DataPlaneTask = z.infer<typeof DataPlaneTask>;
export type ConnectorTestJob = z.infer<typeof ConnectorTestJobV1>;
export type ListRemoteToolsJob = z.infer<typeof ListRemoteToolsJobV1>;
export type FetchDocumentJob = z.infer<typeof FetchDocumentJobV1>;

export const FetchDocumentResult = z.object({
  v: z.literal(1),
  taskId: z.string(),
  kind: z.literal('document.fetch'),
  ok: z.boolean(),
  /** The document as text (UTF-8), when `ok`. */
  content: z.string().optional(),
  contentType: z.string().optional(),
  /** The URL the document came from after redirects. */
  finalUrl: z.string().optional(),
  /** Why it could not be fetched (a refusal of the outbound guard, an HTTP status, a limit). */
  error: z.string().optional(),
});
export type FetchDocumentResult = z.infer<typeof FetchDocumentResult>;

export const ListRemoteToolsResult = z.object({
  v: z.literal(1),
  taskId: z.string(),
  ok: z.boolean(),
  /** Tools in standard MCP format, as the remote server listed them. */
  tools: z.array(z.record(z.string(), z.unknown())).default([]),
  /** What else it offers, when it declares the capability (resources, resource templates, prompts). */
  resources: z.array(z.record(z.string(), z.unknown())).optional(),
  resourceTemplates: z.array(z.record(z.string(), z.unknown())).optional(),
  prompts: z.array(z.record(z.string(), z.unknown())).optional(),
  /** Its event types (`events/list`), when it declares the MCP Events extension. */
  events: z.array(z.record(z.string(), z.unknown())).optional(),
  /** The capabilities it declared at initialize (`completions`, `resources.subscribe`, …). */
  capabilities: z.record(z.string(), z.unknown()).optional(),
  transport: z.enum(['streamable-http', 'sse']).optional(),
  error: z.string().optional(),
});
export type ListRemoteToolsResult = z.infer<typeof ListRemoteToolsResult>;

export const ConnectorTestResult = z.object({
  v: z.literal(1),
  taskId: z.string(),
  passed: z.boolean(),
  /** HTTP status the upstream answered, when it answered. */
  status: z.number().int().optional(),
  expectedStatus: z.number().int(),
  durationMs: z.number(),
  /** Why it failed, when it did (never contains credential values). */
  error: z.string().optional(),
});
export type ConnectorTestResult = z.infer<typeof ConnectorTestResult>;

/** `oauth.exchange`'s answer: connected, or what the person may be told (the provider's error code). */
export const OAuthExchangeResult = z.object({
  v: z.literal(1),
  taskId: z.string(),
  kind: z.literal('oauth.exchange'),
  ok: z.boolean(),
  error: z.string().optional(),
});
export type OAuthExchangeResult = z.infer<typeof OAuthExchangeResult>;

/**
 * `oauth.revoke`'s answer. `revocation`: `revoked` (the provider accepted it), `no_endpoint` (the connector declares
 * none), `failed` (the provider refused or could not be reached: `error` says how; the tokens are deleted anyway),
 * `not_connected` (no tokens were stored).
 */
export const OAuthRevokeResult = z.object({
  v: z.literal(1),
  taskId: z.string(),
  kind: z.literal('oauth.revoke'),
  revocation: z.enum(['revoked', 'no_endpoint', 'failed', 'not_connected']),
  error: z.string().optional(),
});
export type OAuthRevokeResult = z.infer<typeof OAuthRevokeResult>;

/**
 * `oauth.connect_link`'s answer: the link (`<PUBLIC_API_URL>/connect/<token>`, single-use, 10 minutes), or why there
 * is none: `no_public_url` (the workers have no `PUBLIC_API_URL`), `not_an_account_tool` (the tool does not act on a
 * person's own account), `invalid_task`, `app_credentials_missing` (the instance lost its OAuth app's credentials).
 */
export const OAuthConnectLinkResult = z.object({
  v: z.literal(1),
  taskId: z.string(),
  kind: z.literal('oauth.connect_link'),
  url: z.string().url().optional(),
  error: z.string().optional(),
});
export type OAuthConnectLinkResult = z.infer<typeof OAuthConnectLinkResult>;

/** `webhook.post`'s answer: a 2xx (`ok`), else the status it got or why none came (never the URL's path or query). */
export const PostWebhookResult = z.object({
  v: z.literal(1),
  taskId: z.string(),
  kind: z.literal('webhook.post'),
  ok: z.boolean(),
  status: z.number().int().optional(),
  error: z.string().optional(),
});
export type PostWebhookResult = z.infer<typeof PostWebhookResult>;

/**
 * `audit.export`'s answer: every event acknowledged (`ok`), else why not; `permanent`: the receiver refused the batch
 * for what it holds (an HTTP 400, 413 or 422), which sending it again will not change.
 */
export const AuditExportResult = z.object({
  v: z.literal(1),
  taskId: z.string(),
  kind: z.literal('audit.export'),
  ok: z.boolean(),
  permanent: z.boolean().optional(),
  error: z.string().optional(),
});
export type AuditExportResult = z.infer<typeof AuditExportResult>;

/** What `oauthConnection` holds (Redis hash fields, strings). */
export const OAuthConnectionState = z.object({
  status: z.enum(['connected', 'needs_reauthorization']),
  /** Epoch ms the access token was first stored. */
  connected_at: z.string().optional(),
  /** Epoch ms the current access token expires ('' when the provider gave no lifetime). */
  expires_at: z.string().optional(),
  /** The scopes the provider granted (space-separated), when it said. */
  scope: z.string().optional(),
});
export type OAuthConnectionState = z.infer<typeof OAuthConnectionState>;

/**
 * What may be shown of a person's OAuth connection, from its `oauthConnection` hash (fields as Redis returns them):
 * nothing recorded (Redis restarted empty) reads as connected; the next call or refresh says otherwise.
 */
export function oauthConnectionView(hash: Record<string, string> | undefined): {
  status: OAuthConnectionState['status'];
  expires_at: string | null;
  scopes: string[];
} {
  const known = OAuthConnectionState.safeParse(hash ?? {});
  const state = known.success ? known.data : undefined;
  const expires = state?.expires_at ? Number(state.expires_at) : NaN;
  return {
    status: state?.status ?? 'connected',
    expires_at: Number.isFinite(expires) ? new Date(expires).toISOString() : null,
    scopes: (state?.scope ?? '').split(' ').filter(Boolean),
  };
}

// The results with a `kind` first: it keeps them from matching the others (zod objects strip unknown keys).
export const DataPlaneTaskResult = z.union([
  OAuthConnectLinkResult,
  PostWebhookResult,
  AuditExportResult,
  FetchDocumentResult,
  OAuthExchangeResult,
  OAuthRevokeResult,
  ConnectorTestResult,
  ListRemoteToolsResult,
]);
export type DataPlaneTaskResult = z.infer<typeof DataPlaneTaskResult>;

/** One HTTP request made for a call, as recorded (URL with secret values redacted). */
export const ExecutionStep = z.object({
  kind: z.enum(['http', 'mcp']),
  name: z.string(),
  method: z.string(),
  urlTemplate: z.string(),
  url: z.string(),
  status: z.number().int().optional(),
  outcome: z.enum(['response', 'timeout', 'too_large', 'unreachable', 'cancelled']),
  durationMs: z.number(),
  attempt: z.number().int().default(1),
});
export type ExecutionStep = z.infer<typeof ExecutionStep>;

/**
 * One node of a workflow call's step tree: `flow.run` → `step.run` → `action.run` (one
 * HTTP attempt: method, URL template, resolved URL with secrets redacted, status). Never headers or bodies.
 */
export interface ExecutionTreeNode {
  kind: 'flow.run' | 'step.run' | 'action.run';
  workflowId: string;
  stepId?: string | undefined;
  startedAt: string;
  durationMs: number;
  status: 'ok' | 'error';
  /** flow.run: completed | ended | goto:<workflow> | failed; step.run: success | failure. */
  outcome?: string | undefined;
  errorCode?: string | undefined;
  /** step.run: requests made (every attempt) and retries among them. */
  attempts?: number | undefined;
  retries?: number | undefined;
  /** step.run and action.run: the decision taken after it (next, end, goto, retry, fail). */
  action?: string | undefined;
  /** step.run: where a goto went. */
  target?: string | undefined;
  method?: string | undefined;
  urlTemplate?: string | undefined;
  url?: string | undefined;
  httpStatus?: number | undefined;
  /** action.run: 1 for the first request of the step, 2 for the first retry… */
  attempt?: number | undefined;
  responseBytes?: number | undefined;
  /** action.run: why no usable response came (redacted). */
  error?: string | undefined;
  children: ExecutionTreeNode[];
}
export const ExecutionTreeNode: z.ZodType<ExecutionTreeNode> = z.object({
  kind: z.enum(['flow.run', 'step.run', 'action.run']),
  workflowId: z.string(),
  stepId: z.string().optional(),
  startedAt: z.string(),
  durationMs: z.number(),
  status: z.enum(['ok', 'error']),
  outcome: z.string().optional(),
  errorCode: z.string().optional(),
  attempts: z.number().int().optional(),
  retries: z.number().int().optional(),
  action: z.string().optional(),
  target: z.string().optional(),
  method: z.string().optional(),
  urlTemplate: z.string().optional(),
  url: z.string().optional(),
  httpStatus: z.number().int().optional(),
  attempt: z.number().int().optional(),
  responseBytes: z.number().optional(),
  error: z.string().optional(),
  get children() {
    return z.array(ExecutionTreeNode);
  },
});

/** A debug capture of one upstream exchange: redacted headers, size-capped redacted bodies. */
export const DebugExchange = z.object({
  request: z.object({ headers: z.record(z.string(), z.string()), body: z.string().optional() }),
  response: z
    .object({
      status: z.number().int().optional(),
      contentType: z.string().optional(),
      body: z.string().optional(),
      truncated: z.boolean().optional(),
    })
    .optional(),
});
export type DebugExchange = z.infer<typeof DebugExchange>;

/** A call's signed receipt (`@toolplane/receipts`, ADR 0111) and the salts of its digests, as its record keeps them. */
export const RecordReceipt = z.object({
  receipt: z.record(z.string(), z.unknown()),
  salts: z.object({ input_salt: z.string(), output_salt: z.string().optional() }),
});

/**
 * What every tool call leaves behind: who called what, when, how long, how it ended, and
 * the requests made. Never request or response bodies, never secret values.
 */
export const ExecutionRecordV1 = z.object({
  v: z.literal(1),
  invocationId: z.string(),
  /** A call a `run_code` program made (code mode, ADR 0068): the program's invocation. */
  parentInvocationId: z.string().optional(),
  workspaceId: z.string(),
  serverId: z.string(),
  catalogVersion: z.number().int(),
  tool: z.string(),
  caller: z.object({
    keyId: z.string().optional(),
    /** OAuth subject of a token caller (`anonymous` for a public server's unauthenticated caller). */
    subject: z.string().optional(),
    username: z.string().optional(),
    /** Why the caller could act as `username`: the access policy id, `unnamed-key` or `token-user`. */
    actingVia: z.string().optional(),
    /** A narrowed token's call (ADR 0084): the token and the chain of actors, root first. */
    delegation: Principal.shape.delegation,
    /** An anonymous caller's own client, as its session is keyed (`Principal.client`); read by the backtest only. */
    client: Principal.shape.client,
    /** A call the staging twin answered (ADR 0112): kept apart from production's in every view. */
    twin: Principal.shape.twin,
  }),
  startedAt: z.string(),
  durationMs: z.number(),
  /**
   * success: 2xx; tool_error: the upstream failed (non-2xx, timeout…); rejected: refused before any request
   * (arguments, rate limit, expired in the queue); failed: our fault; unknown: a request may have reached the
   * upstream but its answer was lost (the worker running it stopped) and it was not sent again (`tool.outcome_unknown`).
   */
  outcome: z.enum(['success', 'tool_error', 'rejected', 'failed', 'unknown']),
  errorCode: z.string().optional(),
  message: z.string().optional(),
  steps: z.array(ExecutionStep),
  /** Workflow calls: the run as a tree (`flow.run` → `step.run` → `action.run`), secrets and per-caller values redacted. */
  tree: z.array(ExecutionTreeNode).optional(),
  /** OpenTelemetry trace of the call (absent while tracing is off): operators open it in Jaeger. */
  traceId: z.string().optional(),
  /** The span that made the record (the worker's job span, or the edge's request span). */
  spanId: z.string().optional(),
  /**
   * The cost units the call was charged (the tool's `cost`, absent: 1), on the records of tool calls that reached the
   * data plane (the worker's, failed and outcome-unknown ones included). Absent on calls refused before the enqueue
   * and on jobs that expired in the queue (their charge is given back). Usage (`usage_days`) counts only these.
   */
  costUnits: z.number().nonnegative().optional(),
  /** What the result's guardrails found: guardrail, detector, JSON path, action (`would_*` in log-only mode); no value. */
  guardrails: z.array(GuardrailFinding).optional(),
  /**
   * What the result brought into the caller's session (ADR 0078), as the worker wrote it: the job's declared labels
   * and one per guardrail finding (with its detector). Absent: the call keeps no session, or brought nothing.
   */
  labels: z
    .array(z.object({ label: z.enum(resultLabels), source: z.enum(labelSources), detector: z.string().optional() }))
    .optional(),
  /** A result shaped for models (the tool's `shape`, ADR 0052): its JSON text's bytes before and after the shape. */
  shape: z
    .object({ bytesBefore: z.number().int().nonnegative(), bytesAfter: z.number().int().nonnegative() })
    .optional(),
  /** The edge answered from the result cache (ADR 0067): no step, nothing reached the upstream. */
  cached: z.literal(true).optional(),
  /**
   * The call's arguments as the worker received them, sealed to the control plane's backtest key (ADR 0080): only the
   * backtest opens them. Absent: the worker has no such key, or the edge wrote the record (a call refused before it).
   */
  sealedArguments: z.string().optional(),
  /**
   * The call's signed receipt and the salts of its digests (ADR 0111: `@toolplane/receipts`), made by the worker that
   * recorded it with the receipt signing key; the same the caller received in the result's `_meta`. Absent: the
   * worker has no signing key, or the record is not a worker's.
   */
  receipt: RecordReceipt.optional(),
  /** Only while a debug session is open: redacted headers and size-capped, redacted bodies. */
  debug: z
    .object({
      sessionId: z.string(),
      /** HTTP tools: the one exchange; absent for workflow calls. */
      request: z.object({ headers: z.record(z.string(), z.string()), body: z.string().optional() }).optional(),
      response: DebugExchange.shape.response,
      /** Workflow calls: one exchange per HTTP attempt, in order (`name` = `<workflow>/<step>`, as in `steps`). */
      steps: z.array(DebugExchange.extend({ name: z.string(), attempt: z.number().int() })).optional(),
    })
    .optional(),
});
export type ExecutionRecord = z.infer<typeof ExecutionRecordV1>;

export const DebugSessionState = z.object({ sessionId: z.string(), endsAt: z.number().int() });
export type DebugSessionState = z.infer<typeof DebugSessionState>;

/**
 * Secret names of an external user's own credentials beyond connector connections (the
 * control plane writes them, the worker reads them for calls that name the user): everything under
 * `userSecretsPrefix` belongs to that user and goes with them.
 */
export const userSecrets = {
  prefix: (workspaceId: string, userId: string) => `ws/${workspaceId}/users/${userId}/`,
  /** A workflow secret: `$secrets.NAME` of a call made for this user. */
  workflow: (workspaceId: string, userId: string, name: string) => `ws/${workspaceId}/users/${userId}/secrets/${name}`,
  /** The user's headers (a JSON object) for one external MCP server of one of our servers. */
  externalMcp: (workspaceId: string, userId: string, serverId: string, external: string) =>
    `ws/${workspaceId}/users/${userId}/servers/${serverId}/external/${external}/headers`,
  /** The user's OAuth tokens (JSON) for one connector instance's `oauth2_authorization_code` API: written by the worker only. */
  oauth: (workspaceId: string, userId: string, instanceId: string) =>
    `ws/${workspaceId}/users/${userId}/oauth/${instanceId}`,
  /** The parts of an `oauth` name (undefined for any other name). */
  parseOauth: (name: string): { workspaceId: string; userId: string; instanceId: string } | undefined => {
    const m = /^ws\/([^/]+)\/users\/([^/]+)\/oauth\/([^/]+)$/.exec(name);
    return m ? { workspaceId: m[1]!, userId: m[2]!, instanceId: m[3]! } : undefined;
  },
};

/**
 * Secret names of a workspace's own secrets (`/api/v1/secrets`, written by the control plane): shared by
 * the workspace's servers, the last place the worker looks for a workflow's `$secrets.NAME` (after the
 * external user's, when the call names one and the server allows it, and the server's own).
 */
export const workspaceSecrets = {
  prefix: (workspaceId: string) => `ws/${workspaceId}/secrets/`,
  /** `$secrets.NAME` of any workflow of the workspace's servers, when the server has no secret of that name. */
  workflow: (workspaceId: string, name: string) => `ws/${workspaceId}/secrets/${name}`,
};
