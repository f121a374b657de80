import { audited, json, jsonList, jsonPage, noContent, pathParams, problems } from '../../openapi/registry.ts';
import { fourEyes } from '../change-requests/four-eyes.ts';
import { del, get, patch, post, put, type Operation } from '../operation.ts';
import * as handlers from './handlers.ts';
import {
  AccountDisconnected,
  ExternalUser,
  ListedExternalUser,
  ListExternalUsersQuery,
  UserConnection,
  UserMcpConnection,
  UserSecretListing,
  UserSecretWritten,
} from './openapi.ts';
import { ConnectionBody, CreateUserBody, HeadersBody, SecretBody, UpdateUserBody } from './schemas.ts';

const tags = ['external users'];

/**
 * External users: the end users of a workspace's app, named by it. Each can have its own
 * connection per connector instance: credentials pushed here, or their own account connected with a connect link
 * (ADR 0027); `x-username` on MCP requests makes tools run with that user's connection. The edge learns name → id
 * from a Redis hash published here. People's own-account connections end (revoked at the provider through a worker)
 * on disconnect and deletion (`deps.people`). A person added that a policy names (by name, or `*`) waits for approval
 * with four eyes on loosening (ADR 0087).
 */
export const externalUsersOperations: Operation[] = fourEyes('external_user', [
  post('/external_users', 'createExternalUser', {
    'x-audit': audited('external_user.create'),
    tags,
    summary: 'Create an external user (an end user of the workspace’s app)',
    responses: {
      201: json('The user.', ExternalUser),
      ...problems(400, 403, 409, 413, 415, 422),
    },
    body: CreateUserBody.meta({ id: 'CreateExternalUserBody' }),
    handler: handlers.createExternalUser,
  }),
  get('/external_users', 'listExternalUsers', {
    tags,
    summary: 'List the workspace’s external users, oldest first',
    description:
      'Pages of `limit` users (1 to 200, default 50), oldest first: pass the previous page’s `next_cursor` as ' +
      '`cursor` for the next. A call without `limit` gets the first 50 (`next_cursor` says whether more follow). ' +
      '`name` finds one user.',
    responses: {
      200: jsonPage('One page of users.', ListedExternalUser),
      ...problems(403, 422),
    },
    query: ListExternalUsersQuery,
    handler: handlers.listExternalUsers,
  }),
  patch('/external_users/{name}', 'updateExternalUser', {
    'x-audit': audited('external_user.update'),
    tags,
    summary: 'Replace an external user’s attributes',
    responses: { 200: json('The user as changed.', ExternalUser), ...problems(400, 403, 404, 413, 415, 422) },
    params: pathParams('name'),
    body: UpdateUserBody.meta({ id: 'UpdateExternalUserBody' }),
    handler: handlers.updateExternalUser,
  }),
  del('/external_users/{name}', 'deleteExternalUser', {
    'x-audit': audited('external_user.delete'),
    tags,
    summary: 'Delete an external user with their connections and secrets',
    responses: { 204: noContent, ...problems(403, 404) },
    params: pathParams('name'),
    handler: handlers.deleteExternalUser,
  }),
  get('/external_users/{name}/connections', 'listUserConnections', {
    tags,
    summary: 'List an external user’s connector connections',
    responses: { 200: jsonList('Every connection, oldest first.', UserConnection), ...problems(403, 404) },
    params: pathParams('name'),
    handler: handlers.listUserConnections,
  }),
  put('/external_users/{name}/connections/{instanceId}', 'setUserConnection', {
    'x-audit': audited('user_connection.set'),
    tags,
    summary: 'Create or replace an external user’s credentials for a connector instance',
    responses: {
      200: json('The connection (key names only).', UserConnection),
      ...problems(400, 403, 404, 409, 413, 415, 422),
    },
    params: pathParams('name', 'instanceId'),
    body: ConnectionBody.meta({ id: 'UserConnectionBody' }),
    handler: handlers.setUserConnection,
  }),
  del('/external_users/{name}/connections/{instanceId}', 'deleteUserConnection', {
    'x-audit': audited('user_connection.delete'),
    tags,
    summary: 'Delete an external user’s connection to a connector instance',
    description:
      'Credentials: deleted (204). The person’s own account (`kind: oauth`): a worker revokes the token at the ' +
      'provider when the connector declares a revocation endpoint, and the tokens are deleted whatever the ' +
      'provider answered (200, saying how the revocation went).',
    responses: {
      200: json('An own-account connection ended.', AccountDisconnected),
      204: noContent,
      ...problems(403, 404),
    },
    params: pathParams('name', 'instanceId'),
    handler: handlers.deleteUserConnection,
  }),
  get('/external_users/{name}/secrets', 'listUserSecrets', {
    tags,
    summary: 'List an external user’s own workflow secrets (names only)',
    responses: { 200: jsonList('Every secret of the user.', UserSecretListing), ...problems(403, 404) },
    params: pathParams('name'),
    handler: handlers.listUserSecrets,
  }),
  put('/external_users/{name}/secrets/{secret}', 'setUserSecret', {
    'x-audit': audited('user_secret.set'),
    tags,
    summary: 'Set an external user’s own value of a workflow secret (`$secrets.NAME`)',
    responses: {
      200: json('The secret was stored.', UserSecretWritten),
      ...problems(400, 403, 404, 413, 415, 422),
    },
    params: pathParams('name', 'secret'),
    body: SecretBody.meta({ id: 'UserSecretBody' }),
    handler: handlers.setUserSecret,
  }),
  del('/external_users/{name}/secrets/{secret}', 'deleteUserSecret', {
    'x-audit': audited('user_secret.delete'),
    tags,
    summary: 'Delete an external user’s own value of a workflow secret',
    responses: { 204: noContent, ...problems(403, 404, 422) },
    params: pathParams('name', 'secret'),
    handler: handlers.deleteUserSecret,
  }),
  put('/external_users/{name}/mcp_connections/{serverId}/{external}', 'setUserMcpConnection', {
    'x-audit': audited('user_mcp_connection.set'),
    tags,
    summary: 'Set an external user’s headers for an external MCP server of one of the workspace’s servers',
    responses: {
      200: json('The headers were stored (names only).', UserMcpConnection),
      ...problems(400, 403, 404, 413, 415, 422),
    },
    params: pathParams('name', 'serverId', 'external'),
    body: HeadersBody.meta({ id: 'UserMcpHeadersBody' }),
    handler: handlers.setUserMcpConnection,
  }),
  del('/external_users/{name}/mcp_connections/{serverId}/{external}', 'deleteUserMcpConnection', {
    'x-audit': audited('user_mcp_connection.delete'),
    tags,
    summary: 'Delete an external user’s headers for an external MCP server',
    responses: { 204: noContent, ...problems(403, 404) },
    params: pathParams('name', 'serverId', 'external'),
    handler: handlers.deleteUserMcpConnection,
  }),
]);
