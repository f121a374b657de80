import { z } from 'zod';

export const CreateWorkspaceBody = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,99}$/, 'must be a slug: lower-case letters, digits, - and _ (1-100 chars)'),
});

export type CreateWorkspaceBody = z.output<typeof CreateWorkspaceBody>;
