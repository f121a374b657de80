import { z } from 'zod';
import { QueryDate } from '../../http/query-date.ts';

export const ListQuery = z.object({
  server_id: z.string().uuid().optional(),
  tool: z.string().min(1).optional(),
  /** The calls a `run_code` program made (its invocation id). */
  parent_invocation_id: z.string().uuid().optional(),
  /** The caller: an API key's id, an OAuth subject, or the external user the call ran for. */
  key_id: z.string().min(1).optional(),
  subject: z.string().min(1).optional(),
  username: z.string().min(1).optional(),
  outcome: z.enum(['success', 'tool_error', 'rejected', 'failed', 'unknown']).optional(),
  /** Records with a guardrail finding of this action; `would_*`: any of a log-only guardrail. */
  guardrail_action: z
    .enum(['redact', 'block', 'flag', 'would_redact', 'would_block', 'would_flag', 'would_*'])
    .optional(),
  /** `true`: the staging twin's records (ADR 0112); otherwise production's. */
  twin: z.enum(['true', 'false']).optional(),
  from: QueryDate.optional(),
  to: QueryDate.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  /** The last id of the previous page. */
  cursor: z.string().uuid().optional(),
});
export type ListQuery = z.output<typeof ListQuery>;
