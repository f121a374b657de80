import { z } from 'zod';

/** The workspace's SCIM token as the API shows it: never its value, except once at creation. */
export const ScimToken = z
  .strictObject({
    id: z.uuid(),
    prefix: z.string().describe('The token’s first characters, to recognise it.'),
    createdAt: z.iso.datetime(),
    lastUsedAt: z.iso.datetime().nullable(),
    endpoint: z.string().describe('The SCIM base path to give the identity provider (`/scim/v2`).'),
  })
  .meta({ id: 'ScimToken' });

export const CreatedScimToken = ScimToken.extend({
  token: z.string().describe('The bearer token for the identity provider (shown once).'),
})
  .strict()
  .meta({ id: 'CreatedScimToken' });
