import type { z } from 'zod';
import {
  audited,
  json,
  jsonList,
  noContent,
  problems,
  type OperationScope,
  type RouteDoc,
} from '../openapi/registry.ts';
import type { ControlPlaneDeps } from './deps.ts';
import { operation, type Input, type Operation } from './operation.ts';

/**
 * The five operations of a resource kept as a workspace's rows by id (`POST /quotas`, `GET /quotas`,
 * `GET /quotas/{id}`, `PATCH /quotas/{id}`, `DELETE /quotas/{id}`), written the same way in every table that has them:
 * what such routes document alike (method, path, `operationId`, `x-audit` action, tags, the answer, the problems) is
 * said here once; each table still gives every entry its summary, description, body and handler, in its own order,
 * beside its other operations (docs/architecture.md "Adding an operation").
 */
export interface RowResource {
  /** The collection's path: `/quotas` (one row: `/quotas/{id}`). */
  path: string;
  tags: string[];
  /** The audit event's resource: `quota` (actions `quota.create`, `quota.update`, `quota.delete`). */
  audit: string;
  /** The `operationId`s' nouns: `Quota` (`createQuota`, `getQuota`, …) and `Quotas` (`listQuotas`). */
  one: string;
  many: string;
  /** What the answers call a row: `quota` (`The quota.`, `The quota as changed.`). */
  noun: string;
  /** The row as answered, and the path's `{id}`. */
  row: z.ZodType;
  params: z.ZodType<Record<string, string>>;
  /** The list answer's component id (`QuotaList`), when it has one. */
  listId?: string;
  /** The scope the reads need, when it is not `management` (audit exporters: `audit`). */
  readScope?: OperationScope;
}

type Handler<B> = (deps: ControlPlaneDeps, input: Input<B>) => unknown;

/** One entry as its table writes it. */
interface Entry<B = undefined> {
  summary: string;
  description?: string;
  handler: Handler<B>;
}

/** A write's entry: its body (and who checks it: the handler, where one 422 says more than the schema). */
interface WriteEntry<B> extends Entry<B> {
  body: z.ZodType<B>;
  checksBody?: 'handler';
}

type Route = Pick<RouteDoc, 'method' | 'path' | 'operationId' | 'responses'> & {
  verb?: string;
  scope?: OperationScope;
};

/** One entry of `r`'s table: its route as `r` documents it, with the entry's own words, and what it parses. */
function rowEntry<B>(
  r: RowResource,
  { verb, scope, responses, ...route }: Route,
  e: Entry<B> & Partial<WriteEntry<B>>,
) {
  return operation<B>({
    route: {
      ...route,
      ...(verb ? { 'x-audit': audited(`${r.audit}.${verb}`) } : {}),
      ...(scope ? { 'x-scope': scope } : {}),
      tags: r.tags,
      summary: e.summary,
      ...(e.description !== undefined ? { description: e.description } : {}),
      responses,
    },
    ...(route.path !== r.path ? { params: r.params } : {}),
    ...(e.body ? { body: e.body } : {}),
    ...(e.checksBody ? { checksBody: e.checksBody } : {}),
    handler: e.handler,
  });
}

/** The operations of `r`'s rows (`rowOperations(r).get({ summary, handler })` is the entry of `GET <path>/{id}`). */
export function rowOperations(r: RowResource) {
  const one = `${r.path}/{id}`;
  const row = (description: string) => json(description, r.row);
  return {
    /** `POST <path>`: 201 with the row (`answer`: another answer); 409 for a name already used, unless `problems`. */
    create: <B>(e: WriteEntry<B> & { answer?: [string, z.ZodType]; problems?: number[] }): Operation => {
      const answer = e.answer ? json(...e.answer) : row(`The ${r.noun}.`);
      const refusals = problems(...(e.problems ?? [400, 403, 409, 413, 415, 422]));
      const route = { method: 'post', path: r.path, operationId: `create${r.one}`, verb: 'create' } as const;
      return rowEntry(r, { ...route, responses: { 201: answer, ...refusals } }, e);
    },
    /** `GET <path>`: `{ data }`, described as `answer` (their order). */
    list: (e: Entry & { answer: string }): Operation => {
      const route = { method: 'get', path: r.path, operationId: `list${r.many}`, scope: r.readScope } as const;
      return rowEntry(r, { ...route, responses: { 200: jsonList(e.answer, r.row, r.listId), ...problems(403) } }, e);
    },
    /** `GET <path>/{id}`: the row, or 404. */
    get: (e: Entry): Operation => {
      const route = { method: 'get', path: one, operationId: `get${r.one}`, scope: r.readScope } as const;
      return rowEntry(r, { ...route, responses: { 200: row(`The ${r.noun}.`), ...problems(403, 404) } }, e);
    },
    /** `PATCH <path>/{id}`: the row as changed. */
    update: <B>(e: WriteEntry<B>): Operation => {
      const route = { method: 'patch', path: one, operationId: `update${r.one}`, verb: 'update' } as const;
      const refusals = problems(400, 403, 404, 409, 413, 415, 422);
      return rowEntry(r, { ...route, responses: { 200: row(`The ${r.noun} as changed.`), ...refusals } }, e);
    },
    /** `DELETE <path>/{id}`: 204 (`as`: another operationId and action, `revokeApiKey` / `revoke`). */
    delete: (e: Entry & { as?: [operationId: string, verb: string]; problems?: number[] }): Operation => {
      const [operationId, verb] = e.as ?? [`delete${r.one}`, 'delete'];
      const refusals = problems(...(e.problems ?? [403, 404]));
      return rowEntry(
        r,
        { method: 'delete', path: one, operationId, verb, responses: { 204: noContent, ...refusals } },
        e,
      );
    },
  };
}
