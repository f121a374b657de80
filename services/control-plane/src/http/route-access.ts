import { AuthError, NotFoundError, ValidationError } from '@toolplane/errors';
import { Router, type Request, type RequestHandler } from 'express';
import type { Db } from '../db/client.ts';
import type { AuditDeclaration, OperationScope, ServerLimitedAccess } from '../openapi/registry.ts';
import { isUuid } from '../db/ids.ts';
import { declareAudit } from './audit.ts';
import { caller, credentialName, type Caller } from './auth.ts';

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

const writeMethods = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * A write with a query parameter its operation does not document is refused (422): `?dry_run=true` on an operation
 * without dry runs must not look like one (ADR 0037), and a misspelt option must not be ignored.
 */
function refuseUnknownQuery(req: Request, declared: readonly string[]): void {
  if (!writeMethods.has(req.method)) return;
  const unknown = Object.keys(req.query ?? {}).filter((name) => !declared.includes(name));
  if (unknown.length === 0) return;
  throw new ValidationError(
    `unknown query parameter${unknown.length > 1 ? 's' : ''}: ${unknown.map((n) => JSON.stringify(n)).join(', ')}`,
    unknown.map((name) => ({ path: `/query/${name}`, message: 'this operation takes no such query parameter' })),
    'request.invalid',
  );
}

/** 403 unless the caller holds the operation's scope (`audit` is not implied by `management`, nor the reverse). */
function requireScope(req: Request, scope: OperationScope): void {
  const c = caller(req);
  if (!c.scopes.includes(scope)) throw new AuthError('auth.forbidden', `${credentialName(c)} has no "${scope}" scope`);
}

/**
 * A router of the management API: paths are case-sensitive and strict (`/Deploy` and `/deploy/` are no route of
 * `/deploy`), so that a request reaches a handler only through the path its operation documents.
 */
export function apiRouter(opts: { mergeParams?: boolean } = {}): Router {
  return Router({ caseSensitive: true, strict: true, ...opts });
}

function refusal(serverIds: string[], what: string, serverAdminHelps: boolean): AuthError {
  return new AuthError(
    'auth.forbidden',
    `this API key is limited to servers ${serverIds.join(', ')}: ${what} needs a key without a server restriction` +
      (serverAdminHelps ? ' or with the "server_admin" scope' : ''),
  );
}

/**
 * Keys limited to servers on the management API (ADR 0013): decides, on the route that matched, what
 * `access` allows such a key (see ServerLimitedAccess).
 */
export function serverRestriction(db: Db) {
  return async (access: ServerLimitedAccess, req: Request, operation: string): Promise<void> => {
    const c: Caller = caller(req);
    const { serverIds, workspaceId } = c;
    if (!serverIds) return;
    const allowed = new Set(serverIds);
    switch (access) {
      case 'filtered':
        return;
      case 'server_query': {
        const requested = typeof req.query.server_id === 'string' ? req.query.server_id : undefined;
        if (!requested || !allowed.has(requested))
          throw new AuthError(
            'auth.forbidden',
            `this API key is limited to servers ${serverIds.join(', ')}: pass one of them as server_id`,
          );
        return;
      }
      case 'own_server':
      case 'server_admin': {
        const idOrName = req.params.id;
        if (typeof idOrName !== 'string') throw new Error(`${operation} has no {id} parameter`);
        // Servers are addressed by id or by name (where the routes accept one).
        const id = isUuid(idOrName)
          ? idOrName
          : (await db.mcpServer.findFirst({ where: { workspaceId, name: idOrName }, select: { id: true } }))?.id;
        if (!id || !allowed.has(id)) throw new NotFoundError('MCP server', idOrName);
        if (access === 'server_admin' && !c.scopes.includes('server_admin'))
          throw refusal(serverIds, `${operation} (it changes what the server exposes, or deletes it)`, true);
        return;
      }
      case 'refused':
        throw refusal(serverIds, operation, false);
    }
  };
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
          handler.handle = function accessChecked(req: Request, res: unknown, next: unknown) {
            declareAudit(req, audit);
            return Promise.resolve()
              .then(() => scope && requireScope(req, scope))
              .then(() => decide(access, req, operation))
              .then(() => refuseUnknownQuery(req, query))
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
