import { quotaCounts, quotaPer } from '@toolplane/contracts';
import { z } from 'zod';
import { QUOTA_COUNTERS_MAX } from './counters.ts';
import { USAGE_ROWS_MAX } from './report.ts';
import { UsageQuery, usageDimensions } from './schemas.ts';

const Figures = {
  calls: z.number().int().describe('Tool calls that reached the data plane (refused ones are not usage).'),
  costUnits: z.number().describe('The cost units those calls were charged (each tool’s declared cost, default 1).'),
};

const UsageRow = z
  .strictObject({
    day: z.iso.date().optional().describe('The UTC day (grouped by `day`).'),
    serverId: z.uuid().optional(),
    serverName: z.string().nullable().optional().describe('Null for a server deleted since.'),
    tool: z.string().optional(),
    apiKeyId: z.string().nullable().optional().describe('Null: calls made without an API key (OAuth, public).'),
    apiKeyName: z.string().nullable().optional().describe('Null without a key, or for a key deleted since.'),
    person: z.string().nullable().optional().describe('The external user the calls acted as; null: none.'),
    ...Figures,
  })
  .meta({ id: 'UsageRow' });

/** `GET /usage`'s answer (report.ts). */
export const Usage = z
  .strictObject({
    from: z.iso.date().describe('The first day (UTC) summed.'),
    to: z.iso.date().describe('The last day (UTC) summed, included.'),
    groupBy: z.array(z.enum(usageDimensions)),
    rows: z
      .array(UsageRow)
      .describe(
        'One row per group, with the grouped fields only (`server`: its id and name; `api_key`: its id and name), ' +
          `ordered by them; at most ${USAGE_ROWS_MAX}.`,
      ),
    totals: z.strictObject(Figures).describe('The whole range under the filters (also when rows are cut).'),
    truncated: z.boolean().describe(`More than ${USAGE_ROWS_MAX} groups: narrow the range, filters or groups.`),
  })
  .meta({ id: 'Usage' });

/** `UsageQuery` with each parameter described: what `GET /usage` parses and documents. */
export const UsageQueryDoc = UsageQuery.extend({
  from: UsageQuery.shape.from.meta({
    description: 'The first day (UTC, `YYYY-MM-DD`), included; default 29 days before `to`.',
  }),
  to: UsageQuery.shape.to.meta({ description: 'The last day (UTC, `YYYY-MM-DD`), included; default today.' }),
  group_by: UsageQuery.shape.group_by.meta({
    description: `Comma-separated, any of \`${usageDimensions.join(',')}\` (the default: all).`,
  }),
  server_id: UsageQuery.shape.server_id.meta({ description: 'One server’s usage.' }),
  tool: UsageQuery.shape.tool.meta({ description: 'One tool’s usage (by name, on every server unless `server_id`).' }),
  api_key: UsageQuery.shape.api_key.meta({ description: 'One API key’s usage (its id).' }),
  person: UsageQuery.shape.person.meta({ description: 'One external user’s usage (by name).' }),
});

/** `GET /quotas/{id}/usage`'s answer (counters.ts). */
export const QuotaUsage = z
  .strictObject({
    quotaId: z.uuid(),
    counts: z.enum(quotaCounts),
    limit: z.number().int(),
    per: z.enum(quotaPer).nullable(),
    window: z
      .strictObject({
        id: z.string().describe('The window’s id in the quota’s time zone (`2026-11-27`, `2026-11-27T10`…).'),
        resetsAt: z.iso.datetime().describe('When it ends and the counters start again.'),
      })
      .nullable()
      .describe('The current window; null for calls in flight (room comes back as calls end).'),
    counters: z
      .array(
        z
          .strictObject({
            value: z
              .string()
              .nullable()
              .optional()
              .describe('`per` quotas: the API key id, person or subject; null for callers without one.'),
            used: z.number().describe('Calls, cost units or calls in flight counted so far.'),
            left: z.number().describe('`limit − used`, at least 0.'),
          })
          .meta({ id: 'QuotaCounter' }),
      )
      .describe(
        'One counter, or one per `per` value that used the window (most used first; one the edges have not ' +
          `charged yet is absent: all of its limit is left); at most ${QUOTA_COUNTERS_MAX}.`,
      ),
    truncated: z.boolean().describe(`More than ${QUOTA_COUNTERS_MAX} counters: the ones listed are some of them.`),
  })
  .meta({ id: 'QuotaUsage' });
