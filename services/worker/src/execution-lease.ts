import { redisKeys, type ExecutionPlan } from '@toolplane/contracts';
import { TransientError } from '@toolplane/errors';
import type { RedisClient } from '@toolplane/redis';

/**
 * At most once upstream across worker crashes (docs/architecture.md, "Worker crashes and the execution
 * lease").
 *
 * Rule: before the first request of a delivery may leave for the upstream (the HTTP request of an
 * operation, the `tools/call` of an external MCP tool, the first HTTP attempt of a workflow), the worker
 * writes the invocation's lease in Redis and waits for Redis to confirm; if it cannot, nothing is sent.
 * A job is re-delivered by BullMQ when its worker stopped renewing its lock (crash, kill -9, lost Redis
 * connection). A re-delivered job that finds the lease may have been sent already, and is not sent
 * again: the caller and the execution record get "outcome unknown". Workflows and external MCP tools are
 * never sent again (a workflow cannot resume at the step it had reached: earlier steps' outputs are gone,
 * and running them again may repeat non-idempotent steps).
 *
 * A call that is safe to send again writes no lease: the operation is idempotent (by method, or as
 * declared), or the API deduplicates by an idempotency key, which the worker derives from the invocation
 * id (the same on every delivery). Its re-delivery sends it again whatever a lease would say, so the lease
 * would only cost a Redis write and ~150 bytes of Redis memory per call until the deadline plus the grace;
 * where a lease would have told "nothing left" (a re-delivery past the deadline, a job the queue gave up
 * on), such a call is counted as possibly sent (ADR 0015, "Calls safe to send again").
 */

/** Methods whose requests may be repeated without changing the result beyond the first one (RFC 9110 §9.2.2). */
const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

/** May this plan's request be sent again? HTTP operations by declaration, else by method; workflows and MCP tools never. */
export function isIdempotent(plan: ExecutionPlan): boolean {
  if (plan.kind !== 'http') return false;
  return plan.idempotent ?? IDEMPOTENT_METHODS.has(plan.method);
}

/** The header by which the plan's API deduplicates requests, when it declares one. */
export function idempotencyKeyHeader(plan: ExecutionPlan): string | undefined {
  return plan.kind === 'http' ? plan.idempotencyKeyHeader : undefined;
}

/** Is a request of this plan safe to send again (idempotent, or deduplicated by an idempotency key)? Such calls write no lease. */
export function isResendable(plan: ExecutionPlan): boolean {
  return isIdempotent(plan) || idempotencyKeyHeader(plan) !== undefined;
}

/** The idempotency key of an invocation: its id (unique per call, the same on every delivery of its job). */
export function idempotencyKeyFor(invocationId: string): string {
  return invocationId;
}

export interface DeliveryFacts {
  /** The queue delivered this job before (BullMQ `attemptsStarted` > 1). */
  redelivered: boolean;
  /** Deliveries that reached the sending point before this one (the lease's value; 0 without a lease). */
  sentBefore: number;
  /** The call's deadline has passed. */
  expired: boolean;
  /** Re-delivered later than the lease lives (deadline + grace): whether a request left is no longer known. */
  leaseLapsed: boolean;
  /** Safe to send again (`isResendable`): such a call writes no lease, so any earlier delivery may have sent it. */
  resendable: boolean;
}

/**
 * send: nothing may have left, run normally; resend: a request may have left, and sending again is
 * safe; expired: nothing left and the deadline passed; outcome_unknown: a request may have left, and
 * it must not be sent again (or the deadline passed).
 */
export type DeliveryDecision = 'send' | 'resend' | 'expired' | 'outcome_unknown';

export function decideDelivery(f: DeliveryFacts): DeliveryDecision {
  const maybeSent = f.sentBefore > 0 || (f.redelivered && (f.leaseLapsed || f.resendable));
  if (f.expired) return maybeSent ? 'outcome_unknown' : 'expired';
  if (!maybeSent) return 'send';
  return f.resendable ? 'resend' : 'outcome_unknown';
}

/** Why a call whose request may have left ends "outcome unknown". */
export type UnknownReason = 'not_idempotent' | 'expired' | 'abandoned';

const unknownBecause: Record<UnknownReason, string> = {
  not_idempotent: 'the operation is not idempotent, so it was not sent again',
  expired: 'the call timed out before it could be checked',
  abandoned: 'the queue gave up on it after its workers stopped more than once',
};

/** The caller's and the record's message for an invocation whose outcome is unknown. */
export function outcomeUnknownError(invocationId: string, reason: UnknownReason): TransientError {
  return new TransientError(
    'tool.outcome_unknown',
    `The outcome of invocation ${invocationId} is unknown: the worker running it stopped after its request may have ` +
      `reached the API, and ${unknownBecause[reason]}. Check the API before retrying.`,
    { invocationId },
  );
}

/** The execution leases in Redis: `<prefix>:lease:<invocationId>` = deliveries that reached the sending point. */
export class ExecutionLeases {
  private readonly redis: RedisClient;
  private readonly key: (invocationId: string) => string;
  readonly graceMs: number;

  constructor(redis: RedisClient, prefix: string, graceMs: number) {
    this.redis = redis;
    this.key = redisKeys(prefix).lease;
    this.graceMs = graceMs;
  }

  /** Deliveries of this invocation that reached the sending point (0: none, or the lease expired). */
  async sends(invocationId: string): Promise<number> {
    const v = await this.redis.get(this.key(invocationId));
    if (v === null) return 0;
    const n = Number.parseInt(v, 10);
    return Number.isFinite(n) && n > 0 ? n : 1; // a lease with an unreadable value still says "may have left"
  }

  /**
   * Marks that a request of this delivery (the `delivery`-th to reach this point) may now leave; lives
   * until the deadline plus the grace period. Throws, and nothing may be sent, when Redis does not confirm.
   */
  async mark(invocationId: string, delivery: number, deadlineAt: number, now: number): Promise<void> {
    try {
      await this.redis.set(
        this.key(invocationId),
        String(delivery),
        'PX',
        Math.max(0, deadlineAt - now) + this.graceMs,
      );
    } catch (err) {
      throw new TransientError(
        'queue.unavailable',
        'the execution lease could not be written, so the request was not sent',
        {},
        { cause: err },
      );
    }
  }
}
