import { z } from 'zod';
import { json, problems, type RouteDoc } from '../../openapi/registry.ts';
import { ListAuditQuery } from './schemas.ts';

const nullableString = z.string().nullable();

/** An audit event as it was hashed (`auditEventOf` in db/audit-trail.ts; packages/contracts/src/audit.ts). */
const AuditEvent = z
  .object({
    id: z.uuid(),
    chain: z.string().describe('The workspace id: each workspace’s events form one hash chain.'),
    seq: z.number().int().describe('The event’s place in its chain, from 1.'),
    at: z.iso.datetime(),
    workspaceId: z.uuid().nullable(),
    actor: z
      .object({
        type: z.enum(['api_key', 'oauth_subject', 'person', 'anonymous', 'system']),
        id: nullableString,
        name: nullableString,
      })
      .strict(),
    action: z.string().describe('`<resource>.<verb>`: `server.update`, `secret.set`, `tool.confirmation`…'),
    resource: z.object({ type: z.string(), id: nullableString }).strict(),
    outcome: z.enum(['success', 'refused', 'failed', 'accepted', 'declined', 'cancelled']),
    status: z.number().int().nullable().describe('The HTTP status, for an event written when the answer was sent.'),
    source: z
      .object({
        requestId: nullableString.describe('The control plane’s own id of the request (its `x-request-id` answer).'),
        clientRequestId: z
          .string()
          .optional()
          .describe('The `x-request-id` the client sent, when it sent one (a plain token of up to 128 characters).'),
        traceId: nullableString,
        clientAddress: nullableString,
        userAgent: nullableString,
      })
      .strict(),
    changes: z
      .record(z.string(), z.object({ before: z.unknown(), after: z.unknown() }).strict())
      .nullable()
      .describe('Field → before/after of the changed resource; a secret or credential shows only as "changed".'),
    details: z.record(z.string(), z.unknown()).nullable(),
    prevHash: z.string().describe('The previous event’s hash (64 zeros for the first).'),
    hash: z.string().describe('SHA-256 of the event’s RFC 8785 canonical JSON without `hash`.'),
  })
  .strict()
  .meta({ id: 'AuditEvent' });

const dateParam = (description: string) => ({ type: 'string' as const, format: 'date-time', description });
const ListAuditEventsQuery = ListAuditQuery.extend({
  from: ListAuditQuery.shape.from.meta(dateParam('Events at or after this time (inclusive).')),
  to: ListAuditQuery.shape.to.meta(dateParam('Events before this time (exclusive).')),
  cursor: z.string().optional().meta({ description: 'The previous page’s `next_cursor`.' }),
});

/** The audit-events routes, for the OpenAPI document. */
export const auditEventsRoutes: RouteDoc[] = [
  {
    method: 'get',
    path: '/audit_events',
    operationId: 'listAuditEvents',
    'x-scope': 'audit',
    tags: ['audit'],
    summary: 'Read the workspace’s audit trail',
    description:
      'Needs the `audit` scope (a management key does not imply it). Newest first unless `order=asc`; ' +
      '`next_cursor` continues in the same order.',
    request: { query: ListAuditEventsQuery },
    responses: {
      200: json(
        'A page of events.',
        z.object({ data: z.array(AuditEvent), next_cursor: z.string().nullable() }).strict(),
      ),
      ...problems(403, 422),
    },
  },
  {
    method: 'post',
    path: '/sign_ins',
    operationId: 'signIn',
    'x-audit': { action: 'dashboard.sign_in', resource: 'session' },
    tags: ['audit'],
    summary: 'Record a sign-in to the dashboard',
    description: 'The dashboard calls it once when a person signs in; answers whom the credential belongs to.',
    responses: {
      201: json(
        'The credential’s workspace and powers.',
        z
          .object({
            workspace: z.object({ id: z.uuid(), name: z.string() }).strict(),
            scopes: z.array(z.string()),
            keyId: nullableString,
            subject: nullableString,
          })
          .strict(),
      ),
      ...problems(403),
    },
  },
];
