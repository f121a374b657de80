import { z } from 'zod';
import { apiKeyScopes } from '@toolplane/contracts';

const timestamp = z.iso.datetime();

/** A workspace as the API shows it (`present` in handlers.ts). */
export const Workspace = z
  .object({ id: z.uuid(), organizationId: z.uuid(), name: z.string(), createdAt: timestamp })
  .strict()
  .meta({ id: 'Workspace' });

export const CreatedWorkspace = Workspace.extend({
  apiKey: z
    .object({
      id: z.uuid(),
      name: z.string(),
      prefix: z.string(),
      scopes: z.array(z.enum(apiKeyScopes)),
      key: z.string().describe('The key; shown once.'),
    })
    .strict()
    .describe('The workspace’s first key (management and runtime).'),
})
  .strict()
  .meta({ id: 'CreatedWorkspace' });
