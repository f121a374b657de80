import { z } from 'zod';

export const DeleteConnectorQuery = z.object({
  force: z
    .enum(['true', 'false'])
    .optional()
    .describe('`true` deletes the connector instances using it first (as `DELETE /connector_instances/{id}`).'),
});

export const UpdateConnectorQuery = z.object({
  dry_run: z
    .enum(['true', 'false'])
    .optional()
    .describe(
      '`true`: validate the document and compile the change, answer with what it would do to each server’s tools; ' +
        'nothing is stored or published.',
    ),
});

export type DeleteConnectorQuery = z.output<typeof DeleteConnectorQuery>;
export type UpdateConnectorQuery = z.output<typeof UpdateConnectorQuery>;
