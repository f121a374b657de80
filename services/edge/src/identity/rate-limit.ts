import { RateLimiterMemory } from 'rate-limiter-flexible';

/**
 * Requests that end unauthenticated (401: no credential for a server that is not public, an
 * invalid key or token), per client address: at most `points` per `windowSeconds`. Past that,
 * every request from the address is refused (429, `Retry-After`) before any lookup, until the
 * window ends. Anonymous calls of public servers do not count. In memory, per process (each edge
 * limits on its own). `points` 0 disables it.
 */
export class UnauthenticatedLimiter {
  private readonly limiter: RateLimiterMemory | undefined;
  private readonly points: number;

  constructor(points: number, windowSeconds: number) {
    this.points = points;
    this.limiter = points > 0 ? new RateLimiterMemory({ points, duration: windowSeconds }) : undefined;
  }

  /** Milliseconds until the address may try again, or 0 when it is within its budget. */
  async blockedFor(key: string): Promise<number> {
    if (!this.limiter) return 0;
    const state = await this.limiter.get(key);
    return state && state.consumedPoints >= this.points ? Math.max(1, state.msBeforeNext) : 0;
  }

  /** Counts one unauthenticated request of the address. */
  count(key: string): void {
    this.limiter?.consume(key).catch(() => undefined);
  }
}
