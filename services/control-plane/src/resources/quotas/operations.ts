import { QuotaMatch, quotaCounts, quotaPer, quotaWindows } from '@toolplane/contracts';
import { z } from 'zod';
import { json, jsonList, noContent, problems } from '../../openapi/registry.ts';
import { operation, type Operation } from '../operation.ts';
import * as handlers from './handlers.ts';
import { CreateQuotaBody, QuotaParams, UpdateQuotaBody } from './schemas.ts';

const Quota = z
  .object({
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
  .strict()
  .meta({ id: 'Quota' });

const tags = ['quotas'];
const audit = (verb: string) => ({ action: `quota.${verb}`, resource: 'quota' });

/**
 * Quotas and budgets (ADR 0048): how much the calls a quota matches may use, enforced on every edge before
 * the enqueue. Each change is published to the edges with the workspace's access policies.
 */
export const quotasOperations: Operation[] = [
  operation({
    route: {
      method: 'post',
      path: '/quotas',
      operationId: 'createQuota',
      'x-audit': audit('create'),
      tags,
      summary: 'Create a quota',
      description:
        'Counts `calls`, `cost` units or calls `in_flight` of the calls `match` selects, per calendar `window` in ' +
        '`timeZone`, one counter per `per` value. 422 lists every problem (an unknown server, tool, key or person, a ' +
        'window missing or not allowed, a negative limit, an `alertWebhookUrl` that is not an http(s) URL); 409 for a ' +
        'name already used. Each counter reaching 80 and 100 % of the limit is a `quota.alert` audit event (once per ' +
        'window), also POSTed to `alertWebhookUrl` when given.',
      responses: { 201: json('The quota.', Quota), ...problems(400, 403, 409, 413, 415, 422) },
    },
    body: CreateQuotaBody.meta({ id: 'CreateQuotaBody' }),
    handler: handlers.createQuota,
  }),
  operation({
    route: {
      method: 'get',
      path: '/quotas',
      operationId: 'listQuotas',
      tags,
      summary: 'List the workspace’s quotas',
      responses: { 200: jsonList('The quotas, oldest first.', Quota, 'QuotaList'), ...problems(403) },
    },
    handler: handlers.listQuotas,
  }),
  operation({
    route: {
      method: 'get',
      path: '/quotas/{id}',
      operationId: 'getQuota',
      tags,
      summary: 'Get a quota',
      responses: { 200: json('The quota.', Quota), ...problems(403, 404) },
    },
    params: QuotaParams,
    handler: handlers.getQuota,
  }),
  operation({
    route: {
      method: 'patch',
      path: '/quotas/{id}',
      operationId: 'updateQuota',
      'x-audit': audit('update'),
      tags,
      summary: 'Change a quota (omitted fields are kept)',
      description: 'Its counters are kept: a lower limit applies to what the window already used.',
      responses: { 200: json('The quota as changed.', Quota), ...problems(400, 403, 404, 409, 413, 415, 422) },
    },
    params: QuotaParams,
    body: UpdateQuotaBody.meta({ id: 'UpdateQuotaBody' }),
    handler: handlers.updateQuota,
  }),
  operation({
    route: {
      method: 'delete',
      path: '/quotas/{id}',
      operationId: 'deleteQuota',
      'x-audit': audit('delete'),
      tags,
      summary: 'Delete a quota',
      responses: { 204: noContent, ...problems(403, 404) },
    },
    params: QuotaParams,
    handler: handlers.deleteQuota,
  }),
];
