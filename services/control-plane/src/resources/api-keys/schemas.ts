import { apiKeyScopes, humanName } from '@toolplane/contracts';
import { z } from 'zod';

const ServerIds = z
  .array(z.string().min(1))
  .min(1, 'must name at least one server (omit it for every server of the workspace)')
  .max(100);

export const CreateApiKeyBody = z.strictObject({
  name: humanName(100),
  scopes: z.array(z.enum(apiKeyScopes)).min(1).default(['management', 'runtime']),
  serverIds: ServerIds.optional(),
});
export type CreateApiKeyBody = z.output<typeof CreateApiKeyBody>;

export const UpdateApiKeyBody = z.strictObject({
  name: humanName(100).optional(),
  /** null lifts the restriction. */
  serverIds: ServerIds.nullable().optional(),
  /** The staging twin (ADR 0112): every call made with the key is answered by the twin, on every server. */
  twin: z.boolean().optional(),
});
export type UpdateApiKeyBody = z.output<typeof UpdateApiKeyBody>;
