import { z } from 'zod';

/**
 * Who did it. An API key (its id and name), a signed-in user (the OAuth subject), a person (an external user, by id
 * and name: connect pages, confirmations), nobody known (a refused unauthenticated request) or Toolplane itself.
 */
export const AuditActor = z.object({
  type: z.enum(['api_key', 'oauth_subject', 'person', 'anonymous', 'system']),
  id: z.string().max(512).nullable(),
  name: z.string().max(512).nullable(),
});
export type AuditActor = z.infer<typeof AuditActor>;

/**
 * Where a request came from: its request id (always Toolplane's own), trace id, client address and user agent (each
 * when known), and the `x-request-id` the client sent, if any (`clientRequestId`: absent, not null, when none was
 * given, so that events stored before it existed keep their hash).
 */
export const AuditSource = z.object({
  requestId: z.string().max(256).nullable(),
  clientRequestId: z.string().max(256).optional(),
  traceId: z.string().max(64).nullable(),
  clientAddress: z.string().max(256).nullable(),
  userAgent: z.string().max(1024).nullable(),
});
export type AuditSource = z.infer<typeof AuditSource>;

/**
 * What an audit event says, before the trail gives it its place (`seq`, `prevHash`, `hash`). `outcome`: `success` (the
 * change was made), `refused` (authentication, authorization, a policy or a person said no), `failed` (an error);
 * a person's confirmation is `accepted`, `declined` or `cancelled`. `changes`: field → `{ before, after }`, where a
 * secret or credential appears only as the string "changed". `details`: what else the action needs said.
 */
export const AuditEventInput = z.object({
  id: z.uuid(),
  at: z.iso.datetime(),
  workspaceId: z.uuid().nullable(),
  actor: AuditActor,
  action: z.string().min(1).max(128),
  resource: z.object({ type: z.string().min(1).max(64), id: z.string().max(512).nullable() }),
  outcome: z.enum(['success', 'refused', 'failed', 'accepted', 'declined', 'cancelled']),
  status: z.number().int().nullable(),
  source: AuditSource,
  changes: z.record(z.string(), z.object({ before: z.unknown(), after: z.unknown() })).nullable(),
  details: z.record(z.string(), z.unknown()).nullable(),
});
export type AuditEventInput = z.infer<typeof AuditEventInput>;

/**
 * An event in the trail: each workspace's events form one hash chain (`chain` is the workspace id; refused requests
 * of nobody known form the chain "unauthenticated"), `seq` counts from 1, `prevHash` is the previous event's `hash`
 * (64 zeros for the first) and `hash` the SHA-256 of the event's canonical JSON without `hash` (`@toolplane/client/audit-chain`).
 */
export interface AuditEvent extends AuditEventInput {
  chain: string;
  seq: number;
  prevHash: string;
  hash: string;
}

/** The `prevHash` of a chain's first event. */
export const AUDIT_GENESIS_HASH = '0'.repeat(64);
/** The chain of refused requests whose caller is not known (no workspace). */
export const UNAUTHENTICATED_CHAIN = 'unauthenticated';
