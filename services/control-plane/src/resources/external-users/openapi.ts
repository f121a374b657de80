import { z } from 'zod';
import { json, jsonBody, noContent, pathParams, problems, type RouteDoc } from '../../openapi/registry.ts';
import { ConnectionBody, CreateUserBody, HeadersBody, SecretBody, UpdateUserBody } from './schemas.ts';

const timestamp = z.iso.datetime();

const attributes = z
  .record(z.string(), z.string())
  .describe('Declared attributes: `$current_user.<name>` in workflows run for this user.');

/** An external user as the create and update responses show it. */
const ExternalUser = z
  .object({ id: z.uuid(), name: z.string(), attributes, createdAt: timestamp })
  .strict()
  .meta({ id: 'ExternalUser' });

/** An external user in the list: with the connector instances the user has connected. */
const ListedExternalUser = ExternalUser.extend({
  connections: z.array(z.uuid()).describe('Ids of the connector instances the user has credentials for.'),
})
  .strict()
  .meta({ id: 'ListedExternalUser' });

/**
 * A user's connection to one connector instance: credentials pushed by the app (key names only, never values), or
 * their own account connected with a connect link (status, expiry and scopes; never a token).
 */
const UserConnection = z
  .object({
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
  .strict()
  .meta({ id: 'UserConnection' });

/** A person's own-account connection ended: how the revocation at the provider went. */
const AccountDisconnected = z
  .object({
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
  .strict()
  .meta({ id: 'AccountDisconnected' });

const UserSecretListing = z
  .object({ name: z.string(), updatedAt: timestamp })
  .strict()
  .meta({ id: 'UserSecretListing' });

const UserSecretWritten = z
  .object({ name: z.string(), user: z.string().describe('The user’s name.') })
  .strict()
  .meta({ id: 'UserSecretWritten' });

const UserMcpConnection = z
  .object({
    server_id: z.uuid(),
    external: z.string().describe('The external MCP server’s name in the server’s configuration.'),
    header_names: z.array(z.string()),
  })
  .strict()
  .meta({ id: 'UserMcpConnection' });

const tags = ['external users'];

/** The external-users routes, for the OpenAPI document (services/control-plane/src/openapi/document.ts). */
export const externalUsersRoutes: RouteDoc[] = [
  {
    method: 'post',
    path: '/external_users',
    operationId: 'createExternalUser',
    'x-audit': { action: 'external_user.create', resource: 'external_user' },
    tags,
    summary: 'Create an external user (an end user of the workspace’s app)',
    request: { body: jsonBody(CreateUserBody.meta({ id: 'CreateExternalUserBody' })) },
    responses: {
      201: json('The user.', ExternalUser),
      ...problems(400, 403, 409, 413, 415, 422),
    },
  },
  {
    method: 'get',
    path: '/external_users',
    operationId: 'listExternalUsers',
    tags,
    summary: 'List the workspace’s external users',
    responses: {
      200: json('Every user, oldest first.', z.object({ data: z.array(ListedExternalUser) }).strict()),
      ...problems(403),
    },
  },
  {
    method: 'patch',
    path: '/external_users/{name}',
    operationId: 'updateExternalUser',
    'x-audit': { action: 'external_user.update', resource: 'external_user' },
    tags,
    summary: 'Replace an external user’s attributes',
    request: { params: pathParams('name'), body: jsonBody(UpdateUserBody.meta({ id: 'UpdateExternalUserBody' })) },
    responses: { 200: json('The user as changed.', ExternalUser), ...problems(400, 403, 404, 413, 415, 422) },
  },
  {
    method: 'delete',
    path: '/external_users/{name}',
    operationId: 'deleteExternalUser',
    'x-audit': { action: 'external_user.delete', resource: 'external_user' },
    tags,
    summary: 'Delete an external user with their connections and secrets',
    request: { params: pathParams('name') },
    responses: { 204: noContent, ...problems(403, 404) },
  },
  {
    method: 'get',
    path: '/external_users/{name}/connections',
    operationId: 'listUserConnections',
    tags,
    summary: 'List an external user’s connector connections',
    request: { params: pathParams('name') },
    responses: {
      200: json('Every connection, oldest first.', z.object({ data: z.array(UserConnection) }).strict()),
      ...problems(403, 404),
    },
  },
  {
    method: 'put',
    path: '/external_users/{name}/connections/{instanceId}',
    operationId: 'setUserConnection',
    'x-audit': { action: 'user_connection.set', resource: 'user_connection' },
    tags,
    summary: 'Create or replace an external user’s credentials for a connector instance',
    request: {
      params: pathParams('name', 'instanceId'),
      body: jsonBody(ConnectionBody.meta({ id: 'UserConnectionBody' })),
    },
    responses: {
      200: json('The connection (key names only).', UserConnection),
      ...problems(400, 403, 404, 409, 413, 415, 422),
    },
  },
  {
    method: 'delete',
    path: '/external_users/{name}/connections/{instanceId}',
    operationId: 'deleteUserConnection',
    'x-audit': { action: 'user_connection.delete', resource: 'user_connection' },
    tags,
    summary: 'Delete an external user’s connection to a connector instance',
    description:
      'Credentials: deleted (204). The person’s own account (`kind: oauth`): a worker revokes the token at the ' +
      'provider when the connector declares a revocation endpoint, and the tokens are deleted whatever the provider ' +
      'answered (200, saying how the revocation went).',
    request: { params: pathParams('name', 'instanceId') },
    responses: {
      200: json('An own-account connection ended.', AccountDisconnected),
      204: noContent,
      ...problems(403, 404),
    },
  },
  {
    method: 'get',
    path: '/external_users/{name}/secrets',
    operationId: 'listUserSecrets',
    tags,
    summary: 'List an external user’s own workflow secrets (names only)',
    request: { params: pathParams('name') },
    responses: {
      200: json('Every secret of the user.', z.object({ data: z.array(UserSecretListing) }).strict()),
      ...problems(403, 404),
    },
  },
  {
    method: 'put',
    path: '/external_users/{name}/secrets/{secret}',
    operationId: 'setUserSecret',
    'x-audit': { action: 'user_secret.set', resource: 'user_secret' },
    tags,
    summary: 'Set an external user’s own value of a workflow secret (`$secrets.NAME`)',
    request: { params: pathParams('name', 'secret'), body: jsonBody(SecretBody.meta({ id: 'UserSecretBody' })) },
    responses: {
      200: json('The secret was stored.', UserSecretWritten),
      ...problems(400, 403, 404, 413, 415, 422),
    },
  },
  {
    method: 'delete',
    path: '/external_users/{name}/secrets/{secret}',
    operationId: 'deleteUserSecret',
    'x-audit': { action: 'user_secret.delete', resource: 'user_secret' },
    tags,
    summary: 'Delete an external user’s own value of a workflow secret',
    request: { params: pathParams('name', 'secret') },
    responses: { 204: noContent, ...problems(403, 404, 422) },
  },
  {
    method: 'put',
    path: '/external_users/{name}/mcp_connections/{serverId}/{external}',
    operationId: 'setUserMcpConnection',
    'x-audit': { action: 'user_mcp_connection.set', resource: 'user_mcp_connection' },
    tags,
    summary: 'Set an external user’s headers for an external MCP server of one of the workspace’s servers',
    request: {
      params: pathParams('name', 'serverId', 'external'),
      body: jsonBody(HeadersBody.meta({ id: 'UserMcpHeadersBody' })),
    },
    responses: {
      200: json('The headers were stored (names only).', UserMcpConnection),
      ...problems(400, 403, 404, 413, 415, 422),
    },
  },
  {
    method: 'delete',
    path: '/external_users/{name}/mcp_connections/{serverId}/{external}',
    operationId: 'deleteUserMcpConnection',
    'x-audit': { action: 'user_mcp_connection.delete', resource: 'user_mcp_connection' },
    tags,
    summary: 'Delete an external user’s headers for an external MCP server',
    request: { params: pathParams('name', 'serverId', 'external') },
    responses: { 204: noContent, ...problems(403, 404) },
  },
];
