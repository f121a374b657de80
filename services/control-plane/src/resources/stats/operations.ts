import { json, problems } from '../../openapi/registry.ts';
import { operation, type Operation } from '../operation.ts';
import * as handlers from './handlers.ts';
import { Stats, StatsQueryDoc } from './openapi.ts';
import { LATENCY_BOUNDS_MS } from './rollup.ts';

/** `GET /stats`: the workspace's traffic (or one server's, or one tool's) over the last hour or day (ADR 0025). */
export const statsOperations: Operation[] = [
  operation({
    route: {
      method: 'get',
      path: '/stats',
      'x-server-limited-keys': 'server_query',
      operationId: 'getTrafficStats',
      tags: ['stats'],
      summary: 'Traffic over the last hour or day: calls, errors, p50/p95 latency, busiest tools',
      description:
        'Read from the per-minute rollup the control plane writes as it stores execution records (by the records’ ' +
        '`started_at`), never from the records themselves. Latency percentiles come from a fixed histogram; bucket ' +
        `bounds (ms): ${LATENCY_BOUNDS_MS.join(', ')}. A key limited to servers must pass one of them as \`server_id\` ` +
        '(403 otherwise).',
      responses: { 200: json('The figures.', Stats), ...problems(403) },
    },
    query: StatsQueryDoc,
    handler: handlers.getTrafficStats,
  }),
];
