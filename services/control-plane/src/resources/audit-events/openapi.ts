import { z } from 'zod';
import { queryDateParam } from '../../openapi/registry.ts';
import { ListAuditQuery } from './schemas.ts';

export const nullableString = z.string().nullable();

/** An audit event as it was hashed (`auditEventOf` in db/audit-trail.ts; packages/contracts/src/audit.ts). */
export const AuditEvent = z
  .strictObject({
    id: z.uuid(),
    chain: z.string().describe('The workspace id: each workspace’s events form one hash chain.'),
    seq: z.number().int().describe('The event’s place in its chain, from 1.'),
    at: z.iso.datetime(),
    workspaceId: z.uuid().nullable(),
    actor: z.strictObject({
      type: z.enum(['api_key', 'oauth_subject', 'person', 'anonymous', 'system']),
      id: nullableString,
      name: nullableString,
    }),
    action: z.string().describe('`<resource>.<verb>`: `server.update`, `secret.set`, `tool.confirmation`…'),
    resource: z.strictObject({ type: z.string(), id: nullableString }),
    outcome: z.enum(['success', 'refused', 'failed', 'accepted', 'declined', 'cancelled']),
    status: z.number().int().nullable().describe('The HTTP status, for an event written when the answer was sent.'),
    source: z.strictObject({
      requestId: nullableString.describe('The control plane’s own id of the request (its `x-request-id` answer).'),
      clientRequestId: z
        .string()
        .optional()
        .describe('The `x-request-id` the client sent, when it sent one (a plain token of up to 128 characters).'),
      traceId: nullableString,
      clientAddress: nullableString,
      userAgent: nullableString,
    }),
    changes: z
      .record(z.string(), z.strictObject({ before: z.unknown(), after: z.unknown() }))
      .nullable()
      .describe('Field → before/after of the changed resource; a secret or credential shows only as "changed".'),
    details: z.record(z.string(), z.unknown()).nullable(),
    prevHash: z.string().describe('The previous event’s hash (64 zeros for the first).'),
    hash: z.string().describe('SHA-256 of the event’s RFC 8785 canonical JSON without `hash`.'),
  })
  .meta({ id: 'AuditEvent' });

/**
 * `ListAuditQuery` with its dates and cursor described: what `GET /audit_events` parses and documents. The cursor is
 * documented as the string `next_cursor` is (a query parameter is text) and parsed as the number it holds (422 else).
 */
export const ListAuditEventsQuery = ListAuditQuery.extend({
  from: ListAuditQuery.shape.from.meta(queryDateParam('Events at or after this time (inclusive).')),
  to: ListAuditQuery.shape.to.meta(queryDateParam('Events before this time (exclusive).')),
  cursor: ListAuditQuery.shape.cursor.meta({ type: 'string', description: 'The previous page’s `next_cursor`.' }),
});
