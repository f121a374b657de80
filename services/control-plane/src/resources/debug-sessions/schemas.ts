import { z } from 'zod';

/** Debug sessions last at most 4 hours. */
const MAX_DEBUG_MINUTES = 240;

export const OpenBody = z.strictObject({
  duration_minutes: z.number().int().min(1).max(MAX_DEBUG_MINUTES).default(60),
});
export type OpenBody = z.output<typeof OpenBody>;
