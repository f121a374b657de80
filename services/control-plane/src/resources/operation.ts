import { exceedsJsonDepth, MAX_JSON_DEPTH, type AuditSource } from '@toolplane/contracts';
import { toAppError, toProblem, ValidationError, type Problem } from '@toolplane/errors';
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import { z } from 'zod';
import { refuseUnknownQuery, requireScope, restrictToServers } from '../http/access.ts';
import { requireRole } from '../http/roles.ts';
import { answered, auditSourceOf, declareAudit, stepAuditScope } from '../http/audit.ts';
import { caller, type Caller } from '../http/auth.ts';
import { requestIssues } from '../http/error-handler.ts';
import { auditScopes } from '../db/audited-db.ts';
import { jsonBody, type AuditDeclaration, type RouteDoc } from '../openapi/registry.ts';
import type { ControlPlaneDeps } from './deps.ts';

/**
 * The management API as tables (docs/architecture.md, "Adding an operation"): each resource declares its operations
 * once, in `resources/<name>/operations.ts`, each with its OpenAPI description (`route`: path, schemas, `x-audit`,
 * `x-scope`, `x-server-limited-keys`) and its handler `(deps, input) → result`. `mountOperations` serves every table
 * over HTTP and `invokeOperation` runs an operation in-process (workspace apply): both admit the call the same way
 * (scope, keys limited to servers, unknown query parameters), parse the same schemas and record the same audit event.
 */

/**
 * What a handler is given: the caller, the audit source of the request it runs for (what the operations it runs
 * in-process record), and the request's path, query and body parsed by the operation's schemas.
 */
export interface Input<B = undefined, Q = Record<string, unknown>, P = Record<string, string>> {
  caller: Caller;
  source: AuditSource;
  /** The origin the request reached the control plane at (`<protocol>://<host>`); unset for an operation run in-process. */
  origin?: string;
  params: P;
  query: Q;
  body: B;
  /** Aborted when the client goes away before the answer (HTTP only): a long read may stop (the backtest does). */
  signal?: AbortSignal;
}

/** An answer other than the documented success status with the handler's value as JSON (a 201 beside a 200). */
export class Reply {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Readonly<Record<string, string>>;
  constructor(status: number, body?: unknown, headers: Record<string, string> = {}) {
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

/**
 * How the body is read: JSON up to `MAX_BODY_BYTES` (the default), JSON up to `MAX_DOCUMENT_BYTES` (workspace files),
 * a document's text up to `MAX_DOCUMENT_BYTES` (connectors), or not at all.
 */
type BodyReading = 'json' | 'document-json' | 'document-text' | 'none';

type Handler<B, Q, P> = (deps: ControlPlaneDeps, input: Input<B, Q, P>) => Promise<unknown> | unknown;

/** A handler that answers itself: an event stream, or a page that redirects. Only these see the request. */
type RawHandler<Q, P> = (
  deps: ControlPlaneDeps,
  input: Input<undefined, Q, P>,
  req: Request,
  res: Response,
) => Promise<void> | void;

interface Declared<B, Q, P> {
  route: RouteDoc;
  /** The body's schema: documented as the route's JSON body (or identical to the one it documents). */
  body?: z.ZodType<B>;
  query?: z.ZodType<Q>;
  params?: z.ZodType<P>;
  reads?: BodyReading;
  /** The body may be a large import: it takes one of the bounded slots (http/limits.ts). */
  largeImport?: boolean | 'always';
  /**
   * `handler`: the body is documented by `body` but checked by the handler itself, where one answer must hold more
   * than the schema's problems (an access policy's unknown keys beside its field problems, in one 422) or another
   * documented shape (a deployment's Bump-compatible 422). The handler gets the body as read.
   */
  checksBody?: 'handler';
  /** A refusal decided before the input is parsed (a limited key's change of what its server exposes: 403, not 422). */
  before?: (raw: { caller: Caller; params: Record<string, unknown>; body: unknown }) => void;
}

/** One operation of the table, as `mountOperations` and `invokeOperation` read it. */
export interface Operation {
  readonly route: RouteDoc;
  readonly schemas: { body?: z.ZodType; query?: z.ZodType; params?: z.ZodType };
  readonly reads: BodyReading;
  readonly largeImport: boolean | 'always';
  /** The documented success status (the lowest 2xx of `responses`): what a handler's plain value is answered with. */
  readonly status: number;
  /** `stream` or `redirect`: the handler answers itself (`raw`). */
  readonly answers: 'json' | 'stream' | 'redirect';
  readonly handler: Handler<unknown, unknown, unknown> | undefined;
  readonly raw: RawHandler<unknown, unknown> | undefined;
  readonly before: Declared<unknown, unknown, unknown>['before'];
}

const changing = new Set(['post', 'put', 'patch', 'delete']);

function same(kind: string, route: RouteDoc, documented: unknown, given: unknown): void {
  if (documented !== undefined && given !== undefined && documented !== given)
    throw new Error(`${route.operationId}: its ${kind} schema differs from the one its route documents`);
}

/** The route with the schemas the operation parses, documented where the route did not say them itself. */
function documented(d: Declared<unknown, unknown, unknown>): { route: RouteDoc; schemas: Operation['schemas'] } {
  const request = { ...(d.route.request ?? {}) } as NonNullable<RouteDoc['request']>;
  const documentedBody = (request.body?.content['application/json'] as { schema?: z.ZodType } | undefined)?.schema;
  same('body', d.route, documentedBody, d.body);
  same('query', d.route, request.query, d.query);
  same('params', d.route, request.params, d.params);
  if (d.body && !documentedBody) request.body = jsonBody(d.body);
  if (d.query) request.query = d.query as NonNullable<typeof request.query>;
  if (d.params) request.params = d.params as NonNullable<typeof request.params>;
  const route = Object.keys(request).length > 0 ? { ...d.route, request } : d.route;
  const body = d.checksBody === 'handler' || d.reads === 'document-text' ? undefined : (d.body ?? documentedBody);
  const query = d.query ?? (request.query as z.ZodType | undefined);
  const params = d.params ?? (request.params as z.ZodType | undefined);
  return { route, schemas: { ...(body ? { body } : {}), ...(query ? { query } : {}), ...(params ? { params } : {}) } };
}

function successStatus(route: RouteDoc): number {
  const codes = Object.keys(route.responses)
    .map(Number)
    .filter((n) => n >= 200 && n < 300);
  return codes.length > 0 ? Math.min(...codes) : 200;
}

function checked(route: RouteDoc): void {
  if (route['x-audit'] === undefined && changing.has(route.method))
    throw new Error(`${route.method.toUpperCase()} ${route.path} declares no x-audit (an action, or false)`);
  if (!route.operationId) throw new Error(`${route.method.toUpperCase()} ${route.path} has no operationId`);
}

/** The parts every entry has, from its declaration. */
function declared(d: Declared<unknown, unknown, unknown>, defaultReads: BodyReading) {
  checked(d.route);
  const { route, schemas } = documented(d);
  return {
    route,
    schemas,
    reads: d.reads ?? defaultReads,
    largeImport: d.largeImport ?? false,
    status: successStatus(route),
    before: d.before,
  };
}

/** An operation answered with its handler's value, as JSON (or a `Reply`). */
export function operation<B = undefined, Q = Record<string, unknown>, P = Record<string, string>>(
  d: Declared<B, Q, P> & { handler: Handler<B, Q, P> },
): Operation {
  return {
    ...declared(d as Declared<unknown, unknown, unknown>, changing.has(d.route.method) ? 'json' : 'none'),
    answers: 'json',
    handler: d.handler as Handler<unknown, unknown, unknown>,
    raw: undefined,
  };
}

/** What a compact declaration says after its path and operationId: the rest of the route, then what it parses. */
type Compact<B, Q, P> = Omit<RouteDoc, 'method' | 'path' | 'operationId'> &
  Omit<Declared<B, Q, P>, 'route'> & { handler: Handler<B, Q, P> };

function declaredWith(method: RouteDoc['method']) {
  return <B = undefined, Q = Record<string, unknown>, P = Record<string, string>>(
    path: string,
    operationId: string,
    d: Compact<B, Q, P>,
  ): Operation => {
    const { body, query, params, reads, largeImport, checksBody, before, handler, ...route } = d;
    const parses = { body, query, params, reads, largeImport, checksBody, before };
    const given = Object.fromEntries(Object.entries(parses).filter(([, v]) => v !== undefined));
    return operation<B, Q, P>({ route: { method, path, operationId, ...route }, ...given, handler });
  };
}

/**
 * An operation declared in one object, its method, path and operationId first:
 * `get('/quotas/{id}', 'getQuota', { tags, summary, responses, params, handler })` is
 * `operation({ route: { method: 'get', path: '/quotas/{id}', operationId: 'getQuota', tags, summary, responses },
 * params, handler })`: the route's other fields in the order written (the order docs/openapi.json shows them in).
 */
export const get = declaredWith('get');
export const post = declaredWith('post');
export const put = declaredWith('put');
export const patch = declaredWith('patch');
/** `DELETE` (`delete` is a reserved word). */
export const del = declaredWith('delete');

/** An operation whose handler answers itself: an event stream or an export (`stream`), a redirect (`redirect`). */
export function rawOperation<Q = Record<string, unknown>, P = Record<string, string>>(
  d: Omit<Declared<undefined, Q, P>, 'body'> & { answers: 'stream' | 'redirect'; handler: RawHandler<Q, P> },
): Operation {
  return {
    ...declared(d as Declared<unknown, unknown, unknown>, 'none'),
    answers: d.answers,
    handler: undefined,
    raw: d.handler as RawHandler<unknown, unknown>,
  };
}

/** What the operation is called in refusals: `POST /mcp_manager/{id}`. */
const nameOf = (op: Operation) => `${op.route.method.toUpperCase()} ${op.route.path}`;

/** The query parameters an operation documents (a write refuses any other). */
const queryNames = (op: Operation) => Object.keys((op.schemas.query as { shape?: object } | undefined)?.shape ?? {});

/**
 * Admits a call of `op` and parses its input: the caller's scope, a person's roles, what a key limited to servers may do, no unknown
 * query parameter on a write, then the path, query and body by the operation's schemas (a 422 listing every problem).
 */
async function admitted(
  deps: ControlPlaneDeps,
  op: Operation,
  { caller: c, source, origin }: { caller: Caller; source: AuditSource; origin?: string },
  raw: { params: Record<string, unknown>; query: object; body: unknown },
): Promise<Input<unknown, unknown, unknown>> {
  requireScope(c, op.route['x-scope'] ?? 'management');
  requireRole(c.roles, op.route);
  const access = op.route['x-server-limited-keys'] ?? 'refused';
  await restrictToServers(deps.db, c, { access, operation: nameOf(op), params: raw.params, query: raw.query });
  refuseUnknownQuery(op.route.method, raw.query, queryNames(op));
  op.before?.({ caller: c, params: raw.params, body: raw.body });
  const { body, query, params } = op.schemas;
  if (op.reads !== 'none' && op.reads !== 'document-text' && exceedsJsonDepth(raw.body, MAX_JSON_DEPTH))
    throw new ValidationError(
      'the request body nests too deeply',
      [{ path: '', message: `objects and arrays may nest at most ${MAX_JSON_DEPTH} levels` }],
      'request.invalid',
      422,
    );
  return {
    caller: c,
    source,
    ...(origin !== undefined ? { origin } : {}),
    params: params ? params.parse(raw.params) : raw.params,
    query: query ? query.parse(raw.query) : raw.query,
    body: body ? body.parse(raw.body ?? {}) : raw.body,
  };
}

/** Express's path for an OpenAPI path: `/mcp_manager/{id}` → `/mcp_manager/:id`. */
const expressPath = (path: string) => path.replace(/\{([A-Za-z0-9_]+)\}/g, ':$1');

/**
 * The order routes are tried in: at the first segment where two paths differ, a literal before a parameter
 * (`/connectors/curated` before `/connectors/{id}`); otherwise the table's order.
 */
function bySpecificity(ops: readonly Operation[]): Operation[] {
  const segments = (op: Operation) => op.route.path.split('/');
  return ops
    .map((op, i) => ({ op, i }))
    .sort((a, b) => {
      const [x, y] = [segments(a.op), segments(b.op)];
      for (let k = 0; k < Math.min(x.length, y.length); k++) {
        if (x[k] === y[k]) continue;
        const [px, py] = [x[k]!.startsWith('{'), y[k]!.startsWith('{')];
        if (px !== py) return px ? 1 : -1;
        break;
      }
      return a.i - b.i;
    })
    .map(({ op }) => op);
}

function bodyReaders(deps: ControlPlaneDeps, op: Operation): RequestHandler[] {
  const large = op.largeImport === 'always' ? [deps.largeImports.always] : op.largeImport ? [deps.largeImports] : [];
  switch (op.reads) {
    case 'json':
      return [...large, express.json({ limit: deps.env.MAX_BODY_BYTES })];
    case 'document-json':
      return [...large, express.json({ limit: deps.env.MAX_DOCUMENT_BYTES })];
    case 'document-text':
      return [...large, express.text({ type: () => true, limit: deps.env.MAX_DOCUMENT_BYTES })];
    case 'none':
      return large;
  }
}

function send(req: Request, res: Response, op: Operation, result: unknown): void {
  const reply = result instanceof Reply ? result : new Reply(op.status, result);
  answered(req, reply.body);
  for (const [name, value] of Object.entries(reply.headers)) res.setHeader(name, value);
  if (reply.body === undefined) res.status(reply.status).end();
  else res.status(reply.status).json(reply.body);
}

/** The route handler of `op`: declares its audit action, admits the call, runs the handler, answers. */
function served(deps: ControlPlaneDeps, op: Operation): RequestHandler {
  const declaration = op.route['x-audit'] || undefined;
  return async (req, res) => {
    declareAudit(req, declaration);
    const by = {
      caller: caller(req),
      source: auditSourceOf(req),
      origin: `${req.protocol}://${req.get('host') ?? ''}`,
    };
    const input = await admitted(deps, op, by, { params: req.params, query: req.query ?? {}, body: req.body });
    if (op.raw) return op.raw(deps, input as Input<undefined, unknown, unknown>, req, res);
    const gone = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) gone.abort();
    });
    send(req, res, op, await op.handler!(deps, { ...input, signal: gone.signal }));
  };
}

/** Every operation of `tables` on `router`, each at its path (case-sensitive and strict: the router's settings). */
export function mountOperations(router: Router, deps: ControlPlaneDeps, tables: readonly Operation[]): void {
  const seen = new Set<string>();
  for (const op of bySpecificity(tables)) {
    const key = `${op.route.method} ${op.route.path}`;
    if (seen.has(key)) throw new Error(`${key} is in the operation tables twice`);
    seen.add(key);
    const method = op.route.method as 'get' | 'post' | 'put' | 'patch' | 'delete';
    router[method](expressPath(op.route.path), ...bodyReaders(deps, op), served(deps, op));
  }
}

export type OperationResult = { ok: true; status: number; body: unknown } | { ok: false; problem: Problem };

/** An error as the API would answer it (problem+json): validation problems with their paths. */
function problemOf(err: unknown): Problem {
  if (err instanceof z.ZodError)
    return toProblem(new ValidationError('the request is invalid', requestIssues(err), 'request.invalid', 422));
  return toProblem(toAppError(err));
}

/**
 * Runs `op` in-process for `call.caller`, as the API would (the same admission, schemas and handler), under an audit
 * scope of its own: its event is the operation's `x-audit`, with the running request's source and `details.via`. A
 * refused or failed operation changes nothing (each handler's rule) and comes back as its problem.
 */
export async function invokeOperation(
  deps: ControlPlaneDeps,
  op: Operation,
  call: {
    caller: Caller;
    source: AuditSource;
    via: string;
    resourceId: string | null;
    params?: Record<string, string>;
    query?: Record<string, string>;
    body?: unknown;
  },
): Promise<OperationResult> {
  const { handler, route } = op;
  const declaration = route['x-audit'];
  if (!declaration || !handler) throw new Error(`operation ${route.operationId} cannot run in-process`);
  const scope = stepAuditScope(call.caller, call.source, {
    declaration: declaration as AuditDeclaration,
    resourceId: call.resourceId,
    via: call.via,
  });
  let result: unknown;
  try {
    result = await auditScopes.run(scope, async () => {
      const input = await admitted(deps, op, call, {
        params: call.params ?? {},
        query: call.query ?? {},
        body: call.body,
      });
      return handler(deps, input);
    });
  } catch (err) {
    scope.open = false;
    const problem = problemOf(err);
    if (problem.status >= 500) deps.log.error({ err, operation: op.route.operationId }, 'in-process operation failed');
    return { ok: false, problem };
  }
  await scope.close(deps.trail);
  const reply = result instanceof Reply ? result : new Reply(op.status, result);
  return { ok: true, status: reply.status, body: reply.body };
}

/** An operation of a table by its id (in-process callers name what they run). */
export function operationOf(table: readonly Operation[], operationId: string): Operation {
  const op = table.find((o) => o.route.operationId === operationId);
  if (!op) throw new Error(`no operation ${operationId}`);
  return op;
}
