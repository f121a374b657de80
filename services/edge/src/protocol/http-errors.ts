import { exceedsJsonDepth, MAX_JSON_DEPTH } from '@toolplane/contracts';
import { TransientError } from '@toolplane/errors';
import type { Logger } from '@toolplane/logger';
import { recordDenied } from '@toolplane/telemetry';
import type { Request, Response } from 'express';
import { AuthRefusal } from '../identity/authenticate.ts';

/** A JSON-RPC error the HTTP layer answers before a message is handled (so without an id), and its headers. */
export interface JsonRpcErrorAnswer {
  readonly code: number;
  readonly message: string;
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

/** Writes `error` with `status` (401 and 403 are counted as denials); returns undefined for `return jsonRpcError(…)`. */
export function jsonRpcError(res: Response, status: number, error: JsonRpcErrorAnswer): undefined {
  if (status === 401 || status === 403) recordDenied(status === 401 ? 'unauthenticated' : 'forbidden');
  if (error.headers) res.set(error.headers);
  res.status(status).json({ jsonrpc: '2.0', id: null, error: { code: error.code, message: error.message } });
  return undefined;
}

/**
 * A retryable refusal while Redis is unreachable or its state is being restored: a `tools/call` gets an
 * `isError` result saying so (agents read those), anything else a 503 JSON-RPC error with Retry-After.
 */
export function unavailable(req: Request, res: Response, message: string): undefined {
  const body = req.body as { method?: unknown; id?: unknown } | undefined;
  if (body?.method === 'tools/call' && (typeof body.id === 'string' || typeof body.id === 'number')) {
    res.json({ jsonrpc: '2.0', id: body.id, result: { content: [{ type: 'text', text: message }], isError: true } });
    return undefined;
  }
  return jsonRpcError(res, 503, { code: -32000, message, headers: { 'retry-after': '2' } });
}

/**
 * Answers a failed authentication, mapped once: an `AuthRefusal` as it says, the retryable `state.unavailable`
 * (Redis unreachable, or its state not restored yet: fail closed) as `unavailable`. False for anything else.
 */
export function answerRefusal(req: Request, res: Response, err: unknown): boolean {
  if (err instanceof AuthRefusal) jsonRpcError(res, err.status, err);
  else if (err instanceof TransientError) unavailable(req, res, err.message);
  else return false;
  return true;
}

/**
 * What is wrong with a JSON-RPC body before anything else reads it, if anything: values nested
 * deeper than MAX_JSON_DEPTH (the SDK's validation recurses), or an id that is not a string, a
 * number or null.
 */
function invalidEnvelope(body: unknown): string | undefined {
  if (exceedsJsonDepth(body, MAX_JSON_DEPTH)) return `values may nest at most ${MAX_JSON_DEPTH} levels`;
  for (const message of Array.isArray(body) ? body : [body]) {
    if (message === null || typeof message !== 'object' || !('id' in message)) continue;
    const id = (message as { id: unknown }).id;
    if (id !== null && typeof id !== 'string' && typeof id !== 'number') return 'the id must be a string or a number';
  }
  return undefined;
}

/** Answers 400 and returns true when a parsed body's JSON-RPC envelope is invalid. */
export function refuseEnvelope(req: Request, res: Response): boolean {
  const problem = invalidEnvelope(req.body);
  if (problem) jsonRpcError(res, 400, { code: -32600, message: `Invalid Request: ${problem}.` });
  return problem !== undefined;
}

/** The edge's error handler (express's, and the hot lane's): client errors as JSON-RPC errors, anything else a 500. */
export function httpErrorHandler(log: Logger, maxBodyBytes: number) {
  return (err: unknown, _req: Request, res: Response): undefined => {
    const bodyError = err as { type?: string };
    if (bodyError.type === 'entity.parse.failed')
      return jsonRpcError(res, 400, { code: -32700, message: 'Parse error: the body is not valid JSON.' });
    if (bodyError.type === 'entity.too.large')
      return jsonRpcError(res, 413, { code: -32600, message: `The request body exceeds ${maxBodyBytes} bytes.` });
    // Other client errors of express and body-parser: unsupported Content-Encoding or charset (415),
    // a bad `%` escape in the path (400), an aborted body.
    const status = (err as { status?: unknown }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      const message = err instanceof URIError ? 'the path is not valid percent-encoding' : (err as Error).message;
      return jsonRpcError(res, status, { code: -32600, message: `Invalid Request: ${message}.` });
    }
    log.error({ err }, 'edge request failed');
    if (!res.headersSent) jsonRpcError(res, 500, { code: -32603, message: 'Internal error.' });
    return undefined;
  };
}
