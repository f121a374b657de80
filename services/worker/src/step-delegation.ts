import { delegationStepRefusal } from '@toolplane/access';
import { delegationKeys, type DelegationLimit, type ToolInvokeJob, type ToolStepPlan } from '@toolplane/contracts';
import type { RedisClient } from '@toolplane/redis';

/**
 * A workflow called with a narrowed token (ADR 0084, addendum): each step on a hosted server's tool meets the token's
 * rights as a direct call of that tool with the token would at the edge: its servers and tools, the conditions of its
 * chain on the step's arguments as they will be sent, its expiry, and its chain's limits on calls, charged in the same
 * Redis counters as the edge's `delegation` stage (`delegationKeys(prefix).calls`). The job carries the rights
 * (`rules.delegation`), never the token.
 */

/** The chain's call counters in Redis (the edge's `DelegatedTokens.charge`, for steps). */
export class StepDelegationCounter {
  private readonly redis: RedisClient;
  private readonly keys: ReturnType<typeof delegationKeys>;

  constructor(redis: RedisClient, prefix: string) {
    this.redis = redis;
    this.keys = delegationKeys(prefix);
  }

  /** One call charged to every limit: false (nothing charged) when one has no room left. */
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

  async refund(limits: readonly DelegationLimit[]): Promise<void> {
    await this.release(limits.map((l) => this.keys.calls(l.jti)));
  }

  private async release(keys: readonly string[]): Promise<void> {
    for (const key of keys) await this.redis.decr(key).catch(() => undefined);
  }
}

const nothing = () => Promise.resolve();

/**
 * The token's judgement of one step: refused (why; nothing charged), or allowed with what gives its charge back (the
 * step refused by a later check). A job without `rules.delegation` is no narrowed token's: nothing to do.
 */
export async function stepDelegation(
  counter: StepDelegationCounter | undefined,
  job: Pick<ToolInvokeJob, 'rules' | 'stepCaller'>,
  step: ToolStepPlan,
  args: Readonly<Record<string, unknown>>,
): Promise<{ refused: string } | { refund: () => Promise<void> }> {
  const narrowing = job.rules?.delegation;
  if (!narrowing || step.serverId === undefined) return { refund: nothing };
  if (narrowing.exp * 1000 <= Date.now()) return { refused: `the narrowed token ${narrowing.tokenId} has expired` };
  const refused = delegationStepRefusal(narrowing, {
    caller: job.stepCaller?.condition ?? {},
    tool: {
      name: step.name,
      server_id: step.serverId,
      server_name: step.serverName ?? step.serverId,
      ...(step.annotations ? { annotations: step.annotations as Record<string, unknown> } : {}),
    },
    args,
  });
  if (refused !== undefined) return { refused };
  const { limits, exp } = narrowing;
  if (limits.length === 0) return { refund: nothing };
  if (!counter) return { refused: `the calls of the narrowed token ${narrowing.tokenId} cannot be counted` };
  if (!(await counter.charge(limits, exp)))
    return { refused: `the narrowed token ${narrowing.tokenId} has no calls left` };
  return { refund: () => counter.refund(limits) };
}
