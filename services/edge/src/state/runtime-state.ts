import { redisKeys } from '@toolplane/contracts';
import { isAppError, TransientError } from '@toolplane/errors';
import type { RedisClient } from '@toolplane/redis';

/**
 * Redis holds state derived from PostgreSQL (keys, catalogs, access policies), republished by the
 * control plane whenever Redis lost it (services/control-plane/src/runtime-state.ts). Until its marker
 * (`runtimeState`) is back, a missing entry means "not restored yet", never "does not exist": the edge
 * then fails closed with these retryable errors and caches nothing.
 */
export const stateMessages = {
  unreachable: "Toolplane's runtime state (Redis) is unreachable; nothing was run. Retry in a few seconds.",
  restoring:
    "Toolplane's runtime state is being restored after a Redis restart (API keys, catalogs, access policies); " +
    'nothing was run. Retry in a few seconds.',
  access:
    "Access denied for now: this workspace's access policies are being restored after a Redis restart; " +
    'nothing was run. Retry in a few seconds.',
} as const;

export function stateUnavailable(message: string, cause?: unknown): TransientError {
  return new TransientError('state.unavailable', message, {}, cause === undefined ? undefined : { cause });
}

/** Runs a Redis read; a Redis failure (unreachable, timed out) becomes a retryable `state.unavailable` error. */
export async function readState<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (isAppError(err)) throw err;
    throw stateUnavailable(stateMessages.unreachable, err);
  }
}

/** Whether the control plane's marker says the published state is complete in this Redis. */
export class RuntimeStateProbe {
  private readonly redis: RedisClient;
  private readonly key: string;
  constructor(redis: RedisClient, prefix: string) {
    this.redis = redis;
    this.key = redisKeys(prefix).runtimeState;
  }

  /** Throws `state.unavailable` (restoring) unless the marker is present: call it before trusting a miss. */
  async assertComplete(): Promise<void> {
    const present = await readState(() => this.redis.exists(this.key));
    if (present === 0) throw stateUnavailable(stateMessages.restoring);
  }
}
