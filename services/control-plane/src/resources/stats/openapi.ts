import { z } from 'zod';
import { json, problems, type RouteDoc } from '../../openapi/registry.ts';
import { LATENCY_BOUNDS_MS } from './rollup.ts';
import { StatsQuery } from './schemas.ts';

const latency = (q: string) =>
  z
    .number()
    .nullable()
    .describe(
      `${q} latency (ms): the upper bound of the latency bucket holding that call, at most the slowest call; null without calls.`,
    );

const Figures = {
  calls: z.number().int(),
  errors: z.number().int().describe('Calls whose outcome is not `success`.'),
  error_rate: z.number().describe('errors / calls; 0 without calls.'),
  p50_ms: latency('Median'),
  p95_ms: latency('95th percentile'),
};

const ToolFigures = z
  .object({
    server_id: z.uuid(),
    tool: z.string(),
    calls: Figures.calls,
    errors: Figures.errors,
    error_rate: Figures.error_rate,
  })
  .strict()
  .meta({ id: 'ToolTraffic' });

const Stats = z
  .object({
    window: StatsQuery.shape.window.unwrap(),
    from: z.iso.datetime().describe('Start of the window (inclusive), a whole step.'),
    to: z.iso.datetime().describe('End of the window (exclusive): `to` (or now) rounded up to a whole step.'),
    step_seconds: z.number().int().describe('Length of each `series` step: 60 for `1h`, 600 for `24h`.'),
    totals: z.object(Figures).strict(),
    series: z
      .array(
        z
          .object({ start: z.iso.datetime(), ...Figures })
          .strict()
          .meta({ id: 'TrafficStep' }),
      )
      .describe('Every step of the window, oldest first (steps without calls included, with zeros).'),
    busiest_tools: z.array(ToolFigures).describe('Tools by calls, most first (ties by server id, then name).'),
    most_errors: z.array(ToolFigures).describe('Tools with errors, by errors, most first.'),
  })
  .strict()
  .meta({ id: 'TrafficStats' });

const dateParam = {
  type: 'string' as const,
  format: 'date-time',
  description:
    'End of the window (default now), rounded up to a whole step (a minute; 10 minutes for `24h`): a fixed window for reports and tests.',
};
const StatsQueryDoc = StatsQuery.extend({
  window: StatsQuery.shape.window.meta({
    description: 'The last hour (`1h`, per minute) or day (`24h`, per 10 minutes).',
  }),
  server_id: StatsQuery.shape.server_id.meta({ description: 'One server’s traffic.' }),
  tool: StatsQuery.shape.tool.meta({
    description: 'One tool’s traffic (by name, on every server unless `server_id`).',
  }),
  to: StatsQuery.shape.to.meta(dateParam),
  top: StatsQuery.shape.top.meta({ description: 'Length of `busiest_tools` and `most_errors`.' }),
});

/** `GET /stats`, for the OpenAPI document (services/control-plane/src/openapi/document.ts). */
export const statsRoutes: RouteDoc[] = [
  {
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
    request: { query: StatsQueryDoc },
    responses: { 200: json('The figures.', Stats), ...problems(403) },
  },
];
