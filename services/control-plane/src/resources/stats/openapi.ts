import { z } from 'zod';
import { queryDateParam } from '../../openapi/registry.ts';
import { StatsQuery } from './schemas.ts';

const latency = (q: string) =>
  z
    .number()
    .nullable()
    .describe(
      `${q} latency (ms): the upper bound of the latency bucket holding that call, at most the slowest call; null without calls.`,
    );

const Figures = {
  calls: z
    .number()
    .int()
    .describe('Calls sent on (every outcome but `rejected`): the calls `errors`, `p50_ms` and `p95_ms` are about.'),
  errors: z.number().int().describe('Calls sent whose outcome is not `success`.'),
  error_rate: z.number().describe('errors / calls; 0 without calls.'),
  refused: z
    .number()
    .int()
    .describe(
      'Calls refused before anything was sent (outcome `rejected`: held for an approval, over a quota, unconfirmed, ' +
        'refused by a rule): neither calls nor errors, and in no latency.',
    ),
  p50_ms: latency('Median'),
  p95_ms: latency('95th percentile'),
};

const ToolFigures = z
  .strictObject({
    server_id: z.uuid(),
    tool: z.string(),
    calls: Figures.calls,
    errors: Figures.errors,
    error_rate: Figures.error_rate,
    refused: Figures.refused,
  })
  .meta({ id: 'ToolTraffic' });

/** `GET /stats`'s answer (`summarise` in traffic.ts). */
export const Stats = z
  .strictObject({
    window: StatsQuery.shape.window.unwrap(),
    from: z.iso.datetime().describe('Start of the window (inclusive), a whole step.'),
    to: z.iso.datetime().describe('End of the window (exclusive): `to` (or now) rounded up to a whole step.'),
    step_seconds: z.number().int().describe('Length of each `series` step: 60 for `1h`, 600 for `24h`.'),
    totals: z.strictObject(Figures),
    series: z
      .array(z.strictObject({ start: z.iso.datetime(), ...Figures }).meta({ id: 'TrafficStep' }))
      .describe('Every step of the window, oldest first (steps without calls included, with zeros).'),
    busiest_tools: z.array(ToolFigures).describe('Tools by calls, most first (ties by server id, then name).'),
    most_errors: z.array(ToolFigures).describe('Tools with errors, by errors, most first.'),
  })
  .meta({ id: 'TrafficStats' });

const windowEnd = queryDateParam(
  'End of the window (default now), rounded up to a whole step (a minute; 10 minutes for `24h`): a fixed window for reports and tests.',
);

/** `StatsQuery` with each parameter described: what `GET /stats` parses and documents. */
export const StatsQueryDoc = StatsQuery.extend({
  window: StatsQuery.shape.window.meta({
    description: 'The last hour (`1h`, per minute) or day (`24h`, per 10 minutes).',
  }),
  server_id: StatsQuery.shape.server_id.meta({ description: 'One server’s traffic.' }),
  tool: StatsQuery.shape.tool.meta({
    description: 'One tool’s traffic (by name, on every server unless `server_id`).',
  }),
  to: StatsQuery.shape.to.meta(windowEnd),
  top: StatsQuery.shape.top.meta({ description: 'Length of `busiest_tools` and `most_errors`.' }),
});
