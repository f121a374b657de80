import { z } from 'zod';
import { json, jsonBody, noContent, pathParams, problems, type RouteDoc } from '../openapi/registry.ts';
import { CreateBody, PutBody } from './secrets.ts';

const timestamp = z.iso.datetime();

const CreateSecretBody = CreateBody.meta({ id: 'CreateSecretBody' });
const PutSecretBody = PutBody.meta({ id: 'PutSecretBody' });

/** What the API shows of a secret (`presenter` in secrets.ts): names, versions and times, never the value. */
const secretFields = {
  name: z.string().describe('The secret’s name (`$secrets.NAME`).'),
  version: z.string().describe('Id of the current version.'),
  versions: z
    .array(
      z
        .object({
          id: z.string(),
          stages: z
            .array(z.enum(['current', 'previous']))
            .describe('`current`: the value in use; `previous`: the one it replaced.'),
        })
        .strict(),
    )
    .describe('Versions the store still holds, current first.'),
  created_at: timestamp,
  updated_at: timestamp,
};

const WorkspaceSecret = z
  .object({ ...secretFields, scope: z.literal('workspace') })
  .strict()
  .meta({ id: 'WorkspaceSecret' });

const ServerSecret = z
  .object({ ...secretFields, scope: z.literal('mcp_server'), mcp_server_id: z.uuid() })
  .strict()
  .meta({ id: 'ServerSecret' });

const tags = ['secrets'];

/** `{id}` of the server routes: the server's id or name. */
const serverParams = (...names: 'name'[]) =>
  pathParams('id', ...names).extend({ id: z.string().describe('The MCP server’s id or name.') });

/** The secrets routes, for the OpenAPI document (services/control-plane/src/openapi/document.ts). */
export const secretsRoutes: RouteDoc[] = [
  {
    method: 'get',
    path: '/secrets',
    operationId: 'listSecrets',
    tags,
    summary: 'List the workspace’s secrets (metadata only)',
    responses: {
      200: json(
        'Every workspace secret (server secrets are not listed).',
        z.object({ data: z.array(WorkspaceSecret) }).strict(),
      ),
      ...problems(403),
    },
  },
  {
    method: 'post',
    path: '/secrets',
    operationId: 'createSecret',
    tags,
    summary: 'Create a workspace secret',
    description: 'The value goes to the secrets store and never comes back.',
    request: { body: jsonBody(CreateSecretBody) },
    responses: {
      201: json('The secret’s metadata.', WorkspaceSecret),
      ...problems(400, 403, 409, 413, 415, 422),
    },
  },
  {
    method: 'get',
    path: '/secrets/{name}',
    operationId: 'getSecret',
    tags,
    summary: 'Get a workspace secret’s metadata',
    request: { params: pathParams('name') },
    responses: { 200: json('The secret’s metadata.', WorkspaceSecret), ...problems(403, 404, 422) },
  },
  {
    method: 'put',
    path: '/secrets/{name}',
    operationId: 'setSecret',
    tags,
    summary: 'Create or rotate a workspace secret',
    description: 'The value becomes a new version; the previous one stays in the store as `previous`.',
    request: { params: pathParams('name'), body: jsonBody(PutSecretBody) },
    responses: {
      200: json('Rotated: the secret’s metadata.', WorkspaceSecret),
      201: json('Created: the secret’s metadata.', WorkspaceSecret),
      ...problems(400, 403, 413, 415, 422),
    },
  },
  {
    method: 'delete',
    path: '/secrets/{name}',
    operationId: 'deleteSecret',
    tags,
    summary: 'Delete a workspace secret',
    request: { params: pathParams('name') },
    responses: { 204: noContent, ...problems(403, 404, 422) },
  },
  {
    method: 'get',
    path: '/mcp_servers/{id}/secrets',
    operationId: 'listServerSecrets',
    tags,
    summary: 'List an MCP server’s secrets (metadata only)',
    request: { params: serverParams() },
    responses: {
      200: json('Every secret of the server.', z.object({ data: z.array(ServerSecret) }).strict()),
      ...problems(403, 404),
    },
  },
  {
    method: 'post',
    path: '/mcp_servers/{id}/secrets',
    operationId: 'createServerSecret',
    tags,
    summary: 'Create a secret of an MCP server (`$secrets.NAME` of its workflows)',
    description: 'The value goes to the secrets store and never comes back.',
    request: { params: serverParams(), body: jsonBody(CreateSecretBody) },
    responses: {
      201: json('The secret’s metadata.', ServerSecret),
      ...problems(400, 403, 404, 409, 413, 415, 422),
    },
  },
  {
    method: 'get',
    path: '/mcp_servers/{id}/secrets/{name}',
    operationId: 'getServerSecret',
    tags,
    summary: 'Get an MCP server secret’s metadata',
    request: { params: serverParams('name') },
    responses: { 200: json('The secret’s metadata.', ServerSecret), ...problems(403, 404, 422) },
  },
  {
    method: 'put',
    path: '/mcp_servers/{id}/secrets/{name}',
    operationId: 'setServerSecret',
    tags,
    summary: 'Create or rotate an MCP server secret',
    description: 'The value becomes a new version; the previous one stays in the store as `previous`.',
    request: { params: serverParams('name'), body: jsonBody(PutSecretBody) },
    responses: {
      200: json('Rotated: the secret’s metadata.', ServerSecret),
      201: json('Created: the secret’s metadata.', ServerSecret),
      ...problems(400, 403, 404, 413, 415, 422),
    },
  },
  {
    method: 'delete',
    path: '/mcp_servers/{id}/secrets/{name}',
    operationId: 'deleteServerSecret',
    tags,
    summary: 'Delete an MCP server secret',
    request: { params: serverParams('name') },
    responses: { 204: noContent, ...problems(403, 404, 422) },
  },
];
