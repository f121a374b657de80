import { HttpUrl } from '@toolplane/contracts';
import { z } from 'zod';

const secretValue = (what: string) =>
  z.string().min(1).max(4096).describe(`${what}: write-only, sealed in the secrets store, never answered.`);

const SyslogTarget = z
  .strictObject({
    type: z.literal('syslog'),
    host: z.string().min(1).max(253),
    port: z.number().int().min(1).max(65535),
    tls: z.boolean().optional().describe('TLS (RFC 5425); absent: false (plain TCP).'),
    caPem: z
      .string()
      .max(64 * 1024)
      .regex(/-----BEGIN CERTIFICATE-----/, 'a PEM bundle of certificates')
      .optional()
      .describe(
        'With `tls`: the CA certificates (PEM) the receiver’s certificate must chain to; absent: the system’s.',
      ),
    serverName: z
      .string()
      .max(253)
      .optional()
      .describe('With `tls`: the name the certificate must hold (else `host`).'),
    format: z.enum(['json', 'cef']).optional().describe('The message body: the event as JSON (default) or a CEF line.'),
  })
  .meta({ id: 'AuditExporterSyslogTarget' });

const HecTarget = z
  .strictObject({
    type: z.literal('splunk_hec'),
    url: HttpUrl.max(2000).describe('The HEC URL (`/services/collector/event` is added when it names no path).'),
    token: secretValue('The HEC token (`Authorization: Splunk <token>`)').optional(),
    index: z.string().max(200).optional(),
    sourcetype: z.string().max(200).optional().describe('Absent: `toolplane:audit`.'),
  })
  .meta({ id: 'AuditExporterHecTarget' });

const WebhookTarget = z
  .strictObject({
    type: z.literal('webhook'),
    url: HttpUrl.max(2000).describe('Receives a JSON array of events per POST; put no secret in it (it is shown).'),
    secret: secretValue('The HMAC-SHA256 key of `x-toolplane-signature: sha256=<hex>`').optional(),
  })
  .meta({ id: 'AuditExporterWebhookTarget' });

export const ExporterTarget = z.discriminatedUnion('type', [SyslogTarget, HecTarget, WebhookTarget]);
export type ExporterTarget = z.output<typeof ExporterTarget>;

const fields = {
  name: z.string().min(1).max(200),
  enabled: z.boolean().optional().describe('false: nothing is sent; the cursor waits (absent: true).'),
  target: ExporterTarget.describe(
    'Where the events go. A new HEC target needs its `token`, a new webhook its `secret`; a change of the same kind ' +
      'without one keeps the sealed value.',
  ),
};

export const CreateAuditExporterBody = z.strictObject({
  ...fields,
  from: z
    .enum(['start', 'now'])
    .optional()
    .describe('`start` (default): the whole trail, as far as retention kept it; `now`: the events after this one.'),
});
export type CreateAuditExporterBody = z.output<typeof CreateAuditExporterBody>;

export const UpdateAuditExporterBody = z.strictObject({
  name: fields.name.optional(),
  enabled: fields.enabled,
  target: fields.target.optional(),
});
export type UpdateAuditExporterBody = z.output<typeof UpdateAuditExporterBody>;

export const AuditExporterParams = z.object({ id: z.string().describe('The exporter’s id.') });
