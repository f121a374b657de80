import { z } from 'zod';
import { json, jsonBody, noContent, pathParams, problems, type RouteDoc } from '../../openapi/registry.ts';
import { apiKeyScopes } from '@toolplane/contracts';
import { CreateApiKeyBody, UpdateApiKeyBody } from './schemas.ts';

const timestamp = z.iso.datetime();

/** An API key as the API shows it (`present` in handlers.ts); the value itself only in the create response. */
const ApiKey = z
  .object({
    id: z.uuid(),
    name: z.string(),
    prefix: z.string().describe('The first 10 characters of the key, to recognise it.'),
    scopes: z.array(z.enum(apiKeyScopes)),
    serverIds: z.array(z.string()).nullable().describe('The servers the key is limited to; null: every server.'),
    createdAt: timestamp,
    lastUsedAt: timestamp.nullable(),
    revokedAt: timestamp.nullable(),
  })
  .strict()
  .meta({ id: 'ApiKey' });

const CreatedApiKey = ApiKey.extend({ key: z.string().describe('The key; shown once.') })
  .strict()
  .meta({ id: 'CreatedApiKey' });

const tags = ['api keys'];

/** The api-keys routes, for the OpenAPI document (services/control-plane/src/openapi/document.ts). */
export const apiKeysRoutes: RouteDoc[] = [
  {
    method: 'post',
    path: '/api_keys',
    operationId: 'createApiKey',
    'x-audit': { action: 'api_key.create', resource: 'api_key' },
    tags,
    summary: 'Create an API key',
    description: 'A key grants only scopes the calling key has (`server_admin` also by an unrestricted key).',
    request: { body: jsonBody(CreateApiKeyBody.meta({ id: 'CreateApiKeyBody' })) },
    responses: {
      201: json('The key, with its value (shown once).', CreatedApiKey),
      ...problems(400, 403, 413, 415, 422),
    },
  },
  {
    method: 'get',
    path: '/api_keys',
    operationId: 'listApiKeys',
    tags,
    summary: 'List the workspace’s API keys',
    responses: {
      200: json('Every key, oldest first.', z.object({ data: z.array(ApiKey) }).strict()),
      ...problems(403),
    },
  },
  {
    method: 'get',
    path: '/api_keys/{id}',
    operationId: 'getApiKey',
    tags,
    summary: 'Get an API key',
    request: { params: pathParams('id') },
    responses: { 200: json('The key.', ApiKey), ...problems(403, 404) },
  },
  {
    method: 'patch',
    path: '/api_keys/{id}',
    operationId: 'updateApiKey',
    'x-audit': { action: 'api_key.update', resource: 'api_key' },
    tags,
    summary: 'Rename a key, or limit it to servers (null lifts the limit)',
    request: { params: pathParams('id'), body: jsonBody(UpdateApiKeyBody.meta({ id: 'UpdateApiKeyBody' })) },
    responses: { 200: json('The key as changed.', ApiKey), ...problems(400, 403, 404, 409, 413, 415, 422) },
  },
  {
    method: 'delete',
    path: '/api_keys/{id}',
    operationId: 'revokeApiKey',
    'x-audit': { action: 'api_key.revoke', resource: 'api_key' },
    tags,
    summary: 'Revoke an API key (every edge refuses it at once)',
    request: { params: pathParams('id') },
    responses: { 204: noContent, ...problems(403, 404) },
  },
];
