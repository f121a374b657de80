import { readFileSync } from 'node:fs';
import type { Logger } from '@toolplane/logger';
import { createLogger } from '@toolplane/logger';
import { InvocationConsumer } from '@toolplane/queue';
import { LocalSealedSecretsReader, type SecretsReader } from '@toolplane/secrets';
import { Redis } from 'ioredis';
import { PlanCache } from './catalog-cache.ts';
import type { WorkerEnv } from './env.ts';
import { createToolInvocationProcessor } from './processor.ts';
import { SecretResolver } from './secret-resolver.ts';

export interface WorkerDeps {
  log: Logger;
  secrets: SecretsReader;
}

export function createWorkerApp(env: WorkerEnv, overrides: Partial<WorkerDeps> = {}) {
  const log = overrides.log ?? createLogger({ service: 'worker', level: env.LOG_LEVEL });
  const secrets = overrides.secrets ?? new LocalSealedSecretsReader(env.SECRETS_DIR, readFileSync(env.SECRETS_PRIVATE_KEY_FILE, 'utf8'));
  const redis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: null, enableAutoPipelining: true });
  const processor = createToolInvocationProcessor({
    plans: new PlanCache(redis, env.REDIS_PREFIX),
    secrets: new SecretResolver(secrets, env.SECRETS_CACHE_TTL_MS),
    limits: { timeoutMs: env.HTTP_TIMEOUT_MS, maxResponseBytes: env.HTTP_MAX_RESPONSE_BYTES },
    log,
  });
  const consumer = new InvocationConsumer({
    redis,
    prefix: env.REDIS_PREFIX,
    concurrency: env.WORKER_CONCURRENCY,
    handle: processor,
    onInvalidJob: (jobId, issues) => log.error({ jobId, issues }, 'invalid job payload'),
  });

  return {
    async start() {
      consumer.start();
      await consumer.waitUntilReady();
      log.info({ concurrency: env.WORKER_CONCURRENCY }, 'worker ready');
    },
    async stop() {
      await consumer.close();
      redis.disconnect();
      log.info('worker stopped');
      log.flush();
    },
  };
}
