import { HttpUrl } from '@toolplane/contracts';
import { z } from 'zod';

export const externalServerName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,49}$/, 'must be a slug (lower-case letters, digits, - and _; 1-50 chars)');
const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/, 'must be an HTTP header name');
const headerValue = z.string().max(8192);
export const maxHeaders = 20;

/** How changes of what it offers are published (ADR 0061). */
const review = {
  autoAccept: z
    .boolean()
    .optional()
    .describe('true: every change it lists is published at once (no review). Default false for a new server.'),
  onChange: z
    .enum(['keep_pinned', 'withhold'])
    .optional()
    .describe('While a change of an item is held: serve its pinned version (default) or withhold the item.'),
  notifyWebhookUrl: HttpUrl.max(2000)
    .nullable()
    .optional()
    .describe('An http(s) URL each refresh that holds changes POSTs them to as JSON, by a worker.'),
};

export const CreateExternalServerBody = z
  .object({
    name: externalServerName,
    url: HttpUrl,
    /** Header values are secrets: stored sealed, never shown again. */
    headers: z
      .record(headerName, headerValue)
      .default({})
      .refine((h) => Object.keys(h).length <= maxHeaders, `at most ${maxHeaders} headers`),
    ...review,
  })
  .strict();
export type CreateExternalServerBody = z.output<typeof CreateExternalServerBody>;

export const UpdateExternalServerBody = z
  .object({
    name: externalServerName.optional(),
    url: HttpUrl.optional(),
    /** Only the headers named change: a value sets one, null removes it; the others keep their values. */
    headers: z.record(headerName, headerValue.nullable()).optional(),
    ...review,
  })
  .strict();
export type UpdateExternalServerBody = z.output<typeof UpdateExternalServerBody>;
