import { z } from 'zod';
import { json, jsonBody, noContent, pathParams, problems, type RouteDoc } from '../openapi/registry.ts';
import { CreateInstanceBody, UpdateInstanceBody } from './connector-instances.ts';

const timestamp = z.iso.datetime();

const instanceShape = {
  id: z.uuid(),
  connector_id: z.uuid(),
  name: z.string(),
  base_url: z.string().nullable().describe('Replaces the origin of every endpoint; null: the descriptor’s own.'),
  credential_keys: z.array(z.string()).describe('The credential fields set (the values are never returned).'),
  createdAt: timestamp,
  updatedAt: timestamp,
};

/** A connector instance as the API shows it (`present` in connector-instances.ts). */
const ConnectorInstance = z.object(instanceShape).strict().meta({ id: 'ConnectorInstance' });

const CreatedConnectorInstance = z
  .object({
    ...instanceShape,
    mcp_server_id: z
      .uuid()
      .nullable()
      .describe('The MCP server created with it (the descriptor’s `mcp_config.enabled: true`); null: none.'),
  })
  .strict()
  .meta({ id: 'CreatedConnectorInstance' });

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
    tags,
    summary: 'Bind a connector to credentials',
    description:
      'Credentials go to the secrets store. With the descriptor’s `mcp_config.enabled: true` (and `createServer` ' +
      'not false) its MCP server is created too; 409 when that name is taken.',
    request: { body: jsonBody(CreateInstanceBody.meta({ id: 'CreateConnectorInstanceBody' })) },
    responses: {
      201: json('The instance, and the id of the server created with it.', CreatedConnectorInstance),
      ...problems(400, 403, 409, 413, 415, 422),
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
    tags,
    summary: 'Delete a connector instance and its credentials',
    description: 'Servers built on it lose its tools (with a warning); they are not deleted.',
    request: { params: pathParams('id') },
    responses: { 204: noContent, ...problems(403, 404) },
  },
];
