import { HttpUrl } from '@toolplane/contracts';
import { z } from 'zod';

export const externalServerName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,49}$/, 'must be a slug (lower-case letters, digits, - and _; 1-50 chars)');
const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/, 'must be an HTTP header name');
const headerValue = z.string().max(8192);
export const maxHeaders = 20;

export const CreateExternalServerBody = z
  .object({
    name: externalServerName,
    url: HttpUrl,
    /** Header values are secrets: stored sealed, never shown again. */
    headers: z
      .record(headerName, headerValue)
      .default({})
      .refine((h) => Object.keys(h).length <= maxHeaders, `at most ${maxHeaders} headers`),
  })
  .strict();
export type CreateExternalServerBody = z.output<typeof CreateExternalServerBody>;

export const UpdateExternalServerBody = z
  .object({
    name: externalServerName.optional(),
    url: HttpUrl.optional(),
    /** Only the headers named change: a value sets one, null removes it; the others keep their values. */
    headers: z.record(headerName, headerValue.nullable()).optional(),
  })
  .strict();
export type UpdateExternalServerBody = z.output<typeof UpdateExternalServerBody>;
