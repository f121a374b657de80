import { json, jsonList, noContent, pathParams, problems } from '../../openapi/registry.ts';
import { operation, type Operation } from '../operation.ts';
import * as handlers from './handlers.ts';
import { ApiKey, CreatedApiKey } from './openapi.ts';
import { CreateApiKeyBody, UpdateApiKeyBody } from './schemas.ts';

const tags = ['api keys'];

/**
 * The workspace's API keys: created with scopes the caller has (its value shown once), optionally limited to
 * servers; renamed, restricted and revoked with effect on every edge at once (keys.ts publishes them to Redis).
 */
export const apiKeysOperations: Operation[] = [
  operation({
    route: {
      method: 'post',
      path: '/api_keys',
      operationId: 'createApiKey',
      'x-audit': { action: 'api_key.create', resource: 'api_key' },
      tags,
      summary: 'Create an API key',
      description: 'A key grants only scopes the calling key has (`server_admin` also by an unrestricted key).',
      responses: {
        201: json('The key, with its value (shown once).', CreatedApiKey),
        ...problems(400, 403, 413, 415, 422),
      },
    },
    body: CreateApiKeyBody.meta({ id: 'CreateApiKeyBody' }),
    handler: handlers.issueApiKey,
  }),
  operation({
    route: {
      method: 'get',
      path: '/api_keys',
      operationId: 'listApiKeys',
      tags,
      summary: 'List the workspace’s API keys',
      responses: { 200: jsonList('Every key, oldest first.', ApiKey), ...problems(403) },
    },
    handler: handlers.listApiKeys,
  }),
  operation({
    route: {
      method: 'get',
      path: '/api_keys/{id}',
      operationId: 'getApiKey',
      tags,
      summary: 'Get an API key',
      responses: { 200: json('The key.', ApiKey), ...problems(403, 404) },
    },
    params: pathParams('id'),
    handler: handlers.getApiKey,
  }),
  operation({
    route: {
      method: 'patch',
      path: '/api_keys/{id}',
      operationId: 'updateApiKey',
      'x-audit': { action: 'api_key.update', resource: 'api_key' },
      tags,
      summary: 'Rename a key, or limit it to servers (null lifts the limit)',
      responses: { 200: json('The key as changed.', ApiKey), ...problems(400, 403, 404, 409, 413, 415, 422) },
    },
    params: pathParams('id'),
    body: UpdateApiKeyBody.meta({ id: 'UpdateApiKeyBody' }),
    handler: handlers.updateApiKey,
  }),
  operation({
    route: {
      method: 'delete',
      path: '/api_keys/{id}',
      operationId: 'revokeApiKey',
      'x-audit': { action: 'api_key.revoke', resource: 'api_key' },
      tags,
      summary: 'Revoke an API key (every edge refuses it at once)',
      responses: { 204: noContent, ...problems(403, 404) },
    },
    params: pathParams('id'),
    handler: handlers.revokeApiKey,
  }),
];
