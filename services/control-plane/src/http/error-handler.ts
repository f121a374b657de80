import { toAppError, toProblem, TransientError, ValidationError, type AppError } from '@toolplane/errors';
import type { Logger } from '@toolplane/logger';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { z } from 'zod';

/** A request body's zod problems as problem+json issues (`/field/0/name`). */
export function requestIssues(err: z.ZodError): { path: string; message: string }[] {
  return err.issues.map((i) => ({ path: '/' + i.path.map(String).join('/'), message: i.message }));
}

/**
 * Whether `err` is ioredis failing a command because Redis is unreachable (its offline queue flushed
 * after the retries, or the connection closed): a retryable condition, not a bug.
 */
function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return (
    err.name === 'MaxRetriesPerRequestError' ||
    /^(Connection is closed\.|Stream isn't writeable|connect ECONNREFUSED)/.test(err.message)
  );
}

/** The REST boundary: every error becomes application/problem+json, mapped here and nowhere else. */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    let appError: AppError;
    if (err instanceof z.ZodError) {
      appError = new ValidationError('the request body is invalid', requestIssues(err), 'request.invalid', 422);
    } else if (isBodyParserError(err)) {
      appError = new ValidationError(
        err.type === 'entity.too.large' ? 'the request body is too large' : 'the request body could not be read',
        [{ path: '', message: err.message }],
        'request.invalid',
        err.status,
      );
    } else if (isRedisUnavailable(err)) {
      // Most writes publish inside their transaction (then nothing was stored); a change stored
      // anyway is published by the runtime-state keeper as soon as Redis answers.
      appError = new TransientError(
        'state.unavailable',
        'Redis is unreachable: retry in a few seconds (a change already stored is published once Redis is back).',
        {},
        { cause: err },
      );
    } else {
      appError = toAppError(err);
    }
    if (appError.kind === 'internal') log.error({ err, method: req.method, path: req.path }, 'request failed');
    const problem = toProblem(appError);
    res.status(problem.status).type('application/problem+json').send(JSON.stringify(problem));
  };
}

function isBodyParserError(err: unknown): err is { type: string; status: number; message: string } {
  return (
    typeof err === 'object' &&
    err !== null &&
    'type' in err &&
    'status' in err &&
    typeof (err as { status: unknown }).status === 'number'
  );
}

export const notFoundHandler: RequestHandler = (req, res) => {
  res
    .status(404)
    .type('application/problem+json')
    .send(
      JSON.stringify({
        type: 'https://toolplane.dev/errors/resource.not_found',
        title: 'Request rejected',
        status: 404,
        code: 'resource.not_found',
        detail: `no route for ${req.method} ${req.path}`,
      }),
    );
};
