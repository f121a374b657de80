import { delegationKeys, type DelegationLimit } from '@toolplane/contracts';
import type { Cluster, Redis } from 'ioredis';

/**
 * The call counters of narrowed tokens' limits (ADR 0084): one counter per token of a chain that set a limit
 * (`delegationKeys(prefix).calls(jti)`), charged one call at a time by the edge's `delegation` stage and by the
 * worker's checks of a workflow's steps, given back when a later rule refuses the call. Each counter lives as long as
 * its token could. The counters of one chain may sit in different cluster slots: charged one key at a time, and a
 * charge that finds one of them full gives back what it took.
 */
export class DelegationCalls {
  private readonly redis: Redis | Cluster;
  private readonly keys: ReturnType<typeof delegationKeys>;

  constructor(redis: Redis | Cluster, prefix: string) {
    this.redis = redis;
    this.keys = delegationKeys(prefix);
  }

  /** One call charged to every limit: false (nothing charged) when one has no room left. Redis errors are thrown. */
  async charge(limits: readonly DelegationLimit[], exp: number): Promise<boolean> {
    const charged: string[] = [];
    for (const limit of limits) {
      const key = this.keys.calls(limit.jti);
      const count = await this.redis.incr(key);
      charged.push(key);
      if (count === 1) await this.redis.expireat(key, exp + 60);
      if (count > limit.calls) {
        await this.release(charged);
        return false;
      }
    }
    return true;
  }

  /** Gives back a charge (the call was refused later, or never queued). */
  async refund(limits: readonly DelegationLimit[]): Promise<void> {
    await this.release(limits.map((l) => this.keys.calls(l.jti)));
  }

  private async release(keys: readonly string[]): Promise<void> {
    for (const key of keys) await this.redis.decr(key).catch(() => undefined);
  }
}
