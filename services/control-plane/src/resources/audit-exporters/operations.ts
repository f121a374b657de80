import { z } from 'zod';
import { json, problems } from '../../openapi/registry.ts';
import { get, type Operation } from '../operation.ts';
import { rowOperations } from '../row-operations.ts';
import * as handlers from './handlers.ts';
import { AuditExporterParams, CreateAuditExporterBody, UpdateAuditExporterBody } from './schemas.ts';

const nullableString = z.string().nullable();
const nullableDate = z.iso.datetime().nullable();

const StoredTarget = z
  .discriminatedUnion('type', [
    z.strictObject({
      type: z.literal('syslog'),
      host: z.string(),
      port: z.number().int(),
      tls: z.boolean(),
      format: z.enum(['json', 'cef']),
      caPem: z.string().optional(),
      serverName: z.string().optional(),
    }),
    z.strictObject({
      type: z.literal('splunk_hec'),
      url: z.string(),
      index: z.string().optional(),
      sourcetype: z.string().optional(),
    }),
    z.strictObject({ type: z.literal('webhook'), url: z.string() }),
  ])
  .meta({ id: 'AuditExporterTarget' });

const AuditExporter = z
  .strictObject({
    id: z.uuid(),
    name: z.string(),
    enabled: z.boolean(),
    target: StoredTarget,
    hasSecret: z.boolean().describe('Whether a HEC token or an HMAC key is sealed (its value is never answered).'),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .meta({ id: 'AuditExporter' });

const AuditExporterStatus = z
  .strictObject({
    id: z.uuid(),
    name: z.string(),
    state: z.enum(['ok', 'failing', 'disabled']),
    cursors: z.array(
      z.strictObject({
        chain: z.string(),
        seq: z.number().int().describe('The last event the receiver acknowledged (0: none yet).'),
        lag: z.number().int().describe('Events of the chain after `seq`: still to send.'),
        attempts: z.number().int().describe('Failed attempts since the last delivery.'),
        lastDeliveredAt: nullableDate,
        failingSince: nullableDate,
        nextAttemptAt: nullableDate,
        lastError: nullableString,
        lastErrorAt: nullableDate,
      }),
    ),
    lastError: nullableString.describe('Why the exporter is failing (a refusal, a certificate, a timeout…).'),
    deadLetters: z
      .array(
        z.strictObject({
          id: z.uuid(),
          chain: z.string(),
          seq: z.number().int(),
          eventId: z.uuid(),
          error: z.string(),
          attempts: z.number().int(),
          at: z.iso.datetime(),
        }),
      )
      .describe(
        'Events the receiver refused for good after every attempt (the newest 100): the cursor moved past them.',
      ),
  })
  .meta({ id: 'AuditExporterStatus' });

const tags = ['audit'];
const description =
  'Needs the `management` scope and the `audit` scope (an exporter ships the whole trail: a key that may not read it ' +
  'may not send it anywhere); a person needs a role that changes the trail (admin).';
const rows = rowOperations({
  path: '/audit_exporters',
  tags,
  audit: 'audit_exporter',
  one: 'AuditExporter',
  many: 'AuditExporters',
  noun: 'exporter',
  row: AuditExporter,
  params: AuditExporterParams,
  listId: 'AuditExporterList',
  readScope: 'audit',
});

/**
 * Exporters of the trail (ADR 0065): each keeps a cursor per chain in PostgreSQL; the control plane's deliverer sends
 * the events after it, in order, through a worker (`audit.export`), and moves it once the receiver acknowledged.
 */
export const auditExportersOperations: Operation[] = [
  rows.create({
    summary: 'Push the trail to a SIEM',
    description:
      'Syslog (RFC 5424 over TCP or TLS, JSON or CEF), Splunk HEC or a webhook signed with HMAC-SHA256. Each event ' +
      'is sent exactly as hashed (`seq`, `prevHash`, `hash`), in order, at least once. ' +
      description,
    body: CreateAuditExporterBody.meta({ id: 'CreateAuditExporterBody' }),
    handler: handlers.createAuditExporter,
  }),
  rows.list({
    summary: 'List the workspace’s audit exporters',
    answer: 'The exporters, oldest first.',
    handler: handlers.listAuditExporters,
  }),
  rows.get({ summary: 'Get an audit exporter', handler: handlers.getAuditExporter }),
  rows.update({
    summary: 'Change an audit exporter (omitted fields are kept)',
    description: 'A new target is tried at once; the cursor stays where it was. ' + description,
    body: UpdateAuditExporterBody.meta({ id: 'UpdateAuditExporterBody' }),
    handler: handlers.updateAuditExporter,
  }),
  rows.delete({
    summary: 'Delete an audit exporter',
    description: 'Its cursor, dead letters and sealed value go with it. ' + description,
    handler: handlers.deleteAuditExporter,
  }),
  get('/audit_exporters/{id}/status', 'getAuditExporterStatus', {
    'x-scope': 'audit',
    tags,
    summary: 'Where an audit exporter is: cursor, lag, last error, dead letters',
    responses: { 200: json('The exporter’s delivery.', AuditExporterStatus), ...problems(403, 404) },
    params: AuditExporterParams,
    handler: handlers.getAuditExporterStatus,
  }),
];
