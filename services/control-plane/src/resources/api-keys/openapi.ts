import { z } from 'zod';
import { apiKeyScopes } from '@toolplane/contracts';

const timestamp = z.iso.datetime();

/** An API key as the API shows it (`present` in handlers.ts); the value itself only in the create response. */
export const ApiKey = z
  .strictObject({
    id: z.uuid(),
    name: z.string(),
    prefix: z.string().describe('The first 10 characters of the key, to recognise it.'),
    scopes: z.array(z.enum(apiKeyScopes)),
    serverIds: z.array(z.string()).nullable().describe('The servers the key is limited to; null: every server.'),
    twin: z
      .boolean()
      .describe('Every call made with the key is answered by the staging twin, on every server (ADR 0112).'),
    createdAt: timestamp,
    lastUsedAt: timestamp.nullable(),
    revokedAt: timestamp.nullable(),
  })
  .meta({ id: 'ApiKey' });

export const CreatedApiKey = ApiKey.extend({ key: z.string().describe('The key; shown once.') })
  .strict()
  .meta({ id: 'CreatedApiKey' });
