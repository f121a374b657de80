import { z } from 'zod';
import { json, problems } from '../../openapi/registry.ts';
import { get, post, type Operation } from '../operation.ts';
import * as handlers from './handlers.ts';
import { AuditEvent, ListAuditEventsQuery, nullableString } from './openapi.ts';

const tags = ['audit'];

/**
 * The audit trail, read-only (ADR 0037: events are written with the changes, db/audited-db.ts, and at the end of
 * requests, http/audit.ts), and the dashboard's sign-ins. Nothing here streams: the trail leaves as the OpenTelemetry
 * log record each committed event emits (export.ts) and through the audit exporters (resources/audit-exporters).
 */
export const auditEventsOperations: Operation[] = [
  get('/audit_events', 'listAuditEvents', {
    'x-scope': 'audit',
    tags,
    summary: 'Read the workspace’s audit trail',
    description:
      'Needs the `audit` scope (a management key does not imply it). Newest first unless `order=asc`; ' +
      '`next_cursor` continues in the same order.',
    responses: {
      200: json('A page of events.', z.strictObject({ data: z.array(AuditEvent), next_cursor: z.string().nullable() })),
      ...problems(403, 422),
    },
    query: ListAuditEventsQuery,
    handler: handlers.listAuditEvents,
  }),
  post('/sign_ins', 'signIn', {
    'x-audit': { action: 'dashboard.sign_in', resource: 'session' },
    // An approver's or an auditor's credential signs in too (then reaches the pages its scope allows).
    'x-scope': 'any',
    tags,
    summary: 'Record a sign-in to the dashboard',
    description: 'The dashboard calls it once when a person signs in; answers whom the credential belongs to.',
    responses: {
      201: json(
        'The credential’s workspace and powers.',
        z.strictObject({
          workspace: z.strictObject({ id: z.uuid(), name: z.string() }),
          scopes: z.array(z.string()),
          keyId: nullableString,
          subject: nullableString,
        }),
      ),
      ...problems(403),
    },
    // The request has no body: none is read (a body sent is ignored, as before).
    reads: 'none',
    handler: handlers.signIn,
  }),
];
