import type { Request, Response } from 'express';
import { actAs } from '../../http/auth.ts';
import type { RouteDoc } from '../../openapi/registry.ts';
import type { ControlPlaneDeps, Handler } from '../deps.ts';
import { Reply, type Input, type Operation } from '../operation.ts';

/** One step of an apply: an operation of a table, with its path, query and body. */
export interface Step {
  op: Operation;
  params?: Record<string, string>;
  query?: Record<string, string>;
  body?: unknown;
}

/** The request a legacy handler reads: the input's body, path and query, as its caller. */
function stepRequest(route: RouteDoc, input: Input<unknown, unknown, unknown>): Request {
  const req = {
    method: route.method.toUpperCase(),
    body: input.body,
    params: input.params ?? {},
    query: input.query ?? {},
    headers: {},
    header: () => undefined,
    get: () => undefined,
    originalUrl: `/api/v1${route.path}`,
  } as unknown as Request;
  actAs(req, input.caller);
  return req;
}

/** The answer a legacy handler writes: its status and JSON (or nothing, 204). */
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

/**
 * A resource not yet in an operation table, as an operation apply can run: its `(deps, req, res)` handler behind a
 * request and answer of its own. Goes when the last resource has its table.
 */
export function legacyOperation(route: RouteDoc, handler: Handler): Operation {
  return {
    route,
    schemas: {},
    reads: 'json',
    largeImport: false,
    status: 200,
    answers: 'json',
    raw: undefined,
    before: undefined,
    handler: async (deps: ControlPlaneDeps, input: Input<unknown, unknown, unknown>) => {
      const { res, sent } = stepResponse();
      await handler(deps, stepRequest(route, input), res);
      return new Reply(sent.status, sent.body);
    },
  };
}

/** The route of an operation, by its id, among a resource's registrations. */
export function routeOf(routes: RouteDoc[], operationId: string): RouteDoc {
  const route = routes.find((r) => r.operationId === operationId);
  if (!route) throw new Error(`no operation ${operationId}`);
  return route;
}
