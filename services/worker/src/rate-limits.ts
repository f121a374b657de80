import type { RateLimitPlan } from '@toolplane/contracts';
import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';

export type RateLimitOutcome = { ok: true } | { ok: false; retryAfterMs: number; limit: RateLimitPlan };

/**
 * The descriptor's `rate_limits`, enforced across every worker process: each bucket is a fixed
 * window counter updated atomically by one Lua script in Redis (rate-limiter-flexible), so the
 * upstream sees at most `limit` calls per window whatever the number of workers.
 */
export class RateLimits {
  private readonly limiters = new Map<string, RateLimiterRedis>();
  private readonly redis: Redis;
  private readonly prefix: string;

  constructor(redis: Redis, prefix: string) {
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

  /** Takes one call from every bucket; reports the first exhausted one with the time until it refills. */
  async take(plans: RateLimitPlan[] | undefined): Promise<RateLimitOutcome> {
    for (const plan of plans ?? []) {
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
