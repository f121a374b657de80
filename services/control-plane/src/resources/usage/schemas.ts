import { z } from 'zod';

/** What `GET /usage` can group by: the rollup's columns (`server` and `api_key` also name theirs). */
export const usageDimensions = ['day', 'server', 'tool', 'api_key', 'person'] as const;
export type UsageDimension = (typeof usageDimensions)[number];

/** A UTC day, `2026-11-27`, in the years 0001 to 9999 (no 30 February). */
const QueryDay = z.string().refine(
  (text) => {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
    if (!m || m[1] === '0000') return false;
    const date = new Date(0);
    date.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
    return date.getUTCMonth() === Number(m[2]) - 1 && date.getUTCDate() === Number(m[3]);
  },
  { message: 'must be a day, YYYY-MM-DD (2026-11-27), in the years 0001 to 9999' },
);

/** `day,server`: each name once, in the order given; unknown names are problems. */
const GroupBy = z.string().transform((text, ctx) => {
  const names = text.split(',').map((n) => n.trim());
  const unknown = names.filter((n) => !(usageDimensions as readonly string[]).includes(n));
  if (unknown.length > 0) {
    ctx.addIssue({
      code: 'custom',
      message: `unknown: ${unknown.map((n) => JSON.stringify(n)).join(', ')}; any of ${usageDimensions.join(', ')}`,
    });
    return z.NEVER;
  }
  return [...new Set(names)] as UsageDimension[];
});

export const UsageQuery = z.object({
  from: QueryDay.optional(),
  to: QueryDay.optional(),
  group_by: GroupBy.optional(),
  server_id: z.string().uuid().optional(),
  tool: z.string().min(1).optional(),
  api_key: z.string().min(1).optional(),
  person: z.string().min(1).optional(),
});
export type UsageQuery = z.output<typeof UsageQuery>;
