import { z } from 'zod';
import { json, jsonBody, noContent, pathParams, problems, type RouteDoc } from '../../openapi/registry.ts';
import { CreateInstanceBody, UpdateInstanceBody, OAuthUrls } from './schemas.ts';

const timestamp = z.iso.datetime();

const instanceShape = {
  id: z.uuid(),
  connector_id: z.uuid(),
  name: z.string(),
  base_url: z.string().nullable().describe('Replaces the origin of every endpoint; null: the descriptor’s own.'),
  oauth_urls: OAuthUrls.nullable().describe(
    'Where people’s OAuth flows go instead of the document’s endpoints; null: the document’s own.',
  ),
  credential_keys: z.array(z.string()).describe('The credential fields set (the values are never returned).'),
  mcp_server_id: z
    .uuid()
    .nullable()
    .describe(
      'The MCP server generated for it (its connector’s `mcp_config.enabled: true`; deleted with the instance); ' +
        'null: none (MCP not enabled, or `createServer: false`).',
    ),
  mcp_server_name: z
    .string()
    .nullable()
    .describe(
      'That server’s name: the first free one of `<server_name>`, `<server_name>-<instance>`, ' +
        '`<server_name>-<instance>-2`, … (`server_name` and the instance’s name as slugs), so the first instance ' +
        'gets `server_name` itself and the others their own; null: none.',
    ),
  createdAt: timestamp,
  updatedAt: timestamp,
};

/** A connector instance as the API shows it (`present` in connector-instances.ts). */
const ConnectorInstance = z.object(instanceShape).strict().meta({ id: 'ConnectorInstance' });

/** What `POST /connector_instances` answers: the same as `ConnectorInstance` (a name kept for clients of it). */
export const CreatedConnectorInstance = z.object(instanceShape).strict().meta({ id: 'CreatedConnectorInstance' });

/** What `POST /connector_instances/{id}/test` reports. */
const ConnectorTestResult = z
  .object({
    passed: z.boolean(),
    status: z.number().int().nullable().describe('What the upstream answered; null when it did not answer.'),
    expected_status: z.number().int(),
    duration_ms: z.number().int(),
    error: z.string().optional().describe('Why it failed (never a credential value).'),
  })
  .strict()
  .meta({ id: 'ConnectorTestResult' });

const tags = ['connector instances'];

/** The connector-instances routes, for the OpenAPI document (services/control-plane/src/openapi/document.ts). */
export const connectorInstancesRoutes: RouteDoc[] = [
  {
    method: 'post',
    path: '/connector_instances',
    operationId: 'createConnectorInstance',
    'x-audit': { action: 'connector_instance.create', resource: 'connector_instance' },
    tags,
    summary: 'Bind a connector to credentials',
    description:
      'Credentials go to the secrets store. With the descriptor’s `mcp_config.enabled: true` (and `createServer` ' +
      'not false) its MCP server is generated too, in the same transaction, named by the rule of ' +
      '`mcp_server_name` (never a 409: a taken name makes it take the next).',
    request: { body: jsonBody(CreateInstanceBody.meta({ id: 'CreateConnectorInstanceBody' })) },
    responses: {
      201: json('The instance, and the server generated for it.', CreatedConnectorInstance),
      ...problems(400, 403, 413, 415, 422),
    },
  },
  {
    method: 'get',
    path: '/connector_instances',
    operationId: 'listConnectorInstances',
    tags,
    summary: 'List the workspace’s connector instances',
    responses: {
      200: json('Every instance, oldest first.', z.object({ data: z.array(ConnectorInstance) }).strict()),
      ...problems(403),
    },
  },
  {
    method: 'get',
    path: '/connector_instances/{id}',
    operationId: 'getConnectorInstance',
    tags,
    summary: 'Get a connector instance',
    request: { params: pathParams('id') },
    responses: { 200: json('The instance.', ConnectorInstance), ...problems(403, 404) },
  },
  {
    method: 'patch',
    path: '/connector_instances/{id}',
    operationId: 'updateConnectorInstance',
    'x-audit': { action: 'connector_instance.update', resource: 'connector_instance' },
    tags,
    summary: 'Rename an instance, change its base URL or some of its credentials',
    description:
      'Credentials not named keep their values. Every server using the instance gets a new catalog version; ' +
      'workers drop cached credential values.',
    request: {
      params: pathParams('id'),
      body: jsonBody(UpdateInstanceBody.meta({ id: 'UpdateConnectorInstanceBody' })),
    },
    responses: {
      200: json('The instance as changed.', ConnectorInstance),
      ...problems(400, 403, 404, 413, 415, 422),
    },
  },
  {
    method: 'post',
    path: '/connector_instances/{id}/test',
    operationId: 'testConnectorInstance',
    'x-audit': false,
    tags,
    summary: 'Run the descriptor’s test endpoint with the instance’s credentials',
    description:
      'A worker sends the request (the control plane never calls customer APIs). 422 when no authentication ' +
      'method declares a `test_endpoint`.',
    request: { params: pathParams('id') },
    responses: {
      200: json('What the upstream answered.', ConnectorTestResult),
      ...problems(403, 404, 422),
    },
  },
  {
    method: 'delete',
    path: '/connector_instances/{id}',
    operationId: 'deleteConnectorInstance',
    'x-audit': { action: 'connector_instance.delete', resource: 'connector_instance' },
    tags,
    summary: 'Delete a connector instance and its credentials',
    description:
      'The MCP server generated for it (`mcp_server_id`) is deleted with it; other servers built on it lose its ' +
      'tools (with a warning) and are not deleted. While deployed workflows call its operations or tools as steps: ' +
      '409 naming them (ADR 0045).',
    request: { params: pathParams('id') },
    responses: { 204: noContent, ...problems(403, 404, 409) },
  },
];
