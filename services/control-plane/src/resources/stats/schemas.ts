import { z } from 'zod';
import { QueryDate } from '../../http/query-date.ts';

export const StatsQuery = z.object({
  window: z.enum(['1h', '24h']).default('1h'),
  server_id: z.string().uuid().optional(),
  tool: z.string().min(1).optional(),
  /** The window's end (default now), rounded up to a whole step (a minute; 10 minutes for 24h). */
  to: QueryDate.optional(),
  /** How many tools the two top lists hold. */
  top: z.coerce.number().int().min(1).max(50).default(10),
});

export type StatsQuery = z.output<typeof StatsQuery>;
