import { json, jsonPage, pathParams, problems } from '../../openapi/registry.ts';
import { operation, type Operation } from '../operation.ts';
import * as handlers from './handlers.ts';
import { ExecutionRecord, ExecutionRecordSummary, ListExecutionRecordsQuery } from './openapi.ts';

const tags = ['execution records'];

/**
 * Execution records, one per tool call (read-only here: workers write them through a Redis stream, store.ts stores
 * them; retention.ts deletes the old ones).
 */
export const executionRecordsOperations: Operation[] = [
  operation({
    route: {
      method: 'get',
      path: '/execution_records',
      'x-server-limited-keys': 'server_query',
      operationId: 'listExecutionRecords',
      tags,
      summary: 'List execution records, newest first',
      description:
        'Filters: `server_id`, `tool`, the caller (`key_id`, `subject`, `username`), `outcome`, `guardrail_action` ' +
        '(a finding of that action; `would_*`: of a log-only guardrail), `parent_invocation_id` (the calls a ' +
        '`run_code` program made), `from` (inclusive) ' +
        'and `to` (exclusive) on `started_at`. ' +
        'Pages of `limit` records (1 to 200, default 50): pass the previous page’s `next_cursor` as `cursor` for the ' +
        'next. A key limited to servers must pass one of them as `server_id` (403 otherwise).',
      responses: {
        200: jsonPage('One page of records.', ExecutionRecordSummary),
        ...problems(403, 422),
      },
    },
    query: ListExecutionRecordsQuery,
    handler: handlers.listExecutionRecords,
  }),
  operation({
    route: {
      method: 'get',
      path: '/execution_records/{id}',
      'x-server-limited-keys': 'filtered',
      operationId: 'getExecutionRecord',
      tags,
      summary: 'Get an execution record with its steps',
      responses: { 200: json('The record.', ExecutionRecord), ...problems(403, 404) },
    },
    params: pathParams('id'),
    handler: handlers.getExecutionRecord,
  }),
];
