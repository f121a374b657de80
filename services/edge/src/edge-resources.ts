import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { redisKeys, type AuditEventInput, type OAuthConnectLinkResult } from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import {
  announcedStandings,
  DataPlaneTaskClient,
  duplicateConnection,
  ExecutionRecordSink,
  InvocationClient,
  PublishedReplies,
  queueShardPrefixes,
} from '@toolplane/queue';
import { createRedisClient, redisConnectionOf, type RedisClient } from '@toolplane/redis';
import { AccessPolicyCache } from './governance/access.ts';
import { ApiKeyCache } from './identity/api-keys.ts';
import { CatalogCache } from './state/catalogs.ts';
import { ProgramSlots } from './code-mode/code-slots.ts';
import { ConfirmStates, RedisStateKey, redisNonceSpender } from './confirmation/confirm-state.ts';
import type { EdgeEnv } from './env.ts';
import type { LegacySseSessions } from './protocol/legacy-sse.ts';
import type { EdgeMcpHandler } from './protocol/mcp-handler.ts';
import type { OpenStreams } from './protocol/open-streams.ts';
import {
  CancelRegistry,
  ElicitationReplies,
  SessionFormElicitation,
  ResourceSubscriptions,
  SessionRelayCapabilities,
  SessionLogLevels,
  SessionUrlElicitation,
} from './protocol/protocol-state.ts';
import { readState, RuntimeStateProbe } from './state/runtime-state.ts';
import type { ConnectLinkRequest, ToolCallDeps } from './calls/call-types.ts';
import { upstreamCredentialSealer } from './identity/upstream-auth.ts';
import { eventsDeps } from './events/deps.ts';
import { QuotaMeter } from './governance/quotas.ts';
import { ShadowEventBudget } from './governance/shadow-decisions.ts';
import { ResultCache } from './calls/result-cache.ts';
import { callerStanding } from './calls/caller-standing.ts';

/** The edge's Redis connections and what lives on them: caches of published state, queue clients, session state. */
export type EdgeResources = ReturnType<typeof openEdgeResources>;

export function openEdgeResources(env: EdgeEnv, log: Logger, edgeId: string) {
  // During a Redis outage commands fail within about 2 s (a retryable error for the caller) instead of
  // waiting for Redis: one retry per command, reconnection attempts at least every second. This
  // connection never blocks (BullMQ's Queue; workers need `null` for their blocking connections).
  const connection = redisConnectionOf(env);
  const redis = createRedisClient(connection, {
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 100, 1000),
  });
  // Named (CLIENT LIST) after the key prefix: an operator, or a test, can tell it from other connections.
  const events = duplicateConnection(redis, { connectionName: `${env.REDIS_PREFIX}:edge-events` });
  // Both reconnect by themselves; outages show in /readyz and in callers' errors.
  redis.on('error', () => undefined);
  events.on('error', () => undefined);
  const prefix = env.REDIS_PREFIX;
  const state = new RuntimeStateProbe(redis, prefix);
  const apiKeyLimits = { ttlMs: env.API_KEY_CACHE_TTL_MS, max: env.API_KEY_CACHE_MAX };
  return {
    connection,
    redis,
    events,
    keys: redisKeys(prefix),
    state,
    apiKeys: new ApiKeyCache(redis, prefix, { ...apiKeyLimits, negativeTtlMs: env.API_KEY_NEGATIVE_TTL_MS }, state),
    catalogs: new CatalogCache(
      redis,
      prefix,
      { max: env.CATALOG_CACHE_MAX, negativeTtlMs: env.CATALOG_NEGATIVE_TTL_MS },
      state,
    ),
    accessPolicies: new AccessPolicyCache(redis, prefix, {
      ttlMs: env.API_KEY_CACHE_TTL_MS,
      max: env.ACCESS_CACHE_MAX,
    }),
    invocations: new InvocationClient({
      redis,
      prefix,
      edgeId,
      shards: queueShardPrefixes(redis, prefix, env.REDIS_QUEUE_SHARDS),
    }),
    records: new ExecutionRecordSink(redis, prefix, {
      maxLen: 100_000,
      onError: (err) => log.error({ err }, 'execution records could not be written; kept and retried every second'),
      onDropped: (count) => log.error({ count }, 'execution records dropped: Redis unreachable and the buffer full'),
    }),
    // Decisions made here (a person's confirmation, a condition's refusal), for the control plane's audit trail.
    audit: new ExecutionRecordSink<AuditEventInput>(redis, prefix, {
      key: redisKeys(prefix).auditEvents,
      maxLen: 100_000,
      onError: (err) => log.error({ err }, 'audit events could not be written; kept and retried every second'),
      onDropped: (count) => log.error({ count }, 'audit events dropped: Redis unreachable and the buffer full'),
    }),
    cancels: new CancelRegistry(redis, prefix),
    elicitationReplies: new ElicitationReplies(redis, prefix),
    connectLinks: new ConnectLinkClient(redis, {
      prefix,
      clientId: `${edgeId}-tasks`,
      timeoutMs: Math.min(env.TOOL_CALL_TIMEOUT_MS, 15_000),
    }),
  };
}

/** What `tools/call` needs on this edge (calls/tool-calls.ts), from its resources. */
export function toolCallDeps(env: EdgeEnv, r: EdgeResources, log: Logger): ToolCallDeps {
  const { redis, keys } = r;
  return {
    invocations: r.invocations,
    records: r.records,
    audit: r.audit,
    shadowEvents: new ShadowEventBudget(),
    // Task grants travel with the workspace's access (ADR 0108): the same cached document, dropped on its message.
    taskGrants: async (workspaceId) => (await r.accessPolicies.get(workspaceId)).taskGrants ?? [],
    timeoutMs: env.TOOL_CALL_TIMEOUT_MS,
    log,
    logLevels: new SessionLogLevels(redis, env.REDIS_PREFIX),
    urlElicitations: new SessionUrlElicitation(redis, env.REDIS_PREFIX),
    formElicitations: new SessionFormElicitation(redis, env.REDIS_PREFIX),
    relayCapabilities: new SessionRelayCapabilities(redis, env.REDIS_PREFIX),
    elicitationReplies: r.elicitationReplies,
    // Only published from here: the worker waiting for a caller's answer subscribes.
    relayReplies: new PublishedReplies(redis, keys.mcpRelayReply),
    subscriptions: new ResourceSubscriptions(redis, env.REDIS_PREFIX),
    confirmStates: new ConfirmStates(
      new RedisStateKey(redis, keys.confirmStateKey),
      redisNonceSpender(redis, keys.confirmStateSpent),
    ),
    connectLink: (request) => r.connectLinks.create(request),
    cancels: r.cancels,
    // A calls-in-flight counter outlives a crashed edge's calls by twice the longest a task may run.
    quotas: {
      meter: new QuotaMeter(redis, env.REDIS_PREFIX, Math.ceil((2 * env.TASK_TIMEOUT_MS) / 1000)),
      failOpen: env.QUOTA_FAIL_OPEN,
    },
    approvals: { redis, prefix: env.REDIS_PREFIX, maxPending: env.APPROVAL_MAX_PENDING },
    sessions: { redis, prefix: env.REDIS_PREFIX },
    resultCache: new ResultCache(redis, env.REDIS_PREFIX, log),
    progressIntervalMs: env.PROGRESS_INTERVAL_MS,
    codeLimits: {
      wallMs: env.CODE_MODE_WALL_MS,
      memoryBytes: env.CODE_MODE_MEMORY_MB * 1024 * 1024,
      outputBytes: env.CODE_MODE_OUTPUT_BYTES,
      maxCalls: env.CODE_MODE_MAX_CALLS,
      resultChars: env.CODE_MODE_RESULT_CHARS,
    },
    standing: callerStanding(redis, env.REDIS_PREFIX),
    codePrograms: new ProgramSlots({
      perEdge: env.CODE_MODE_MAX_PROGRAMS,
      perCaller: env.CODE_MODE_MAX_PROGRAMS_PER_CALLER,
    }),
    userConnections: async (workspaceId: string, userId: string) =>
      new Set(await readState(() => redis.smembers(keys.userConnections(workspaceId, userId)))),
    oauthConnectionState: (connection: string) => readState(() => redis.hgetall(keys.oauthConnection(connection))),
    events: eventsDeps(env, {
      redis,
      audit: r.audit,
      // An open stream's subscriber that stood is read again once a change that may end it is announced (ADR 0103).
      standings: announcedStandings(r.events, [keys.apiKeyChanged, keys.standingChanged, keys.stateRepublished]),
      log,
      catalogs: r.catalogs,
      accessPolicies: r.accessPolicies,
      apiKeys: r.apiKeys,
    }),
    ...(env.REQUEST_CREDENTIALS_PUBLIC_KEY_FILE
      ? {
          sealUpstreamCredential: upstreamCredentialSealer(
            readFileSync(env.REQUEST_CREDENTIALS_PUBLIC_KEY_FILE, 'utf8'),
          ),
        }
      : {}),
  };
}

/** Who hears about changes published on Redis (besides the caches). */
interface ChangeListeners {
  legacySessions: LegacySseSessions;
  mcp: EdgeMcpHandler;
  openStreams: OpenStreams;
  log: Logger;
}

/**
 * The pub/sub side: catalog, key and access-policy changes drop cached entries and reach open streams; cancellations
 * abort calls in flight here. Returns whether changes are heard now (`streamsHeard`).
 */
export function listenForChanges(r: EdgeResources, listeners: ChangeListeners): () => boolean {
  const { events, keys, cancels, elicitationReplies, catalogs, apiKeys, accessPolicies } = r;
  const { legacySessions, mcp, openStreams, log } = listeners;
  const dropAll = () => {
    catalogs.invalidate(undefined);
    apiKeys.invalidate(undefined);
    accessPolicies.invalidate(undefined);
  };
  events.on('message', (channel: string, message: string) => {
    if (channel === cancels.channel) {
      const aborted = cancels.onMessage(message);
      log.debug({ requestId: CancelRegistry.requestIdOf(message), aborted }, 'notifications/cancelled handled');
    } else if (channel === elicitationReplies.channel) {
      if (elicitationReplies.onMessage(message)) log.debug('a person answered a confirmation');
    } else if (channel === keys.catalogChanged) {
      catalogs.invalidate(message);
      // Open streams of that server hear about it: legacy HTTP+SSE sessions and 2026-07-28 listen
      // streams (2025-era Streamable HTTP is stateless: no stream to carry it).
      legacySessions.toolsChanged(message);
      mcp.toolsChanged(message);
    } else if (channel === keys.apiKeyChanged) {
      apiKeys.invalidate(message);
      void openStreams.keyChanged(message);
    } else if (channel === keys.standingChanged) void openStreams.standingChanged();
    else if (channel === keys.accessChanged) accessPolicies.invalidate(message);
    else if (channel === keys.stateRepublished) {
      dropAll();
      void openStreams.keysRepublished();
    } else if (channel === keys.resourceUpdated) {
      const sent = mcp.resourceUpdated(message);
      log.debug({ sent }, 'a resource of an external server was updated');
    }
  });
  // Without the subscription, key changes go unheard: open streams end (fail closed), and none opens
  // until it is back (`streamsHeard`). Their clients reconnect.
  events.on('close', () => {
    const ended = openStreams.endAll('the Redis pub/sub connection was lost');
    if (ended > 0) log.warn({ ended }, 'open streams ended: the Redis pub/sub connection was lost');
  });
  // After a reconnect, messages sent meanwhile are lost: drop everything cached (revocations included).
  events.on('ready', dropAll);
  return () => events.status === 'ready';
}

/** The channels `listenForChanges` hears. */
export function changeChannels(r: EdgeResources): string[] {
  return [
    r.keys.catalogChanged,
    r.keys.apiKeyChanged,
    r.keys.standingChanged,
    r.keys.accessChanged,
    r.keys.stateRepublished,
    r.cancels.channel,
    r.elicitationReplies.channel,
    r.keys.resourceUpdated,
  ];
}

/**
 * A person's connect links for SMART `connect` come from the workers (data-plane task `oauth.connect_link`): a
 * client of its own, with its own connection, made at the first such request (nothing on the tool-call path).
 */
class ConnectLinkClient {
  private readonly redis: RedisClient;
  private readonly opts: { prefix: string; clientId: string; timeoutMs: number };
  private tasks: { client: DataPlaneTaskClient; redis: RedisClient } | undefined;

  constructor(redis: RedisClient, opts: { prefix: string; clientId: string; timeoutMs: number }) {
    this.redis = redis;
    this.opts = opts;
  }

  create(request: ConnectLinkRequest): Promise<OAuthConnectLinkResult> {
    if (!this.tasks) {
      const connection = duplicateConnection(this.redis, { connectionName: `${this.opts.prefix}:edge-tasks` });
      connection.on('error', () => undefined);
      const client = new DataPlaneTaskClient({
        redis: connection,
        prefix: this.opts.prefix,
        clientId: this.opts.clientId,
      });
      this.tasks = { client, redis: connection };
    }
    const { client } = this.tasks;
    return client.createConnectLink({
      v: 1,
      taskId: randomUUID(),
      kind: 'oauth.connect_link',
      ...request,
      deadlineAt: Date.now() + this.opts.timeoutMs,
      replyTo: client.clientId,
    });
  }

  async close(): Promise<void> {
    await this.tasks?.client.close();
    this.tasks?.redis.disconnect();
  }
}
