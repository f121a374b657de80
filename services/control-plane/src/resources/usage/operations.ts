import { json, problems } from '../../openapi/registry.ts';
import { get, operation, type Operation } from '../operation.ts';
import { QuotaParams } from '../quotas/schemas.ts';
import * as handlers from './handlers.ts';
import { QuotaUsage, Usage, UsageQueryDoc } from './openapi.ts';

/**
 * Usage for chargeback (ADR 0048): calls and cost units per day, server, tool, API key and person from the usage
 * rollup, and how much of each quota is left in its window from the counters the edges charge.
 */
export const usageOperations: Operation[] = [
  operation({
    route: {
      method: 'get',
      path: '/usage',
      'x-server-limited-keys': 'server_query',
      operationId: 'getUsage',
      tags: ['usage'],
      summary: 'Calls and cost units per day, server, tool, API key and person, for chargeback',
      description:
        'Read from the usage rollup the control plane writes as it stores execution records (by the records’ ' +
        '`started_at`, UTC days), never from the records themselves: the tool calls that reached the data plane, ' +
        'whether or not a quota applies (calls refused before, by a quota or a check, are not usage). A key limited ' +
        'to servers must pass one of them as `server_id` (403 otherwise). 422 lists every problem of the query.',
      responses: { 200: json('The usage.', Usage), ...problems(403) },
    },
    query: UsageQueryDoc,
    handler: handlers.getUsage,
  }),
  get('/quotas/{id}/usage', 'getQuotaUsage', {
    tags: ['quotas'],
    summary: 'How much of a quota is used and left in its current window',
    description:
      'Read from the counters the edges charge in Redis: one, or one per `per` value (API key, person, subject).',
    responses: { 200: json('The quota’s counters.', QuotaUsage), ...problems(403, 404) },
    params: QuotaParams,
    handler: handlers.getQuotaUsage,
  }),
];
