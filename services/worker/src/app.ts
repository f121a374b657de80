import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@toolplane/logger';
import { createLogger } from '@toolplane/logger';
import { logMixin, observeQueueDepth } from '@toolplane/telemetry';
import { DataPlaneTask, queueNames, redisKeys, ToolInvokeJob } from '@toolplane/contracts';
import { ExecutionRecordSink, ReplyingConsumer } from '@toolplane/queue';
import { AwsSecretsReader, LocalSealedSecretsReader, type SecretsReader } from '@toolplane/secrets';
import { Redis } from 'ioredis';
import { Authorizer } from './auth.ts';
import { PlanCache } from './catalog-cache.ts';
import { createDataPlaneTaskHandler } from './data-plane-tasks.ts';
import { DebugSessions } from './debug-sessions.ts';
import { RateLimits } from './rate-limits.ts';
import type { WorkerEnv } from './env.ts';
import { configureOutbound, parseOutboundAllow } from './outbound-guard.ts';
import { createToolInvocationProcessor, RunningInvocations } from './processor.ts';
import { SecretResolver } from './secret-resolver.ts';

export interface WorkerDeps {
  log: Logger;
  secrets: SecretsReader;
}

/** The read side of the configured secrets backend (SECRETS_BACKEND). */
export function secretsReaderFor(env: WorkerEnv): SecretsReader {
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

export function createWorkerApp(env: WorkerEnv, overrides: Partial<WorkerDeps> = {}) {
  const log = overrides.log ?? createLogger({ service: 'worker', level: env.LOG_LEVEL, mixin: logMixin() });
  const secrets = overrides.secrets ?? secretsReaderFor(env);
  // Every upstream request of this process goes through the outbound guard (SSRF policy).
  configureOutbound({
    policy: parseOutboundAllow(env.OUTBOUND_ALLOW),
    connectTimeoutMs: env.HTTP_CONNECT_TIMEOUT_MS,
    maxRedirects: env.HTTP_MAX_REDIRECTS,
    maxResponseBytes: env.HTTP_MAX_RESPONSE_BYTES,
  });
  const redis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: null });
  const records = new ExecutionRecordSink(redis, env.REDIS_PREFIX, {
    maxLen: env.EXECUTION_RECORDS_MAX_BACKLOG,
    onError: (err) => log.error({ err }, 'execution records could not be written'),
  });
  const httpLimits = { timeoutMs: env.HTTP_TIMEOUT_MS, maxResponseBytes: env.HTTP_MAX_RESPONSE_BYTES };
  const resolver = new SecretResolver(secrets, env.SECRETS_CACHE_TTL_MS, Date.now, env.SECRETS_CACHE_MAX);
  const keys = redisKeys(env.REDIS_PREFIX);
  // Credential updates take effect at once: the control plane announces changed secret names.
  const running = new RunningInvocations();
  const events = redis.duplicate();
  events.on('message', (channel: string, message: string) => {
    if (channel === keys.cancel) running.cancel(message);
    else resolver.invalidate(message);
  });
  // Invalidations sent while disconnected are lost: start from an empty cache after a reconnect.
  events.on('ready', () => resolver.invalidate(undefined));
  const processor = createToolInvocationProcessor({
    plans: new PlanCache(redis, env.REDIS_PREFIX, env.PLAN_CACHE_MAX),
    secrets: resolver,
    rateLimits: new RateLimits(redis, env.REDIS_PREFIX),
    records,
    running,
    debug: new DebugSessions(redis, env.REDIS_PREFIX, { maxBodyBytes: env.DEBUG_MAX_BODY_BYTES }),
    authorizer: new Authorizer(httpLimits, Date.now, env.SECRETS_CACHE_MAX),
    limits: httpLimits,
    log,
  });
  const onInvalidJob = (jobId: string | undefined, issues: unknown) =>
    log.error({ jobId, issues }, 'invalid job payload');
  const consumer = new ReplyingConsumer({
    redis,
    prefix: env.REDIS_PREFIX,
    queueName: queueNames.toolInvocations,
    concurrency: env.WORKER_CONCURRENCY,
    job: ToolInvokeJob,
    handle: processor,
    onInvalidJob,
  });
  observeQueueDepth(queueNames.toolInvocations, () => consumer.jobCounts());
  // Egress on behalf of the control plane (connector test endpoints, external MCP tool lists).
  const tasks = new ReplyingConsumer({
    redis,
    prefix: env.REDIS_PREFIX,
    queueName: queueNames.dataPlaneTasks,
    concurrency: 4,
    job: DataPlaneTask,
    handle: createDataPlaneTaskHandler({ secrets: resolver, limits: httpLimits }),
    onInvalidJob,
  });

  let ready = false;
  let health: Server | undefined;

  return {
    get healthUrl(): string | undefined {
      const addr = health?.address() as AddressInfo | undefined;
      return addr ? `http://${env.HEALTH_HOST}:${addr.port}` : undefined;
    },
    async start() {
      await events.subscribe(keys.secretsChanged, keys.cancel);
      consumer.start();
      tasks.start();
      await Promise.all([consumer.waitUntilReady(), tasks.waitUntilReady()]);
      ready = true;
      if (env.HEALTH_PORT !== undefined) {
        health = createServer((req, res) => {
          const ok = req.url === '/healthz' || (req.url === '/readyz' && ready);
          res
            .writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
            .end(JSON.stringify({ status: ok ? 'ok' : 'unavailable' }));
        });
        await new Promise<void>((resolve) => health!.listen(env.HEALTH_PORT, env.HEALTH_HOST, resolve));
      }
      log.info({ concurrency: env.WORKER_CONCURRENCY, health: this.healthUrl }, 'worker ready');
    },
    async stop() {
      ready = false;
      await Promise.all([consumer.close(), tasks.close()]);
      await records.flush();
      await new Promise<void>((resolve) => (health ? health.close(() => resolve()) : resolve()));
      events.disconnect();
      redis.disconnect();
      log.info('worker stopped');
      log.flush();
    },
  };
}
