import type { RateLimitPlan } from '@toolplane/contracts';
import type { RedisClient } from '@toolplane/redis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';

export type RateLimitOutcome = { ok: true } | { ok: false; retryAfterMs: number; limit: RateLimitPlan };
type RateLimitRefusal = Extract<RateLimitOutcome, { ok: false }>;

/**
 * The buckets one upstream call of a connector instance's operation spends: the plan's (compiled by
 * `connectorRateLimits` in @toolplane/openapi, the instance's per entry of `rate_limits`), each for the calling
 * external user alone when there is one (their own account upstream). The one key function of plain tool calls and
 * of workflow steps calling the instance's operations.
 */
function rateLimitBuckets(plans: RateLimitPlan[] | undefined, userId: string | undefined): RateLimitPlan[] {
  if (!plans) return [];
  return userId ? plans.map((l) => ({ ...l, key: `${l.key}:user:${userId}` })) : plans;
}

/** What the caller is told when a call is past the limit (a plain call's result, a workflow's too). */
export function rateLimitMessage(refusal: RateLimitRefusal): string {
  const seconds = Math.max(1, Math.ceil(refusal.retryAfterMs / 1000));
  const { limit, intervalSeconds } = refusal.limit;
  return `Rate limit reached for this API (${limit} calls per ${intervalSeconds} s). Retry after ${seconds} s.`;
}

/** Thrown by a workflow step whose request a limit refused: the run stops and the call is answered as a plain one. */
export class RateLimitedError extends Error {
  readonly refusal: RateLimitRefusal;
  constructor(refusal: RateLimitRefusal) {
    super(rateLimitMessage(refusal));
    this.refusal = refusal;
  }
}

/**
 * The descriptor's `rate_limits`, enforced across every worker process: each bucket is a fixed
 * window counter updated atomically by one Lua script in Redis (rate-limiter-flexible), so the
 * upstream sees at most `limit` calls per window whatever the number of workers. A call past it is
 * refused (never queued): the caller is told when the window refills.
 */
export class RateLimits {
  private readonly limiters = new Map<string, RateLimiterRedis>();
  private readonly redis: RedisClient;
  private readonly prefix: string;

  constructor(redis: RedisClient, prefix: string) {
    this.redis = redis;
    this.prefix = prefix;
  }

  private limiter(plan: RateLimitPlan): RateLimiterRedis {
    const id = `${plan.limit}/${plan.intervalSeconds}`;
    let l = this.limiters.get(id);
    if (!l) {
      l = new RateLimiterRedis({
        storeClient: this.redis,
        keyPrefix: `${this.prefix}:ratelimit:${id}`,
        points: plan.limit,
        duration: plan.intervalSeconds,
      });
      this.limiters.set(id, l);
    }
    return l;
  }

  /**
   * Takes one upstream call of an instance's operation (`rateLimitBuckets`: `userId` is the calling external user's)
   * from every bucket; reports the first exhausted one with the time until it refills.
   */
  async take(plans: RateLimitPlan[] | undefined, userId?: string): Promise<RateLimitOutcome> {
    for (const plan of rateLimitBuckets(plans, userId)) {
      try {
        await this.limiter(plan).consume(plan.key, 1);
      } catch (err) {
        if (err instanceof RateLimiterRes) return { ok: false, retryAfterMs: err.msBeforeNext, limit: plan };
        throw err;
      }
    }
    return { ok: true };
  }
}
