import { delegationKeys, type DelegationLimit } from '@toolplane/contracts';
import type { Cluster, Redis } from 'ioredis';

type Client = Redis | Cluster;

/**
 * A narrowed token's limits on calls (ADR 0084): one counter per token of its chain that has a limit, in Redis
 * (`delegationKeys(prefix).calls`), each living as long as its token could. The one budget every path spends: the
 * edge's calls and reads, the worker's workflow steps, and the fan-out's event occurrences given to the token's
 * subscriptions (docs/events.md).
 */
export class DelegationBudget {
  private readonly redis: Client;
  private readonly keys: ReturnType<typeof delegationKeys>;

  constructor(redis: Client, prefix: string) {
    this.redis = redis;
    this.keys = delegationKeys(prefix);
  }

  /** One call charged to every limit of the chain: false (nothing charged) when one has no room left. */
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

  /** Gives back a charge (what it paid for was refused later, or never sent). */
  async refund(limits: readonly DelegationLimit[]): Promise<void> {
    await this.release(limits.map((l) => this.keys.calls(l.jti)));
  }

  /** Whether a limit of the chain has no room for one more call (nothing charged). */
  async spent(limits: readonly DelegationLimit[]): Promise<boolean> {
    // One key per token (each in its own slot on a cluster), read together.
    const counts = await Promise.all(limits.map((l) => this.redis.get(this.keys.calls(l.jti))));
    return limits.some((l, i) => Number(counts[i] ?? 0) >= l.calls);
  }

  private async release(keys: readonly string[]): Promise<void> {
    for (const key of keys) await this.redis.decr(key).catch(() => undefined);
  }
}
