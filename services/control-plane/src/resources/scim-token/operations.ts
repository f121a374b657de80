import { audited, json, noContent, problems } from '../../openapi/registry.ts';
import { fourEyes } from '../change-requests/four-eyes.ts';
import { del, get, post, type Operation } from '../operation.ts';
import * as handlers from './handlers.ts';
import { CreatedScimToken, ScimToken } from './openapi.ts';

const tags = ['scim'];

/**
 * The workspace's SCIM token (ADR 0062): the bearer token its identity provider uses on `/scim/v2` (SCIM 2.0, outside
 * this API and its document) to create, update, deactivate and delete people and groups. One per workspace. A new
 * token is a new credential that adds people and the groups policies and roles name: with four eyes on, it waits for
 * approval (ADR 0087).
 */
export const scimTokenOperations: Operation[] = fourEyes('scim_token', [
  post('/scim_token', 'rotateScimToken', {
    'x-audit': audited('scim_token.rotate'),
    tags,
    summary: 'Create the workspace’s SCIM token, replacing any earlier one',
    description: 'The earlier token stops working at once. The value is shown once.',
    responses: { 201: json('The token, with its value (shown once).', CreatedScimToken), ...problems(403) },
    handler: handlers.rotateScimToken,
  }),
  get('/scim_token', 'getScimToken', {
    tags,
    summary: 'Get the workspace’s SCIM token (never its value)',
    responses: { 200: json('The token.', ScimToken), ...problems(403, 404) },
    handler: handlers.getScimToken,
  }),
  del('/scim_token', 'deleteScimToken', {
    'x-audit': audited('scim_token.delete'),
    tags,
    summary: 'Delete the workspace’s SCIM token (the identity provider is refused from then on)',
    responses: { 204: noContent, ...problems(403, 404) },
    handler: handlers.deleteScimToken,
  }),
]);
