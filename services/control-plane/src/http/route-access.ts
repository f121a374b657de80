import { Router, type Request, type RequestHandler, type Response } from 'express';
import type { Db } from '../db/client.ts';
import type { AuditDeclaration, OperationScope, ServerLimitedAccess } from '../openapi/registry.ts';
import { refuseUnknownQuery, requireScope, restrictToServers } from './access.ts';
import { answered, declareAudit } from './audit.ts';
import { caller } from './auth.ts';

/** One documented operation's method, OpenAPI path (relative to `/api/v1`) and access for limited keys. */
export type { ServerLimitedAccess };

export interface OperationAccess {
  method: string;
  path: string;
  access: ServerLimitedAccess;
  /** The scope the caller needs (`x-scope`; api-document.ts says `management` unless the operation says otherwise). */
  scope?: OperationScope;
  /** What the operation records in the audit trail (`x-audit`); undefined: nothing (it changes nothing). */
  audit?: AuditDeclaration;
  /** The query parameters the operation documents: any other on a write is a 422 (as an unknown body field is). */
  query?: string[];
}

/**
 * A router of the management API: paths are case-sensitive and strict (`/Deploy` and `/deploy/` are no route of
 * `/deploy`), so that a request reaches a handler only through the path its operation documents.
 */
export function apiRouter(opts: { mergeParams?: boolean } = {}): Router {
  return Router({ caseSensitive: true, strict: true, ...opts });
}

/** The access decision of a route that matched (legacy routers, until every resource is an operation table). */
export function serverRestriction(db: Db) {
  return (access: ServerLimitedAccess, req: Request, operation: string): Promise<void> =>
    restrictToServers(db, caller(req), { access, operation, params: req.params, query: req.query ?? {} });
}

/** `/mcp_servers/:id/deploy` and `/mcp_servers/{id}/deploy` alike: `/mcp_servers/{}/deploy`. */
function shapeOf(path: string): string {
  return path.replace(/:[A-Za-z0-9_]+|\{[^}]+\}/g, '{}').replace(/(.)\/$/, '$1');
}

function joinPaths(a: string, b: string): string {
  return (a.replace(/\/$/, '') + '/' + b.replace(/^\//, '')).replace(/(.)\/$/, '$1');
}

/** The parts of Express's router (the `router` package, 2.x) this walks: its layers, their routes and handlers. */
interface RouteStackLayer {
  method?: string;
  handle: (...args: unknown[]) => unknown;
}
interface StackLayer {
  rawPath?: unknown;
  route?: { path: unknown; stack: RouteStackLayer[] };
  handle: unknown;
}

function stackOf(handle: unknown): StackLayer[] | undefined {
  const stack = (handle as { stack?: unknown } | undefined)?.stack;
  return typeof handle === 'function' && Array.isArray(stack) ? (stack as StackLayer[]) : undefined;
}

/**
 * Puts the access decision in front of every route of `api` (and of the routers mounted in it), as the first
 * handler of its method: a request is authorised only once it matched a route, by that route's declaration,
 * never by reading the URL again. A route no operation documents, or a mount whose path is not a string, stops
 * the start: every route has a declaration or there is none.
 */
export function installRouteAccess(
  api: Router,
  operations: OperationAccess[],
  decide: (access: ServerLimitedAccess, req: Request, operation: string) => Promise<void>,
): void {
  const byShape = new Map(operations.map((o) => [`${o.method.toUpperCase()} ${shapeOf(o.path)}`, o]));
  const seen = new Set<string>();
  const walk = (stack: StackLayer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        if (typeof layer.route.path !== 'string') throw new Error(`a route under ${prefix} has no string path`);
        const path = joinPaths(prefix, layer.route.path);
        const guarded = new Set<string>();
        for (const handler of layer.route.stack) {
          const method = handler.method?.toUpperCase();
          if (!method || guarded.has(method)) continue;
          guarded.add(method);
          const key = `${method} ${shapeOf(path)}`;
          const op = byShape.get(key);
          if (!op) throw new Error(`the route ${method} ${path} has no operation in the OpenAPI document`);
          seen.add(key);
          const original = handler.handle;
          const { access, scope, audit, query = [] } = op;
          const operation = `${method} ${op.path}`;
          handler.handle = function accessChecked(req: Request, res: Response, next: unknown) {
            declareAudit(req, audit);
            const json = res.json.bind(res);
            res.json = (body: unknown) => {
              answered(req, body);
              return json(body);
            };
            return Promise.resolve()
              .then(() => scope && requireScope(caller(req), scope))
              .then(() => decide(access, req, operation))
              .then(() => refuseUnknownQuery(req.method, req.query ?? {}, query))
              .then(() => original(req, res, next));
          } as RequestHandler as RouteStackLayer['handle'];
        }
        continue;
      }
      const inner = stackOf(layer.handle);
      if (!inner) continue;
      if (typeof layer.rawPath !== 'string') throw new Error(`a router mounted under ${prefix} has no string path`);
      walk(inner, joinPaths(prefix, layer.rawPath));
    }
  };
  const root = stackOf(api);
  if (!root) throw new Error('the API router has no stack: Express’s router changed');
  walk(root, '/');
  if (seen.size === 0) throw new Error('no route found to guard: Express’s router changed');
}
