import { toAppError, toProblem, ValidationError, type Problem } from '@toolplane/errors';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { auditScopes } from '../../db/audited-db.ts';
import { stepAuditScope } from '../../http/audit.ts';
import { actAs, caller } from '../../http/auth.ts';
import { requestIssues } from '../../http/error-handler.ts';
import type { RouteDoc } from '../../openapi/registry.ts';
import type { ControlPlaneDeps, Handler } from '../deps.ts';

/** One API operation run in-process on the caller's behalf: the operation's own handler, validation and audit event. */
export interface Operation {
  route: RouteDoc;
  handler: Handler;
  params?: Record<string, string>;
  query?: Record<string, string>;
  body?: unknown;
}

export type OperationResult = { ok: true; status: number; body: unknown } | { ok: false; problem: Problem };

/** The request a handler reads: its body, path and query, acting as `outer`'s caller. */
function stepRequest(outer: Request, op: Operation): Request {
  const req = {
    method: op.route.method.toUpperCase(),
    body: op.body,
    params: op.params ?? {},
    query: op.query ?? {},
    headers: {},
    header: () => undefined,
    get: () => undefined,
    ip: outer.ip,
    originalUrl: `/api/v1${op.route.path}`,
  } as unknown as Request;
  actAs(req, caller(outer));
  return req;
}

/** The answer a handler writes: its status and JSON (or nothing, 204). */
function stepResponse() {
  const sent = { status: 200, body: undefined as unknown };
  const res = {
    statusCode: 200,
    status(code: number) {
      sent.status = code;
      res.statusCode = code;
      return res;
    },
    json(body: unknown) {
      sent.body = body;
      return res;
    },
    send(body: unknown) {
      sent.body = body;
      return res;
    },
    end() {
      return res;
    },
    setHeader() {
      return res;
    },
    type() {
      return res;
    },
  };
  return { res: res as unknown as Response, sent };
}

/** An error as the API would answer it (problem+json): validation problems with their paths. */
function problemOf(err: unknown): Problem {
  if (err instanceof z.ZodError)
    return toProblem(new ValidationError('the request is invalid', requestIssues(err), 'request.invalid', 422));
  return toProblem(toAppError(err));
}

/**
 * Runs `op` as the API would for the request's caller, under an audit scope of its own: its event is the operation's
 * (`x-audit`), marked `via: workspace.apply`. A refused or failed operation changes nothing (each handler's rule).
 */
export async function invoke(
  deps: ControlPlaneDeps,
  outer: Request,
  op: Operation,
  resourceId: string | null,
): Promise<OperationResult> {
  const declaration = op.route['x-audit'];
  const req = stepRequest(outer, op);
  const { res, sent } = stepResponse();
  if (!declaration) throw new Error(`operation ${op.route.operationId} declares no audit action`);
  const scope = stepAuditScope(req, { declaration, resourceId, via: 'workspace.apply' });
  try {
    await auditScopes.run(scope, () => op.handler(deps, req, res));
  } catch (err) {
    scope.open = false;
    const problem = problemOf(err);
    if (problem.status >= 500) deps.log.error({ err, operation: op.route.operationId }, 'workspace apply step failed');
    return { ok: false, problem };
  }
  await scope.close(deps.trail);
  return { ok: true, status: sent.status, body: sent.body };
}

/** The route of an operation, by its id, among a resource's registrations. */
export function routeOf(routes: RouteDoc[], operationId: string): RouteDoc {
  const route = routes.find((r) => r.operationId === operationId);
  if (!route) throw new Error(`no operation ${operationId}`);
  return route;
}
