import { z } from 'zod';
import { QueryDate } from '../../http/query-date.ts';

/** `GET /audit_events`: filters, a page, its order. */
export const ListAuditQuery = z.strictObject({
  /** The actor's id (an API key id, an OAuth subject, a person's id) or name. */
  actor: z.string().min(1).max(512).optional(),
  /**
   * An action (`server.update`), every action of a resource with a trailing `.*` (`server.*`), or one action of
   * every resource with a leading `*.` (`*.would_refuse`: the would-be refusals of every log-only rule).
   */
  action: z
    .string()
    .regex(
      /^([a-z_]+(\.[a-z_]+|\.\*)?|\*\.[a-z_]+)$/,
      'an action (server.update), a resource’s actions (server.*) or an action of every resource (*.would_refuse)',
    )
    .optional(),
  resource_type: z.string().min(1).max(64).optional(),
  resource_id: z.string().min(1).max(512).optional(),
  outcome: z.enum(['success', 'refused', 'failed', 'accepted', 'declined', 'cancelled']).optional(),
  from: QueryDate.optional(),
  to: QueryDate.optional(),
  /** `desc` (newest first, the default) or `asc` (oldest first: to verify the chain, to follow it). */
  order: z.enum(['asc', 'desc']).default('desc'),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  /** The `seq` of the last event of the previous page (`next_cursor`). */
  cursor: z.coerce.number().int().min(0).optional(),
});

export type ListAuditQuery = z.output<typeof ListAuditQuery>;
