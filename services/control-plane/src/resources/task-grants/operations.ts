import { z } from 'zod';
import { audited, json, problems } from '../../openapi/registry.ts';
import { post, type Operation } from '../operation.ts';
import { rowOperations } from '../row-operations.ts';
import * as handlers from './handlers.ts';
import { CreateTaskGrantBody, TaskGrantParams } from './schemas.ts';

const TaskGrant = z
  .strictObject({
    id: z.uuid(),
    parent: z.uuid().nullable().describe('The grant it derives from (a sub-grant), if any.'),
    purpose: z.string(),
    person: z.string(),
    tools: z.array(z.string()),
    bounds: z
      .array(z.strictObject({ name: z.string(), condition: z.string() }))
      .describe('Every bound a call is held to: a sub-grant’s parent’s first, then its own.'),
    calls: z.number().int(),
    expiresAt: z.iso.datetime(),
    offGrant: z.enum(['hold', 'refuse']),
    mode: z.enum(['enforced', 'log_only']),
    revokedAt: z.iso.datetime().nullable(),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'TaskGrant' });

const rows = rowOperations({
  row: TaskGrant,
  params: TaskGrantParams,
  path: '/task_grants',
  one: 'TaskGrant',
  many: 'TaskGrants',
  listId: 'TaskGrantList',
  noun: 'task grant',
  audit: 'task_grant',
  tags: ['task-grants'],
});

/**
 * Task grants (ADR 0108): what a person approved a task may do. Redeemed at an edge's token exchange for narrowed
 * tokens carrying the grant's id; each call made with one is held to the grant by the `task-grant` rule. Published to
 * the edges with the workspace's access policies.
 */
export const taskGrantsOperations: Operation[] = [
  rows.create({
    summary: 'Grant a task what it may do',
    description:
      'The tools the task may call, bounds on their arguments (CEL conditions over `args`, each compiled here), a ' +
      'budget of calls, an expiry and the person it acts for; what an off-grant call gets (`hold` for that ' +
      'person’s approval, or `refuse`). 422 lists every problem (an unknown person or tool, a bound that does not ' +
      'compile or reads the session, an expiry past or more than 30 days ahead). With `parent`, a sub-grant ' +
      '(ADR 0113): the same person, tools among the parent’s, no more calls, no later expiry, no `hold` or ' +
      '`log_only` where the parent refuses or is enforced (422 names each widening field); held to the parent’s ' +
      'bounds and then its own. Redeem it at an edge’s `/oauth/token-exchange` with `grant` in the ' +
      '`toolplane_delegation` entry (from a token of its parent, for a sub-agent).',
    body: CreateTaskGrantBody.meta({ id: 'CreateTaskGrantBody' }),
    problems: [400, 403, 413, 415, 422],
    handler: handlers.createTaskGrant,
  }),
  rows.list({
    answer: 'The task grants, newest first.',
    handler: handlers.listTaskGrants,
    summary: 'List the workspace’s task grants',
  }),
  rows.get({ handler: handlers.getTaskGrant, summary: 'Get a task grant' }),
  post('/task_grants/{id}/revoke', 'revokeTaskGrant', {
    'x-audit': audited('task_grant.revoke'),
    tags: ['task-grants'],
    summary: 'Revoke a task grant',
    description:
      'Every later call of a token redeemed from it is refused, on every edge; no new token is redeemed from it. ' +
      'Every grant derived from it is revoked with it. Revoking a revoked grant changes nothing.',
    responses: { 200: json('The task grant as revoked.', TaskGrant), ...problems(403, 404) },
    params: TaskGrantParams,
    handler: handlers.revokeTaskGrant,
  }),
];
