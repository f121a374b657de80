import type { ToolInvokeJob } from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import { giveBackQuota } from '@toolplane/queue';
import type { RedisClient } from '@toolplane/redis';

/**
 * Calls in flight end with their job (ADR 0048): the worker releases a job's calls-in-flight counters
 * (`rules.quota.inFlight`) when the job ends, however it ends (answered, failed, expired in the queue, its task
 * cancelled, the caller's cancellation finished), before its reply is published, so that a caller who went away
 * (aborted its request, sent `notifications/cancelled`, cancelled its task) frees its slot only once the upstream
 * request is over. A worker that crashes releases nothing: the counter's TTL is the fallback.
 */
export function releasingCallsInFlight<A extends unknown[], R>(
  handle: (job: ToolInvokeJob, ...rest: A) => Promise<R>,
  { redis, log }: { redis: RedisClient; log: Logger },
): (job: ToolInvokeJob, ...rest: A) => Promise<R> {
  return async (job, ...rest) => {
    const inFlight = job.rules?.quota?.inFlight;
    if (!inFlight?.length) return handle(job, ...rest);
    try {
      return await handle(job, ...rest);
    } finally {
      await giveBackQuota(redis, { keys: inFlight, amounts: inFlight.map(() => 1) }).catch((err: unknown) =>
        log.warn({ invocationId: job.invocationId, err: String(err) }, 'a call in flight was not released'),
      );
    }
  };
}
