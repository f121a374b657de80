/**
 * One error taxonomy for the whole platform, split by who is at fault:
 * - `user`: the caller sent something wrong (bad document, bad argument, unknown id). Not retried.
 * - `transient`: something outside us failed and may work later (upstream 5xx, timeout, Redis hiccup). Retried where safe.
 * - `internal`: a bug or broken invariant on our side. Logged at error level.
 *
 * Each boundary maps these once: problem+json on REST (`toProblem`), `isError` tool results or
 * JSON-RPC errors on MCP, retry vs unrecoverable on the queue.
 */
export type ErrorKind = 'user' | 'transient' | 'internal';

/** Dotted snake-case codes. Adding one is an API change: document it in docs/api.md. */
export type ErrorCode =
  | 'request.invalid'
  | 'request.rate_limited'
  | 'document.invalid'
  | 'auth.missing_key'
  | 'auth.invalid_key'
  | 'auth.invalid_token'
  | 'auth.forbidden'
  | 'auth.upstream_authorization_refused'
  | 'auth.upstream_authorization_unavailable'
  | 'auth.upstream_authorization_invalid'
  | 'resource.not_found'
  | 'resource.conflict'
  | 'tool.not_found'
  | 'tool.invalid_arguments'
  | 'tool.timeout'
  | 'tool.outcome_unknown'
  | 'upstream.http_error'
  | 'upstream.unreachable'
  | 'upstream.timeout'
  | 'upstream.response_too_large'
  | 'secret.not_found'
  | 'connection.required'
  | 'queue.unavailable'
  | 'state.unavailable'
  | 'service.unavailable'
  | 'internal.unexpected';

export interface ProblemIssue {
  /** JSON-pointer-like path to the offending field, e.g. `/mcp_config/route_mappings/1/operation_id`. */
  path: string;
  message: string;
}

export abstract class AppError extends Error {
  abstract readonly kind: ErrorKind;
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}

export class UserError extends AppError {
  readonly kind = 'user' as const;
  readonly status: number;
  constructor(
    code: ErrorCode,
    message: string,
    opts: { status?: number; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(code, message, opts.details, { cause: opts.cause });
    this.status = opts.status ?? 400;
  }
}

/** A document or request body failed validation; carries every problem found, not just the first. */
export class ValidationError extends UserError {
  readonly issues: ProblemIssue[];
  constructor(message: string, issues: ProblemIssue[], code: ErrorCode = 'document.invalid', status = 422) {
    super(code, message, { status, details: { issues } });
    this.issues = issues;
  }
}

export class NotFoundError extends UserError {
  /** `id` comes from the request (a path segment): quoted, as a JSON string, never echoed bare. */
  constructor(what: string, id: string) {
    super('resource.not_found', `${what} ${JSON.stringify(id)} was not found`, { status: 404, details: { id } });
  }
}

export class AuthError extends UserError {
  constructor(
    code: 'auth.missing_key' | 'auth.invalid_key' | 'auth.invalid_token' | 'auth.forbidden',
    message: string,
  ) {
    super(code, message, { status: code === 'auth.forbidden' ? 403 : 401 });
  }
}

export class TransientError extends AppError {
  readonly kind = 'transient' as const;
}

export class InternalError extends AppError {
  readonly kind = 'internal' as const;
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}

/** Wraps anything thrown into an AppError; unknown errors become internal. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new InternalError('internal.unexpected', message, {}, { cause: err });
}

/** RFC 9457 problem details. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail: string;
  errors?: ProblemIssue[];
}

const titles: Record<ErrorKind, string> = {
  user: 'Request rejected',
  transient: 'Temporarily unavailable',
  internal: 'Internal error',
};

/** The REST boundary mapping. Internal errors never leak their message. */
export function toProblem(err: AppError): Problem {
  const status = err instanceof UserError ? err.status : err.kind === 'transient' ? 503 : 500;
  const problem: Problem = {
    type: `https://toolplane.dev/errors/${err.code}`,
    title: titles[err.kind],
    status,
    code: err.code,
    detail: err.kind === 'internal' ? 'An unexpected error occurred.' : err.message,
  };
  if (err instanceof ValidationError) problem.errors = err.issues;
  return problem;
}
