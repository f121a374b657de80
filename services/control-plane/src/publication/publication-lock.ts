import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { TransientError } from '@toolplane/errors';
import type { RedisClient } from '@toolplane/redis';

/** DEL the lock only if it still holds our token (KEYS[1] = lock, ARGV[1] = token). */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

export interface PublicationLockOptions {
  /** How long a holder that died keeps others out (ms). A critical section is one read and one write. */
  ttlMs?: number;
  /** How long a caller waits for the lock before giving up with a transient error (ms). */
  waitMs?: number;
  /** Called each time the lock was found taken by another holder (tests observe the wait with it). */
  onContended?: (resource: string) => void;
}

/**
 * Mutual exclusion for "read PostgreSQL, write Redis" publications (ADR 0017), across the control
 * plane's replicas: a Redis lock per published resource (SET NX PX with a random token, released by
 * compare-and-delete). Without it, a republication that read PostgreSQL before a change committed could
 * write its older copy after the change's own publication (a revoked key back in Redis, a policy lost).
 * Callers in this process queue on a local chain first, so only replicas poll each other.
 */
export class PublicationLock {
  private readonly redis: RedisClient;
  private readonly key: (resource: string) => string;
  private readonly ttlMs: number;
  private readonly waitMs: number;
  private readonly onContended: ((resource: string) => void) | undefined;
  private readonly local = new Map<string, Promise<unknown>>();

  constructor(redis: RedisClient, key: (resource: string) => string, opts: PublicationLockOptions = {}) {
    this.redis = redis;
    this.key = key;
    this.ttlMs = opts.ttlMs ?? 30_000;
    this.waitMs = opts.waitMs ?? 30_000;
    this.onContended = opts.onContended;
  }

  /** Runs `fn` while holding the lock on `resource`; its PostgreSQL reads and Redis writes go inside. */
  run<T>(resource: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.local.get(resource) ?? Promise.resolve();
    const mine = previous.catch(() => undefined).then(() => this.holding(resource, fn));
    const tail = mine.catch(() => undefined);
    this.local.set(resource, tail);
    void tail.then(() => {
      if (this.local.get(resource) === tail) this.local.delete(resource);
    });
    return mine;
  }

  private async holding<T>(resource: string, fn: () => Promise<T>): Promise<T> {
    const key = this.key(resource);
    const token = randomBytes(12).toString('hex');
    const deadline = Date.now() + this.waitMs;
    for (let attempt = 0; ; attempt++) {
      if ((await this.redis.set(key, token, 'PX', this.ttlMs, 'NX')) === 'OK') break;
      this.onContended?.(resource);
      if (Date.now() > deadline)
        throw new TransientError('state.unavailable', `the publication lock on ${resource} stayed taken`);
      // Another replica holds it for one read and one write: short, growing pauses with jitter.
      await delay(Math.min(2 ** attempt, 50) + Math.random() * 5);
    }
    try {
      return await fn();
    } finally {
      await this.redis.eval(RELEASE, 1, key, token).catch(() => undefined); // expires by itself otherwise
    }
  }
}
