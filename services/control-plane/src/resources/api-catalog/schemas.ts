import { z } from 'zod';
import { slugPattern } from './slug.ts';

export const ApiCatalogQuery = z.object({
  q: z.string().max(200).optional(),
  category: z.string().max(100).optional(),
  page: z.coerce.number().int().min(1).default(1),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});

export const AddFromCatalogBody = z.strictObject({
  slug: z
    .string()
    .regex(slugPattern, 'must be lower-case letters, digits and dashes (1-100 chars)')
    .optional()
    .describe('The connector’s slug; default: the catalog id’s (`1password.com:events` → `1password-com-events`).'),
});

export type ApiCatalogQuery = z.output<typeof ApiCatalogQuery>;
export type AddFromCatalogBody = z.output<typeof AddFromCatalogBody>;
