/**
 * The management API's OpenAPI 3.1 description, built from the zod schemas that validate requests
 * (ADR 0018). Each module declares its routes (`modules/<name>.openapi.ts`, a `RouteDoc[]`) next to
 * its router; `document.ts` collects them. Paths are written as OpenAPI paths (`/api_keys/{id}`),
 * relative to `/api/v1`. Components are named with zod's own metadata, `.meta({ id: 'Name' })` (which
 * zod-to-openapi reads), not its `.openapi()` extension: zod 4 gives an extension's methods only to schemas
 * built after it ran, and the modules' schemas are built first.
 */
import type { RouteConfig, ResponseConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

/**
 * What a key limited to servers (`serverIds`) may do with one operation, declared on the operation as
 * `x-server-limited-keys` (docs/openapi.json) and enforced on the operation that matched (http/access.ts):
 * - `refused` (the default): a workspace-wide operation; such a key gets a 403;
 * - `own_server`: the operation's `{id}` (an id, or a name where the route takes one) must be one of the key's
 *   servers, else a 404 as for a server of another workspace;
 * - `server_admin`: the same, and the key needs the `server_admin` scope (403): the operation changes what the
 *   server exposes, or deletes it;
 * - `server_query`: the `server_id` query parameter must be one of the key's servers (403);
 * - `filtered`: the handler answers with the key's servers only.
 * Unrestricted keys and signed-in users are not concerned.
 */
export type ServerLimitedAccess = 'refused' | 'own_server' | 'server_admin' | 'server_query' | 'filtered';

/**
 * What an operation that changes something records in the audit trail (ADR 0037), declared on it as `x-audit`:
 * the event's action (`<resource>.<verb>`) and resource type. Every POST, PUT, PATCH and DELETE declares one, or
 * `false` when it changes nothing (a test, a preview): the control plane refuses to start otherwise.
 */
export interface AuditDeclaration {
  action: string;
  resource: string;
  /**
   * The operation takes `?dry_run=true`: it compiles the change and rolls it back. Only such an operation's request may
   * end without its event, and only when its handler said it rolled back (db/audited-db.ts `dryRunRolledBack`): the
   * query string alone never skips the trail.
   */
  dryRun?: true;
}

/** The `x-audit` of an operation whose event's resource is its action's first part: `audited('quota.create')`. */
export function audited(action: string): AuditDeclaration {
  return { action, resource: action.slice(0, action.indexOf('.')) };
}

/**
 * The scope an operation needs (`x-scope`): `management` (the default), `audit` (the audit trail, which a
 * management key does not imply), `approve` (the approval requests: an approver's key needs no more, and
 * `management` implies it) or `any` (any scope that opens the management API: a dashboard sign-in, so that an
 * approver or an auditor signs in to the pages their scope reaches).
 */
export type OperationScope = 'management' | 'audit' | 'approve' | 'any';

/** One documented route: zod-to-openapi's route config, path relative to `/api/v1`. */
export type RouteDoc = RouteConfig & {
  'x-server-limited-keys'?: ServerLimitedAccess;
  'x-audit'?: AuditDeclaration | false;
  'x-scope'?: OperationScope;
};

/** The problem+json body of every error (docs/api.md, "Errors"). */
export const Problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    code: z.string(),
    detail: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Problem' });

const problemDescriptions: Record<number, string> = {
  400: 'The request cannot be read (bad JSON, a bad `%` escape in the path, bad encoding): `request.invalid`.',
  401:
    'No credential, an unknown or revoked `x-api-key`, or an access token not accepted: `auth.missing_key`, ' +
    '`auth.invalid_key`, `auth.invalid_token`.',
  403:
    'The key or token lacks the scope, the signed-in person’s roles do not reach the operation, or the key is ' +
    'limited to other servers: `auth.forbidden`.',
  404: 'No such resource in the caller’s workspace: `resource.not_found`.',
  409: 'The resource already exists: `resource.conflict`.',
  413: 'The body is too large: `request.invalid`.',
  415: 'Unsupported content type, `Content-Encoding` or charset: `request.invalid`.',
  422: 'The request is invalid (body, document, or text PostgreSQL cannot store); `errors` lists every problem (`request.invalid`, `document.invalid`).',
  429: 'Too many requests; `Retry-After` says when to retry: `request.rate_limited`.',
  500: 'A bug; details are logged, not returned: `internal.unexpected`.',
  503: 'A dependency (the database, Redis) is unreachable; `Retry-After` says when to retry: `service.unavailable`.',
};

/**
 * Statuses every authenticated route can answer: 400 for a path with a bad `%` escape, 422 for path or query
 * text PostgreSQL cannot store (NUL).
 */
const common = [400, 401, 422, 429, 500, 503] as const;

/**
 * Error responses of a route: the given statuses plus the ones every route can answer.
 * `problems(404, 422)` for a route that looks something up and validates a body.
 */
export function problems(...statuses: number[]): Record<number, ResponseConfig> {
  const out: Record<number, ResponseConfig> = {};
  for (const status of [...new Set([...statuses, ...common])].sort((a, b) => a - b))
    out[status] = {
      description: problemDescriptions[status] ?? 'An error.',
      content: { 'application/problem+json': { schema: Problem } },
    };
  return out;
}

/** A JSON response. */
export function json(description: string, schema: z.ZodType): ResponseConfig {
  return { description, content: { 'application/json': { schema } } };
}

/** A JSON answer listing items: `{ data: [item, …] }` (a component of its own when given an `id`). */
export function jsonList(description: string, item: z.ZodType, id?: string): ResponseConfig {
  const list = z.strictObject({ data: z.array(item) });
  return json(description, id ? list.meta({ id }) : list);
}

/** A JSON answer with one page of items: `{ data: [item, …], next_cursor }` (the `cursor` of the next page, or null). */
export function jsonPage(description: string, item: z.ZodType): ResponseConfig {
  return json(
    description,
    z.strictObject({
      data: z.array(item),
      next_cursor: z.uuid().nullable().describe('The `cursor` of the next page; null on the last page.'),
    }),
  );
}

/** A JSON request body. */
export function jsonBody(schema: z.ZodType, description?: string) {
  return { required: true, ...(description ? { description } : {}), content: { 'application/json': { schema } } };
}

/** Path parameters: `pathParams('id')` → `{ id: string }`. */
export function pathParams<K extends string>(...names: K[]) {
  return z.object(Object.fromEntries(names.map((n) => [n, z.string()])) as Record<K, z.ZodString>);
}

/**
 * A query date's documentation (`QueryDate`, http/query-date.ts): a date-time string (zod-to-openapi would show the
 * parsed date as nullable; in a query string it is a date-time or a date).
 */
export const queryDateParam = (description: string) => ({ type: 'string' as const, format: 'date-time', description });

/** The 204 of a delete. */
export const noContent: ResponseConfig = { description: 'Done; no body.' };
