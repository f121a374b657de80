import { z } from 'zod';
import { ListUsersQuery } from './schemas.ts';

const timestamp = z.iso.datetime();

const attributes = z
  .record(z.string(), z.string())
  .describe('Declared attributes: `$current_user.<name>` in workflows run for this user.');

/** An external user as the create and update responses show it. */
export const ExternalUser = z
  .strictObject({ id: z.uuid(), name: z.string(), attributes, createdAt: timestamp })
  .meta({ id: 'ExternalUser' });

/** An external user in the list: with the connector instances the user has connected. */
export const ListedExternalUser = ExternalUser.extend({
  connections: z.array(z.uuid()).describe('Ids of the connector instances the user has credentials for.'),
})
  .strict()
  .meta({ id: 'ListedExternalUser' });

/**
 * A user's connection to one connector instance: credentials pushed by the app (key names only, never values), or
 * their own account connected with a connect link (status, expiry and scopes; never a token).
 */
export const UserConnection = z
  .strictObject({
    connector_instance_id: z.uuid(),
    kind: z
      .enum(['credentials', 'oauth'])
      .describe('`credentials`: pushed with this API; `oauth`: the person connected their own account (ADR 0027).'),
    credential_keys: z.array(z.string()),
    status: z
      .enum(['connected', 'needs_reauthorization'])
      .optional()
      .describe(
        '`oauth` only: `needs_reauthorization` once the provider refused a refresh (the next call gives a new link).',
      ),
    expires_at: timestamp
      .nullable()
      .optional()
      .describe('`oauth` only: when the current access token expires (the worker refreshes it before); null: unknown.'),
    scopes: z.array(z.string()).optional().describe('`oauth` only: the scopes the provider granted.'),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'UserConnection' });

/** A person's own-account connection ended: how the revocation at the provider went. */
export const AccountDisconnected = z
  .strictObject({
    connector_instance_id: z.uuid(),
    kind: z.literal('oauth'),
    revocation: z
      .enum(['revoked', 'no_endpoint', 'failed', 'not_connected'])
      .describe(
        '`revoked`: the provider accepted the revocation; `no_endpoint`: the connector declares no revocation_url; ' +
          '`failed`: the provider refused or could not be reached (see revocation_error); `not_connected`: no tokens ' +
          'were stored. The tokens are deleted in every case.',
      ),
    revocation_error: z.string().optional(),
  })
  .meta({ id: 'AccountDisconnected' });

export const UserSecretListing = z
  .strictObject({ name: z.string(), updatedAt: timestamp })
  .meta({ id: 'UserSecretListing' });

export const UserSecretWritten = z
  .strictObject({ name: z.string(), user: z.string().describe('The user’s name.') })
  .meta({ id: 'UserSecretWritten' });

export const UserMcpConnection = z
  .strictObject({
    server_id: z.uuid(),
    external: z.string().describe('The external MCP server’s name in the server’s configuration.'),
    header_names: z.array(z.string()),
  })
  .meta({ id: 'UserMcpConnection' });

/** `ListUsersQuery` with its parameters described: what `GET /external_users` parses and documents. */
export const ListExternalUsersQuery = ListUsersQuery.extend({
  name: ListUsersQuery.shape.name.meta({ description: 'Only the user of this name (the page holds one or none).' }),
  limit: ListUsersQuery.shape.limit.meta({ description: 'Users per page.' }),
  cursor: ListUsersQuery.shape.cursor.meta({ description: 'The previous page’s `next_cursor`.' }),
});
