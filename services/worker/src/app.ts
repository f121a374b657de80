import { createPublicKey, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { receiptSigner } from './call-receipts.ts';
import { recordArgumentsSealer } from './record-arguments.ts';
import { TwinStore } from './twin/store.ts';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@toolplane/logger';
import { createLogger } from '@toolplane/logger';
import { logMixin, observeQueueDepth } from '@toolplane/telemetry';
import {
  DataPlaneTask,
  queueNames,
  redisKeys,
  ServerIdentitySettings,
  ToolInvokeJob,
  ToolInvokeJobV2,
  WorkspaceAccess,
  type AuditEventInput,
} from '@toolplane/contracts';
import {
  announcedStandings,
  checkQueueLayout,
  coalesceWrites,
  DelegationBudget,
  duplicateConnection,
  exactCheck,
  giveBackQuota,
  QuotaMeter,
  ExecutionRecordSink,
  PublishedReplies,
  queueShardPrefixes,
  ReplyingConsumer,
  type SubscriberStandings,
  TaskRecords,
  toolReplyMessage,
} from '@toolplane/queue';
import {
  checkRedisForm,
  createRedisClient,
  redisConnectionOf,
  type RedisClient,
  type RedisConnection,
} from '@toolplane/redis';
import {
  AwsSecretsReader,
  AwsSecretsWriter,
  LocalSealedSecretsReader,
  LocalSealedSecretsWriter,
  type SecretsReader,
  type SecretsWriter,
} from '@toolplane/secrets';
import { Authorizer } from './auth.ts';
import { PlanCache } from './catalog-cache.ts';
import { ConnectLinks, createOAuthExchangeHandler, createOAuthRevokeHandler } from './connect-links.ts';
import { createConnectLinkHandler } from './connect-link-task.ts';
import { createDataPlaneTaskHandler } from './data-plane-tasks.ts';
import { DebugSessions } from './debug-sessions.ts';
import { RateLimits } from './rate-limits.ts';
import type { WorkerEnv } from './env.ts';
import { configureOutbound, parseOutboundAllow } from './outbound-guard.ts';
import { ExecutionLeases } from './execution-lease.ts';
import { configureUpstreamConnections, type HttpLimits } from './http-operation.ts';
import { createToolInvocationProcessor } from './processor.ts';
import { RunningInvocations } from './invocation.ts';
import { createAbandonedJobHandler } from './abandoned-jobs.ts';
import { releasingCallsInFlight } from './quota-release.ts';
import { argumentGuardrailsReader } from './step-checks.ts';
import { requestCredentialOpener } from './request-credentials.ts';
import { redisSessionStore } from './session-labels.ts';
import { ResourceWatcher } from './resource-watcher.ts';
import { workerEvents } from './events/index.ts';
import { eventSecretOpener } from './events/secret.ts';
import { SecretResolver } from './secret-resolver.ts';
import { heldCallStart } from './held-calls.ts';
import { taskAccessCheck } from './task-access.ts';
import { taskCallerCheck, withTaskResults, workflowCallerCheck } from './task-results.ts';
import { peopleTokensOnly, UserTokenKeeper } from './user-tokens.ts';

export interface WorkerDeps {
  log: Logger;
  secrets: SecretsReader;
  /** Writes people's OAuth tokens (secrets named `ws/<ws>/users/<user>/oauth/<instance>`) after an exchange or a refresh (ADR 0027). */
  tokenWriter: Pick<SecretsWriter, 'put' | 'delete'>;
}

/** The read side of the configured secrets backend (SECRETS_BACKEND). */
function secretsReaderFor(env: WorkerEnv): SecretsReader {
  if (env.SECRETS_BACKEND === 'aws') {
    if (!env.AWS_REGION) throw new Error('AWS_REGION is required when SECRETS_BACKEND=aws');
    return new AwsSecretsReader({
      region: env.AWS_REGION,
      namePrefix: env.SECRETS_NAME_PREFIX,
      ...(env.SECRETS_AWS_ENDPOINT ? { endpoint: env.SECRETS_AWS_ENDPOINT } : {}),
    });
  }
  if (!env.SECRETS_DIR || !env.SECRETS_PRIVATE_KEY_FILE)
    throw new Error('SECRETS_DIR and SECRETS_PRIVATE_KEY_FILE are required when SECRETS_BACKEND=local');
  return new LocalSealedSecretsReader(env.SECRETS_DIR, readFileSync(env.SECRETS_PRIVATE_KEY_FILE, 'utf8'));
}

/**
 * The write side the worker holds for people's OAuth tokens only (ADR 0027): the local store seals with the
 * public half of the key it already has; on AWS its role may `PutSecretValue` on people's OAuth token secrets only.
 */
/** The worker's writer, for people's OAuth tokens only (ADR 0027). */
function tokenWriterFor(env: WorkerEnv): Pick<SecretsWriter, 'put' | 'delete'> {
  return peopleTokensOnly(storeWriterFor(env));
}

function storeWriterFor(env: WorkerEnv): SecretsWriter {
  if (env.SECRETS_BACKEND === 'aws')
    return new AwsSecretsWriter({
      region: env.AWS_REGION!,
      namePrefix: env.SECRETS_NAME_PREFIX,
      ...(env.SECRETS_AWS_ENDPOINT ? { endpoint: env.SECRETS_AWS_ENDPOINT } : {}),
    });
  const publicKey = createPublicKey(readFileSync(env.SECRETS_PRIVATE_KEY_FILE!, 'utf8'))
    .export({ type: 'spki', format: 'pem' })
    .toString();
  return new LocalSealedSecretsWriter(env.SECRETS_DIR!, publicKey);
}

/** Redis, the caches it invalidates, and what every handler shares. */
interface Core {
  env: WorkerEnv;
  log: Logger;
  secrets: SecretsReader;
  connection: RedisConnection;
  redis: RedisClient;
  records: ExecutionRecordSink;
  /** What this worker decides for the audit trail (a held call spending its approval, or finding it expired). */
  audit: ExecutionRecordSink<AuditEventInput>;
  httpLimits: HttpLimits;
  resolver: SecretResolver;
  keys: ReturnType<typeof redisKeys>;
  running: RunningInvocations;
  debug: DebugSessions;
  /** The subscriber connection: credential updates, cancellations, debug sessions, relayed answers. */
  events: RedisClient;
  relayReplies: PublishedReplies;
}

/** Every upstream request of this process goes through the outbound guard (SSRF policy). */
function configureEgress(env: WorkerEnv): void {
  configureOutbound({
    policy: parseOutboundAllow(env.OUTBOUND_ALLOW),
    connectTimeoutMs: env.HTTP_CONNECT_TIMEOUT_MS,
    maxRedirects: env.HTTP_MAX_REDIRECTS,
    maxResponseBytes: env.HTTP_MAX_RESPONSE_BYTES,
  });
  configureUpstreamConnections(env.HTTP_MAX_CONNECTIONS_PER_ORIGIN);
}

function openCore(env: WorkerEnv, log: Logger, secrets: SecretsReader): Core {
  // BullMQ's blocking connections (duplicates of this one) need `maxRetriesPerRequest: null`: commands
  // wait for a reconnection, attempted at least every second.
  // Commands of one event-loop turn (replies, leases, records) leave in one socket write.
  const connection = redisConnectionOf(env);
  const redis = coalesceWrites(
    createRedisClient(connection, {
      maxRetriesPerRequest: null,
      retryStrategy: (times) => Math.min(times * 100, 1000),
    }),
  );
  const records = new ExecutionRecordSink(redis, env.REDIS_PREFIX, {
    maxLen: env.EXECUTION_RECORDS_MAX_BACKLOG,
    onError: (err) => log.error({ err }, 'execution records could not be written; kept and retried every second'),
    onDropped: (count) => log.error({ count }, 'execution records dropped: Redis unreachable and the buffer full'),
  });
  const audit = new ExecutionRecordSink<AuditEventInput>(redis, env.REDIS_PREFIX, {
    key: redisKeys(env.REDIS_PREFIX).auditEvents,
    maxLen: 100_000,
    onError: (err) => log.error({ err }, 'audit events could not be written; kept and retried every second'),
    onDropped: (count) => log.error({ count }, 'audit events dropped: Redis unreachable and the buffer full'),
  });
  const httpLimits = { timeoutMs: env.HTTP_TIMEOUT_MS, maxResponseBytes: env.HTTP_MAX_RESPONSE_BYTES };
  const resolver = new SecretResolver(secrets, env.SECRETS_CACHE_TTL_MS, Date.now, env.SECRETS_CACHE_MAX);
  const keys = redisKeys(env.REDIS_PREFIX);
  // Credential updates and debug sessions take effect at once: the control plane announces changed
  // secret names and servers whose debug session opened or closed.
  const running = new RunningInvocations();
  const debug = new DebugSessions(redis, env.REDIS_PREFIX, {
    maxBodyBytes: env.DEBUG_MAX_BODY_BYTES,
    maxEntries: env.PLAN_CACHE_MAX,
  });
  const events = duplicateConnection(redis);
  // Callers' answers to requests external MCP servers send during calls, relayed by the edges.
  const relayReplies = new PublishedReplies(redis, keys.mcpRelayReply);
  const core: Core = {
    env,
    log,
    secrets,
    connection,
    redis,
    records,
    audit,
    httpLimits,
    resolver,
    keys,
    running,
    debug,
    events,
    relayReplies,
  };
  listenForEvents(core);
  return core;
}

function listenForEvents({ log, redis, events, keys, running, debug, resolver, relayReplies }: Core): void {
  // Both reconnect by themselves; an outage shows in /readyz.
  redis.on('error', () => undefined);
  events.on('error', () => undefined);
  events.on('message', (channel: string, message: string) => {
    if (channel === keys.cancel) running.cancel(message);
    else if (channel === keys.mcpRelayReply) relayReplies.onMessage(message);
    else if (channel === keys.debugSessionChanged) {
      debug.invalidate(message);
      log.debug({ serverId: message }, 'debug session changed; cached state dropped');
    } else if (channel === keys.secretsChanged) resolver.invalidate(message);
  });
  // Invalidations sent while disconnected are lost: start from empty caches after a reconnect.
  events.on('ready', () => {
    resolver.invalidate(undefined);
    debug.invalidate(undefined);
  });
}

/**
 * How long a calls-in-flight counter a workflow step charged outlives its last charge (a crashed worker's steps stop
 * counting then): the edge's own for the same counters on its defaults (twice `TASK_TIMEOUT_MS`), so that a step's
 * charge never shortens the life of a counter holding longer calls.
 */
const STEP_IN_FLIGHT_TTL_SECONDS = 1800;

/** The Redis-backed clients the invocation processor and the data-plane tasks share. */
interface Clients {
  leases: ExecutionLeases;
  userTokens: UserTokenKeeper;
  plans: PlanCache;
  connectLinks: ConnectLinks;
}

function buildClients(core: Core, overrides: Partial<WorkerDeps>): Clients {
  const { env, redis, secrets, httpLimits } = core;
  const leases = new ExecutionLeases(redis, env.REDIS_PREFIX, env.EXECUTION_LEASE_GRACE_MS);
  // Created on the first person's call: a worker whose tools all use stored credentials never builds the writer.
  let tokenWriter = overrides.tokenWriter;
  const userTokens = new UserTokenKeeper({
    redis,
    prefix: env.REDIS_PREFIX,
    limits: httpLimits,
    store: {
      // Always the store's current value (never the resolver's cache): another worker may have rotated it.
      read: (name) => secrets.get(name),
      write: async (name, value) => void (await (tokenWriter ??= tokenWriterFor(env)).put(name, value)),
      delete: async (name) => void (await (tokenWriter ??= tokenWriterFor(env)).delete(name)),
    },
  });
  const plans = new PlanCache(redis, env.REDIS_PREFIX, env.PLAN_CACHE_MAX);
  // A republished state may come from a restored database, whose catalog versions may reuse numbers: plans dropped.
  core.events.on('message', (channel: string) => {
    if (channel === core.keys.stateRepublished) plans.clear();
  });
  const connectLinks = new ConnectLinks(redis, env.REDIS_PREFIX, env.PUBLIC_API_URL);
  return { leases, userTokens, plans, connectLinks };
}

function buildProcessor(core: Core, clients: Clients): ReturnType<typeof createToolInvocationProcessor> {
  const { env, log, redis, keys, records, running, debug, resolver, httpLimits } = core;
  const { plans, leases, userTokens, connectLinks } = clients;
  const requestCredentialsKey = env.REQUEST_CREDENTIALS_PRIVATE_KEY_FILE ?? env.SECRETS_PRIVATE_KEY_FILE;
  // Each call's arguments kept in its record for the backtest, sealed to the control plane's key (ADR 0080).
  const sealArguments = recordArgumentsSealer(env);
  // Each call's receipt, signed with the workers' receipt key (ADR 0111).
  const receipts = receiptSigner(env);
  return createToolInvocationProcessor({
    plans,
    secrets: resolver,
    rateLimits: new RateLimits(redis, env.REDIS_PREFIX),
    records,
    running,
    leases,
    debug,
    authorizer: new Authorizer(httpLimits, Date.now, env.SECRETS_CACHE_MAX),
    limits: httpLimits,
    log,
    // Read for calls made for external users only (one GET): `fallbackToShared` from the server's config.
    userAttributes: async (workspaceId: string, userId: string) => {
      const raw = await redis.hget(keys.userAttributes(workspaceId), userId);
      return raw ? (JSON.parse(raw) as Record<string, string>) : {};
    },
    // A charged job that expired in the queue ran nothing: its quota units go back (ADR 0048).
    quotaRefunds: (charge) => giveBackQuota(redis, charge),
    // A cacheable call's clean result, under the key its edge named (ADR 0067).
    resultCache: (key, value, ttlMs) => redis.set(key, value, 'PX', ttlMs),
    maxScanBytes: env.GUARDRAIL_MAX_SCAN_BYTES,
    workspaceAccess: workspaceAccessReader(core),
    // A workflow step on a hosted server's tool: that tool's quotas and guardrails on arguments (step-checks.ts).
    quotaMeter: new QuotaMeter(redis, env.REDIS_PREFIX, STEP_IN_FLIGHT_TTL_SECONDS),
    delegationCalls: new DelegationBudget(redis, env.REDIS_PREFIX),
    standing: workflowCallerCheck(redis, env.REDIS_PREFIX),
    argumentGuardrails: argumentGuardrailsReader(redis, env.REDIS_PREFIX),
    // What results bring into their callers' sessions, in the main Redis with the quotas (ADR 0078).
    sessions: redisSessionStore(redis, env.REDIS_PREFIX),
    // The staging twin's state and recordings (ADR 0112).
    twin: new TwinStore(redis, env.REDIS_PREFIX),
    // What the steps' rules decided, for the audit trail (a log-only rule's would-be refusal, a quota's alerts).
    audit: core.audit,
    identitySettings: async (serverId: string) => {
      const raw = await redis.get(keys.serverIdentity(serverId));
      return ServerIdentitySettings.parse(raw ? JSON.parse(raw) : { v: 1 });
    },
    ...(requestCredentialsKey
      ? { openRequestCredential: requestCredentialOpener(readFileSync(requestCredentialsKey, 'utf8')) }
      : {}),
    userTokens,
    connectLinks,
    relayReplies: core.relayReplies,
    ...(sealArguments ? { sealArguments } : {}),
    ...(receipts ? { receipts } : {}),
  });
}

/** What both queues' consumers share: stall detection, and how invalid jobs and queue errors are logged. */
function consumerCommon({ env, log }: Core) {
  const stalled = {
    lockDurationMs: env.WORKER_LOCK_DURATION_MS,
    stalledIntervalMs: env.WORKER_STALLED_INTERVAL_MS,
    maxStalledCount: env.WORKER_MAX_STALLED_COUNT,
  };
  const onInvalidJob = (jobId: string | undefined, issues: unknown) =>
    log.error({ jobId, issues }, 'invalid job payload');
  // During a Redis outage BullMQ reports the same failure many times a second: one line per 5 s.
  let lastQueueError = 0;
  const onError = (err: unknown) => {
    if (Date.now() - lastQueueError < 5000) return;
    lastQueueError = Date.now();
    log.warn({ err }, 'queue error (BullMQ reconnects by itself)');
  };
  return { stalled, onInvalidJob, onError };
}

/** The part of a consumer that start and stop use. */
interface Consumer {
  start(): void;
  waitUntilReady(): Promise<unknown>;
  close(): Promise<void>;
}

interface Consumers {
  consumer: Consumer;
  tasks: Consumer;
  /** MCP Events: inbound deliveries and webhook subscriptions' deliveries. */
  events: ReturnType<typeof workerEvents>;
  /** Resources callers subscribed to, watched at their external servers (one worker per server at a time). */
  watcher: ResourceWatcher;
}

/** BullMQ prefixes of the tool-call queue's shards this worker reads: WORKER_QUEUE_SHARDS, or all of them. */
function consumedShards({ env, redis }: Core): string[] {
  const all = queueShardPrefixes(redis, env.REDIS_PREFIX, env.REDIS_QUEUE_SHARDS);
  return env.WORKER_QUEUE_SHARDS.length === 0 ? all : env.WORKER_QUEUE_SHARDS.map((i) => all[i]!);
}

function buildConsumers(core: Core, clients: Clients): Consumers {
  const { env, log, redis, records, resolver, httpLimits } = core;
  const { leases, plans, userTokens, connectLinks } = clients;
  const processor = buildProcessor(core, clients);
  const common = consumerCommon(core);
  const taskRecords = new TaskRecords(redis, env.REDIS_PREFIX, { maxResultBytes: env.TASK_MAX_RESULT_BYTES });
  // What a task's start reads of its server's live catalog: the settings of portable rules.
  const liveChecks = argumentGuardrailsReader(redis, env.REDIS_PREFIX);
  const consumer = new ReplyingConsumer({
    redis,
    prefix: env.REDIS_PREFIX,
    queueName: queueNames.toolInvocations,
    shards: consumedShards(core),
    concurrency: env.WORKER_CONCURRENCY,
    fetchers: env.WORKER_FETCHERS,
    job: ToolInvokeJob,
    // The current version's jobs checked by compiled code; zod parses any other (a version 1 job, a malformed one).
    exact: exactCheck(ToolInvokeJobV2),
    // Durable tasks (ADR 0040): a task's job settles its task record; plain calls pass through unchanged.
    // A job's calls in flight are released when it ends, however it ends (ADR 0048).
    handle: releasingCallsInFlight(
      withTaskResults(processor, taskRecords, log, {
        caller: taskCallerCheck(redis, env.REDIS_PREFIX),
        // The caller's access to the tool with these arguments, from the policies published now.
        access: taskAccessCheck({
          plans,
          workspaceAccess: workspaceAccessReader(core),
          // Portable rules judged again with the settings the server's live catalog publishes now (ADR 0101).
          ruleSettings: liveChecks.ruleSettings,
          audit: core.audit,
          quotaRefunds: (charge) => giveBackQuota(redis, charge),
          log,
        }),
        // A task's call held for someone else's approval runs only on a grant (ADR 0049).
        held: heldCallStart({ redis, log, audit: core.audit, quotaRefunds: (charge) => giveBackQuota(redis, charge) }),
      }),
      { redis, log },
    ),
    message: toolReplyMessage,
    onAbandoned: releasingCallsInFlight(
      withTaskResults(createAbandonedJobHandler({ leases, plans, records, log }), taskRecords, log, {
        checkFirst: false,
      }),
      { redis, log },
    ),
    ...common,
  });
  observeQueueDepth(queueNames.toolInvocations, () => consumer.jobCounts());
  // Egress on behalf of the control plane (connector test endpoints, external MCP tool lists), and the edge's
  // connect links (SMART `connect`).
  const tasks = new ReplyingConsumer({
    redis,
    prefix: env.REDIS_PREFIX,
    queueName: queueNames.dataPlaneTasks,
    concurrency: 4,
    job: DataPlaneTask,
    handle: createDataPlaneTaskHandler({
      secrets: resolver,
      limits: httpLimits,
      exchangeOAuthCode: createOAuthExchangeHandler({ plans, secrets: resolver, userTokens, log }),
      revokeOAuthConnection: createOAuthRevokeHandler({ secrets: resolver, userTokens }),
      createConnectLink: createConnectLinkHandler({ plans, secrets: resolver, links: connectLinks }),
    }),
    ...common,
  });
  const watcher = new ResourceWatcher({
    redis,
    prefix: env.REDIS_PREFIX,
    workerId: randomUUID(),
    secrets: resolver,
    log,
  });
  return { consumer, tasks, watcher, events: buildEvents(core) };
}

/** A workspace's published access policies, read from Redis (absent: the document is missing). */
function workspaceAccessReader({ redis, keys }: Pick<Core, 'redis' | 'keys'>) {
  return async (workspaceId: string) => {
    const raw = await redis.get(keys.access(workspaceId));
    return raw ? WorkspaceAccess.parse(JSON.parse(raw)) : undefined;
  };
}

/**
 * Subscribers judged to stand, kept between deliveries until a change that may end one is announced (a key, a narrowed
 * token, a person, the whole state) or the announcements may have gone unheard (ADR 0103).
 */
function subscriberStandings({ events, keys }: Core): SubscriberStandings {
  return announcedStandings(events, [keys.apiKeyChanged, keys.standingChanged, keys.stateRepublished]);
}

function buildEvents(core: Core): ReturnType<typeof workerEvents> {
  const { env, redis, log } = core;
  const requestCredentialsKey = env.REQUEST_CREDENTIALS_PRIVATE_KEY_FILE ?? env.SECRETS_PRIVATE_KEY_FILE;
  return workerEvents({
    redis,
    prefix: env.REDIS_PREFIX,
    log,
    standings: subscriberStandings(core),
    secret: (name) => core.resolver.resolve(name),
    records: core.records,
    audit: core.audit,
    sessions: redisSessionStore(redis, env.REDIS_PREFIX),
    workspaceAccess: workspaceAccessReader(core),
    quotaMeter: new QuotaMeter(redis, env.REDIS_PREFIX, STEP_IN_FLIGHT_TTL_SECONDS),
    // A webhook subscription's secret, sealed by the edge to the key per-request credentials are sealed to.
    open: requestCredentialsKey ? eventSecretOpener(readFileSync(requestCredentialsKey, 'utf8')) : undefined,
    settings: {
      toleranceMs: env.EVENTS_TIMESTAMP_TOLERANCE_SECONDS * 1000,
      replayWindowMs: env.EVENTS_REPLAY_WINDOW_SECONDS * 1000,
      streamMaxLen: env.EVENTS_STREAM_MAX_LEN,
      maxScanBytes: env.GUARDRAIL_MAX_SCAN_BYTES,
      maxBackoffMs: env.EVENTS_WEBHOOK_MAX_BACKOFF_MS,
      callbackTimeoutMs: env.HTTP_TIMEOUT_MS,
    },
  });
}

interface Parts {
  core: Core;
  consumers: Consumers;
  /** Set by start(), cleared by stop(). */
  live: { ready: boolean; health?: Server };
}

function healthUrl({ core, live }: Parts): string | undefined {
  const addr = live.health?.address() as AddressInfo | undefined;
  return addr ? `http://${core.env.HEALTH_HOST}:${addr.port}` : undefined;
}

async function listenHealth({ core, live }: Parts): Promise<void> {
  const { env, redis } = core;
  if (env.HEALTH_PORT === undefined) return;
  const health = createServer((req, res) => {
    // Ready: started, and Redis (its only source of work) reachable.
    const ok = req.url === '/healthz' || (req.url === '/readyz' && live.ready && redis.status === 'ready');
    res
      .writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
      .end(JSON.stringify({ status: ok ? 'ok' : 'unavailable' }));
  });
  live.health = health;
  await new Promise<void>((resolve) => health.listen(env.HEALTH_PORT, env.HEALTH_HOST, resolve));
}

async function start(parts: Parts): Promise<void> {
  const { core, consumers, live } = parts;
  const { env, log, events, keys } = core;
  const { consumer, tasks } = consumers;
  // A wrong Redis form or nothing answering ends startup with a RedisConfigError (bounded), never a hang.
  await checkRedisForm(core.connection);
  // A shard count other than the deployment's ends startup too (QueueLayoutError).
  await checkQueueLayout(core.redis, env.REDIS_PREFIX, env.REDIS_QUEUE_SHARDS);
  await events.subscribe(
    keys.secretsChanged,
    keys.cancel,
    keys.debugSessionChanged,
    keys.mcpRelayReply,
    keys.stateRepublished,
    // Subscribers' standing kept between deliveries is forgotten on these (ADR 0103).
    keys.apiKeyChanged,
    keys.standingChanged,
  );
  consumer.start();
  tasks.start();
  consumers.watcher.start();
  consumers.events.start();
  await Promise.all([consumer.waitUntilReady(), tasks.waitUntilReady(), consumers.events.waitUntilReady()]);
  live.ready = true;
  await listenHealth(parts);
  log.info({ concurrency: env.WORKER_CONCURRENCY, health: healthUrl(parts) }, 'worker ready');
}

async function stop({ core, consumers, live }: Parts): Promise<void> {
  const { log, records, events, redis } = core;
  live.ready = false;
  await Promise.all([
    consumers.consumer.close(),
    consumers.tasks.close(),
    consumers.watcher.stop(),
    consumers.events.stop(),
  ]);
  await Promise.all([records.flush(), core.audit.flush()]);
  const unwritten = records.close();
  if (unwritten > 0) log.error({ unwritten }, 'execution records not written at shutdown (Redis unreachable)');
  const unaudited = core.audit.close();
  if (unaudited > 0) log.error({ unaudited }, 'audit events not written at shutdown (Redis unreachable)');
  const { health } = live;
  await new Promise<void>((resolve) => (health ? health.close(() => resolve()) : resolve()));
  events.disconnect();
  redis.disconnect();
  log.info('worker stopped');
  log.flush();
}

export function createWorkerApp(env: WorkerEnv, overrides: Partial<WorkerDeps> = {}) {
  const log = overrides.log ?? createLogger({ service: 'worker', level: env.LOG_LEVEL, mixin: logMixin() });
  const secrets = overrides.secrets ?? secretsReaderFor(env);
  configureEgress(env);
  const core = openCore(env, log, secrets);
  const consumers = buildConsumers(core, buildClients(core, overrides));
  const parts: Parts = { core, consumers, live: { ready: false } };
  return {
    get healthUrl(): string | undefined {
      return healthUrl(parts);
    },
    start: () => start(parts),
    stop: () => stop(parts),
  };
}
