import { HttpUrl } from '@toolplane/contracts';
import { z } from 'zod';
import { OAuthUrls } from '../connector-instances/schemas.ts';

/** How an instance of a curated connector authenticates: people's own accounts (ADR 0028), or the provider's token. */
export const CuratedAuth = z
  .enum(['user_oauth', 'token'])
  .describe(
    '`user_oauth`: people connect their own accounts (docs/connecting-accounts.md; the instance holds the OAuth app); ' +
      '`token`: the instance holds the provider’s token or API key.',
  );

export const AddCuratedConnectorBody = z.strictObject({
  auth: CuratedAuth.optional().describe(
    'Which variant to add; default: `user_oauth` where the connector offers it, else `token`.',
  ),
});

/** `POST /connectors/curated/{slug}/setup`: the connector, an instance and a server, in one request. */
export const SetupCuratedConnectorBody = z.strictObject({
  auth: CuratedAuth.optional().describe(
    'Which variant; default: `user_oauth` where the connector offers it, else `token`.',
  ),
  name: z.string().min(1).max(100).optional().describe('The instance’s name (default: the slug).'),
  base_url: HttpUrl.optional().describe('Where the provider’s API is, when not its public address.'),
  oauth_urls: OAuthUrls.optional().describe('Where people’s OAuth flows go, when not the provider’s public endpoints.'),
  credentials: z
    .record(z.string(), z.string())
    .default({})
    .describe(
      'The instance’s credentials: the OAuth app’s `client_id` and `client_secret` (`user_oauth`), or the ' +
        'provider’s token or key (`token`), under the names `GET /connectors/curated` lists.',
    ),
  tools: z
    .array(z.string().min(1))
    .min(1)
    .optional()
    .describe('The tools the server exposes (default: every tool of the connector).'),
});

export type AddCuratedConnectorBody = z.output<typeof AddCuratedConnectorBody>;
export type SetupCuratedConnectorBody = z.output<typeof SetupCuratedConnectorBody>;
