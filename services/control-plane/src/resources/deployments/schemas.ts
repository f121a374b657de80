import { HttpUrl } from '@toolplane/contracts';
import { z } from 'zod';

export const DeployBody = z.strictObject({
  /** The workflow document, YAML or JSON text (Bump: `definition`). */
  definition: z.string().min(1, 'the workflow document is empty'),
  /** Documents the Arazzo source descriptions resolve to (Bump's CLI sends `{ location, content }`). */
  references: z
    .array(
      z.strictObject({
        location: z.string().min(1),
        content: z.union([z.string(), z.record(z.string(), z.unknown())]),
      }),
    )
    .max(50)
    .default([]),
  /** Base URL per Arazzo source description name (replaces the servers of its OpenAPI document). */
  servers: z.record(z.string(), HttpUrl).default({}),
});
export type DeployBody = z.output<typeof DeployBody>;

/** `?dry_run=true`: compile and validate only; nothing is stored and the server does not change. */
export const DeployQuery = z.object({
  dry_run: z
    .enum(['true', 'false'])
    .optional()
    .describe('`true`: validate and compile the document, answer with the tools it would create; nothing changes.'),
});
export type DeployQuery = z.output<typeof DeployQuery>;
