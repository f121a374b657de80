import { pathParams } from '../../openapi/registry.ts';
import type { Input, Operation } from '../operation.ts';
import { rowOperations } from '../row-operations.ts';
import * as handlers from './handlers.ts';
import { ApiKey, CreatedApiKey } from './openapi.ts';
import { CreateApiKeyBody, UpdateApiKeyBody } from './schemas.ts';
import { fourEyes } from '../change-requests/four-eyes.ts';

const rows = rowOperations({
  path: '/api_keys',
  tags: ['api keys'],
  audit: 'api_key',
  one: 'ApiKey',
  many: 'ApiKeys',
  noun: 'key',
  row: ApiKey,
  params: pathParams('id'),
});

/**
 * The workspace's API keys: created with scopes the caller has (its value shown once), optionally limited to
 * servers; renamed, restricted and revoked with effect on every edge at once (keys.ts publishes them to Redis).
 */
export const apiKeysOperations: Operation[] = fourEyes(
  'api_key',
  [
    rows.create({
      summary: 'Create an API key',
      description: 'A key grants only scopes the calling key has (`server_admin` also by an unrestricted key).',
      answer: ['The key, with its value (shown once).', CreatedApiKey],
      problems: [400, 403, 413, 415, 422],
      body: CreateApiKeyBody.meta({ id: 'CreateApiKeyBody' }),
      handler: handlers.issueApiKey,
    }),
    rows.list({
      summary: 'List the workspace’s API keys',
      answer: 'Every key, oldest first.',
      handler: handlers.listApiKeys,
    }),
    rows.get({ summary: 'Get an API key', handler: handlers.getApiKey }),
    rows.update({
      summary: 'Rename a key, limit it to servers (null lifts the limit), or switch it to the staging twin',
      body: UpdateApiKeyBody.meta({ id: 'UpdateApiKeyBody' }),
      handler: handlers.updateApiKey,
    }),
    rows.delete({
      summary: 'Revoke an API key (every edge refuses it at once)',
      as: ['revokeApiKey', 'revoke'],
      handler: handlers.revokeApiKey,
    }),
  ],
  // What the handler refuses is refused before a creation is held.
  { checks: { createApiKey: (deps, input) => handlers.checkNewKey(deps, input as Input<CreateApiKeyBody>) } },
);
