import { z } from 'zod';
import { apiKeyScopes } from '@toolplane/contracts';
import { areaNames, roleNames } from '../../http/roles.ts';

const timestamp = z.iso.datetime();

/** A workspace as the API shows it (`present` in handlers.ts). */
export const Workspace = z
  .strictObject({ id: z.uuid(), organizationId: z.uuid(), name: z.string(), createdAt: timestamp })
  .meta({ id: 'Workspace' });

export const CreatedWorkspace = Workspace.extend({
  apiKey: z
    .strictObject({
      id: z.uuid(),
      name: z.string(),
      prefix: z.string(),
      scopes: z.array(z.enum(apiKeyScopes)),
      key: z.string().describe('The key; shown once.'),
    })
    .describe('The workspace’s first key (management and runtime).'),
})
  .strict()
  .meta({ id: 'CreatedWorkspace' });

/** The current workspace with who is calling and what they may do there (the dashboard hides the rest). */
export const CurrentWorkspace = Workspace.extend({
  you: z.strictObject({
    kind: z.enum(['api_key', 'person']),
    subject: z.string().optional().describe('A signed-in person’s OAuth subject.'),
    scopes: z.array(z.enum(apiKeyScopes)),
    roles: z
      .array(z.enum(roleNames))
      .nullable()
      .describe('A signed-in person’s roles (docs/governance.md "People and roles"); null for an API key.'),
    access: z
      .record(z.enum(areaNames), z.enum(['none', 'read', 'write']))
      .describe('What the caller’s roles reach in each area (an API key: what its scopes reach).'),
  }),
})
  .strict()
  .meta({ id: 'CurrentWorkspace' });
