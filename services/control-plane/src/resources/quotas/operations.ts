import { QuotaMatch, quotaCounts, quotaPer, quotaWindows } from '@toolplane/contracts';
import { z } from 'zod';
import type { Input, Operation } from '../operation.ts';
import { rowOperations } from '../row-operations.ts';
import * as handlers from './handlers.ts';
import { CreateQuotaBody, QuotaParams, UpdateQuotaBody } from './schemas.ts';
import { fourEyes } from '../change-requests/four-eyes.ts';

const Quota = z
  .strictObject({
    id: z.uuid(),
    name: z.string(),
    description: z.string().nullable(),
    match: QuotaMatch,
    counts: z.enum(quotaCounts),
    limit: z.number().int(),
    window: z.enum(quotaWindows).nullable(),
    timeZone: z.string().nullable(),
    per: z.enum(quotaPer).nullable(),
    enforce: z.boolean(),
    alertWebhookUrl: z.string().nullable(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .meta({ id: 'Quota' });

const rows = rowOperations({
  path: '/quotas',
  tags: ['quotas'],
  audit: 'quota',
  one: 'Quota',
  many: 'Quotas',
  noun: 'quota',
  row: Quota,
  params: QuotaParams,
  listId: 'QuotaList',
});

/**
 * Quotas and budgets (ADR 0048): how much the calls a quota matches may use, enforced on every edge before
 * the enqueue. Each change is published to the edges with the workspace's access policies.
 */
export const quotasOperations: Operation[] = fourEyes(
  'quota',
  [
    rows.create({
      summary: 'Create a quota',
      description:
        'Counts `calls`, `cost` units or calls `in_flight` of the calls `match` selects, per calendar `window` in ' +
        '`timeZone`, one counter per `per` value. 422 lists every problem (an unknown server, tool, key or person, a ' +
        'window missing or not allowed, a negative limit, an `alertWebhookUrl` that is not an http(s) URL); 409 for a ' +
        'name already used. Each counter reaching 80 and 100 % of the limit is a `quota.alert` audit event (once per ' +
        'window), also POSTed to `alertWebhookUrl` when given.',
      body: CreateQuotaBody.meta({ id: 'CreateQuotaBody' }),
      handler: handlers.createQuota,
    }),
    rows.list({
      summary: 'List the workspace’s quotas',
      answer: 'The quotas, oldest first.',
      handler: handlers.listQuotas,
    }),
    rows.get({ summary: 'Get a quota', handler: handlers.getQuota }),
    rows.update({
      summary: 'Change a quota (omitted fields are kept)',
      description: 'Its counters are kept: a lower limit applies to what the window already used.',
      body: UpdateQuotaBody.meta({ id: 'UpdateQuotaBody' }),
      handler: handlers.updateQuota,
    }),
    rows.delete({ summary: 'Delete a quota', handler: handlers.deleteQuota }),
  ],
  // What the handlers refuse is refused before a change is held.
  {
    checks: {
      createQuota: (deps, input) => handlers.checkNewQuota(deps, input as Input<CreateQuotaBody>),
      updateQuota: (deps, input) => handlers.checkQuotaUpdate(deps, input as Input<UpdateQuotaBody>),
    },
  },
);
