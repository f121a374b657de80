import { HttpUrl, isTimeZone, QuotaMatch, quotaCounts, quotaPer, quotaWindows } from '@toolplane/contracts';
import { z } from 'zod';

const quotaFields = {
  name: z.string().min(1).max(200),
  description: z.string().max(1000).nullable().optional(),
  match: QuotaMatch.describe(
    'The calls the quota counts: every given field must hold (API key ids, external users by name, OAuth ' +
      'subjects, token claims, server ids, tool names or patterns with `*`); `{}` matches every call of the workspace.',
  ),
  counts: z.enum(quotaCounts).describe('`calls`, `cost` (each tool’s declared cost units, default 1) or `in_flight`.'),
  limit: z.number().int().min(0).max(1_000_000_000),
  window: z
    .enum(quotaWindows)
    .nullable()
    .optional()
    .describe('The calendar window of `calls` and `cost` (required for them, none for `in_flight`).'),
  timeZone: z.string().max(100).nullable().optional().describe('The IANA time zone of the window (default UTC).'),
  per: z
    .enum(quotaPer)
    .nullable()
    .optional()
    .describe('One counter per API key, person or OAuth subject; absent: one counter for all matched calls.'),
  enforce: z.boolean().optional().describe('false: shadow mode, refuses nothing and records what it would refuse.'),
  alertWebhookUrl: HttpUrl.max(2000)
    .nullable()
    .optional()
    .describe(
      'An http(s) URL each `quota.alert` (80 and 100 % of the limit, once per window) is POSTed to as JSON, by a ' +
        'worker through its outbound guard; null: none.',
    ),
};

type Fields = { counts?: string | undefined; window?: string | null | undefined; timeZone?: string | null | undefined };

/** What is wrong with a quota's window for what it counts (a create checks it here, a change as it will be). */
export function windowProblem(counts: string, window: string | null | undefined): string | undefined {
  if (counts === 'in_flight') return window ? 'calls in flight have no window' : undefined;
  return window ? undefined : `a ${counts} quota needs a window (${quotaWindows.join(', ')})`;
}

/** The rules between fields, each a problem at its own path (all of them listed). */
function checkFields(q: Fields, ctx: z.RefinementCtx): void {
  const wrong = q.counts === undefined ? undefined : windowProblem(q.counts, q.window);
  if (wrong) ctx.addIssue({ code: 'custom', path: ['window'], message: wrong });
  if (q.timeZone && !isTimeZone(q.timeZone))
    ctx.addIssue({ code: 'custom', path: ['timeZone'], message: `unknown time zone "${q.timeZone}" (an IANA name)` });
}

export const CreateQuotaBody = z.strictObject(quotaFields).superRefine(checkFields);
export type CreateQuotaBody = z.output<typeof CreateQuotaBody>;

/** A change: the fields given replace the quota's (`counts` and `window` are checked together with the stored ones). */
export const UpdateQuotaBody = z
  .strictObject(
    Object.fromEntries(Object.entries(quotaFields).map(([k, v]) => [k, v.optional()])) as {
      [K in keyof typeof quotaFields]: z.ZodOptional<(typeof quotaFields)[K]>;
    },
  )
  .superRefine((q, ctx) => {
    if (q.timeZone && !isTimeZone(q.timeZone))
      ctx.addIssue({ code: 'custom', path: ['timeZone'], message: `unknown time zone "${q.timeZone}" (an IANA name)` });
  });
export type UpdateQuotaBody = z.output<typeof UpdateQuotaBody>;

export const QuotaParams = z.object({ id: z.string().describe('The quota’s id.') });
