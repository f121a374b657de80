import { zodIssueList } from '@toolplane/contracts';
import { TransientError, toAppError, toProblem, UserError, ValidationError, type AppError } from '@toolplane/errors';
import type { Logger } from '@toolplane/logger';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { z } from 'zod';

/**
 * A request's zod problems as problem+json issues (`/field/0/name`, `/to` for a query parameter); an unknown field
 * of a body (every body schema is strict) is one issue at its own path, `unknown field`.
 */
export function requestIssues(err: z.ZodError): { path: string; message: string }[] {
  return zodIssueList(err).map((i) => ({ path: '/' + i.path.map(String).join('/'), message: i.message }));
}

/**
 * Whether `err` is ioredis failing a command because Redis is unreachable (its offline queue flushed
 * after the retries, or the connection closed): a retryable condition, not a bug. (A bare
 * `ECONNREFUSED` is not enough: PostgreSQL's driver reports the same.)
 */
function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return (
    err.name === 'MaxRetriesPerRequestError' || /^(Connection is closed\.|Stream isn't writeable)/.test(err.message)
  );
}

/** Seconds a client is told to wait (`Retry-After`) when the database is unreachable. */
const DATABASE_RETRY_AFTER_SECONDS = 5;

/** The REST boundary: every error becomes application/problem+json, mapped here and nowhere else. */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const appError = classify(err);
    if (appError.kind === 'internal') log.error({ err, method: req.method, path: req.path }, 'request failed');
    else if (appError.kind === 'transient') log.warn({ err: appError.message, path: req.path }, 'request failed');
    const problem = toProblem(appError);
    const retryAfter =
      typeof appError.details.retryAfterSeconds === 'number'
        ? appError.details.retryAfterSeconds
        : appError.kind === 'transient'
          ? DATABASE_RETRY_AFTER_SECONDS
          : undefined;
    if (retryAfter !== undefined) res.setHeader('retry-after', String(Math.max(1, Math.ceil(retryAfter))));
    res.status(problem.status).type('application/problem+json').send(JSON.stringify(problem));
  };
}

/** Prisma error codes meaning "the database cannot be reached now" (connection refused, lost, pool timeout). */
const unreachableCodes = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2037']);
/** Node and PostgreSQL codes of the same: sockets, admin shutdown, cannot connect now, too many connections. */
const connectionCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  '57P01',
  '57P02',
  '57P03',
  '53300',
]);

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The error and its causes (driver errors are wrapped by Prisma and the adapter). */
function chain(err: unknown): unknown[] {
  const out: unknown[] = [];
  for (let e: unknown = err; e && typeof e === 'object' && out.length < 8; e = (e as { cause?: unknown }).cause)
    out.push(e);
  return out;
}

/** Driver messages of a lost or refused connection (errors that carry no code). */
const unreachableMessages = [
  /Can't reach database server/i,
  /Connection terminated/i,
  /connection (?:refused|closed)/i,
  /Server has closed the connection/i,
  /timeout exceeded when trying to connect/i,
];

function isDatabaseUnreachable(err: unknown): boolean {
  return chain(err).some((e) => {
    const code = codeOf(e);
    if (code && (unreachableCodes.has(code) || connectionCodes.has(code) || /^08/.test(code))) return true;
    const name = (e as { name?: unknown }).name;
    if (name === 'PrismaClientInitializationError') return true;
    const message = e instanceof Error ? e.message : '';
    return unreachableMessages.some((re) => re.test(message));
  });
}

/** PostgreSQL refuses NUL characters (22021) and characters it cannot encode (22P05) in text. */
function isUnstorableText(err: unknown): boolean {
  return chain(err).some((e) => {
    const code = codeOf(e);
    if (code === '22021' || code === '22P05') return true;
    const message = e instanceof Error ? e.message : '';
    return /\b(?:22021|22P05)\b|invalid byte sequence for encoding/.test(message);
  });
}

/** A 4xx error from express or body-parser (unreadable body, bad encoding or charset, bad `%` escape in the path). */
function httpClientStatus(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const status =
    (err as { status?: unknown; statusCode?: unknown }).status ?? (err as { statusCode?: unknown }).statusCode;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}

function classify(err: unknown): AppError {
  if (err instanceof z.ZodError)
    return new ValidationError('the request is invalid', requestIssues(err), 'request.invalid', 422);
  if (err instanceof UserError || err instanceof TransientError) return err;
  const status = httpClientStatus(err);
  if (status !== undefined) {
    const type = (err as { type?: unknown }).type;
    const message = err instanceof Error ? err.message : String(err);
    const detail =
      type === 'entity.too.large'
        ? 'the request body is too large'
        : err instanceof URIError
          ? 'the request path is not valid percent-encoding'
          : 'the request body could not be read';
    return new ValidationError(detail, [{ path: '', message }], 'request.invalid', status);
  }
  // Two requests creating the same name at once: the unique index decides, the loser gets 409.
  if (codeOf(err) === 'P2002')
    return new UserError('resource.conflict', 'a resource with this name already exists', { status: 409 });
  if (isUnstorableText(err))
    return new ValidationError(
      'the request contains text that cannot be stored',
      [{ path: '', message: 'strings may not contain NUL (\\u0000) characters' }],
      'request.invalid',
      422,
    );
  if (isRedisUnavailable(err))
    // Most writes publish inside their transaction (then nothing was stored); a change stored anyway
    // is published by the runtime-state keeper as soon as Redis answers.
    return new TransientError(
      'state.unavailable',
      'Redis is unreachable: retry in a few seconds (a change already stored is published once Redis is back).',
      {},
      { cause: err },
    );
  if (isDatabaseUnreachable(err))
    return new TransientError('service.unavailable', 'the database is unavailable; retry later', {}, { cause: err });
  return toAppError(err);
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
        detail: `no route for ${req.method} ${JSON.stringify(req.path)}`,
      }),
    );
};
