import { slugify } from '../../documents/slug.ts';

/** A connector slug the API catalog names or accepts. */
export const slugPattern = /^[a-z0-9][a-z0-9-]{0,99}$/;

/** The slug a catalog API's connector gets unless the request names another: its id in slug form. */
export function catalogSlug(id: string): string {
  const slug = slugify(id, 100);
  return slugPattern.test(slug) ? slug : 'api';
}
