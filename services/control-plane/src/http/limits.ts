import { clientKey } from '@toolplane/config';
import { UserError } from '@toolplane/errors';
import type { NextFunction, Request, Response } from 'express';
import { RateLimiterMemory } from 'rate-limiter-flexible';

export function rateLimited(retryAfterMs: number, what: string): UserError {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new UserError('request.rate_limited', `${what}; retry in ${seconds} s`, {
    status: 429,
    details: { retryAfterSeconds: seconds },
  });
}

/**
 * Requests without a valid API key, per client address: at most `points` per `windowSeconds` end
 * unauthenticated (401); past that, every request from the address answers 429 with `Retry-After`
 * until the window ends, before any database lookup. `points` 0 disables the limit.
 */
export function unauthenticatedLimit(points: number, windowSeconds: number) {
  const limiter = points > 0 ? new RateLimiterMemory({ points, duration: windowSeconds }) : undefined;
  return async (req: Request, res: Response, next: NextFunction) => {
    if (!limiter) return next();
    const key = clientKey(req.ip);
    const state = await limiter.get(key);
    if (state && state.consumedPoints >= points)
      throw rateLimited(state.msBeforeNext, 'too many unauthenticated requests from this address');
    res.once('finish', () => {
      if (res.statusCode === 401) limiter.consume(key).catch(() => undefined);
    });
    next();
  };
}

/**
 * At most `max` large bodies (over `minBytes`, or of unknown length) are read and imported at once:
 * parsing and compiling a big API description costs a lot of memory and CPU, so more answer 429 with
 * `Retry-After` instead of queueing. The slot is held until the response is closed.
 */
export function largeImportLimit(max: number, minBytes: number, retryAfterSeconds = 5) {
  let running = 0;
  const take = (res: Response) => {
    if (running >= max) throw rateLimited(retryAfterSeconds * 1000, `${max} large imports are already running`);
    running++;
    res.once('close', () => running--);
  };
  const limit = (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'POST' && req.method !== 'PUT') return next();
    const declared = req.header('content-length');
    if (declared === undefined && req.header('transfer-encoding') === undefined) return next();
    const length = Number(declared ?? NaN);
    if (Number.isFinite(length) && length <= minBytes) return next();
    take(res);
    next();
  };
  /** A slot whatever the body: for imports of a document the request only names (an API of the catalog). */
  const always = (_req: Request, res: Response, next: NextFunction) => {
    take(res);
    next();
  };
  return Object.assign(limit, { always });
}
