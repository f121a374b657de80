import { z } from 'zod';

/** How an instance of a curated connector authenticates: people's own accounts (ADR 0028), or the provider's token. */
export const CuratedAuth = z
  .enum(['user_oauth', 'token'])
  .describe(
    '`user_oauth`: people connect their own accounts (docs/connecting-accounts.md; the instance holds the OAuth app); ' +
      '`token`: the instance holds the provider’s token or API key.',
  );

export const AddCuratedConnectorBody = z
  .object({
    auth: CuratedAuth.optional().describe(
      'Which variant to add; default: `user_oauth` where the connector offers it, else `token`.',
    ),
  })
  .strict();
