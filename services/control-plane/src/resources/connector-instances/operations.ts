import { audited, json, jsonList, noContent, pathParams, problems } from '../../openapi/registry.ts';
import { del, get, patch, post, type Operation } from '../operation.ts';
import * as handlers from './handlers.ts';
import { ConnectorInstance, ConnectorTestResult, CreatedConnectorInstance } from './openapi.ts';
import { CreateInstanceBody, UpdateInstanceBody } from './schemas.ts';

const tags = ['connector instances'];

/**
 * Connector instances: a connector with a base URL and credentials (kept in the secrets store, never returned), and the
 * MCP server generated for it when its connector's `mcp_config` enables one (catalog/instance-servers.ts, ADR 0024).
 */
export const connectorInstancesOperations: Operation[] = [
  post('/connector_instances', 'createConnectorInstance', {
    'x-audit': audited('connector_instance.create'),
    tags,
    summary: 'Bind a connector to credentials',
    description:
      'Credentials go to the secrets store. With the descriptor’s `mcp_config.enabled: true` (and `createServer` ' +
      'not false) its MCP server is generated too, in the same transaction, named by the rule of ' +
      '`mcp_server_name` (never a 409: a taken name makes it take the next).',
    responses: {
      201: json('The instance, and the server generated for it.', CreatedConnectorInstance),
      ...problems(400, 403, 413, 415, 422),
    },
    body: CreateInstanceBody.meta({ id: 'CreateConnectorInstanceBody' }),
    handler: handlers.createConnectorInstance,
  }),
  get('/connector_instances', 'listConnectorInstances', {
    tags,
    summary: 'List the workspace’s connector instances',
    responses: {
      200: jsonList('Every instance, oldest first.', ConnectorInstance),
      ...problems(403),
    },
    handler: handlers.listConnectorInstances,
  }),
  get('/connector_instances/{id}', 'getConnectorInstance', {
    tags,
    summary: 'Get a connector instance',
    responses: { 200: json('The instance.', ConnectorInstance), ...problems(403, 404) },
    params: pathParams('id'),
    handler: handlers.getConnectorInstance,
  }),
  patch('/connector_instances/{id}', 'updateConnectorInstance', {
    'x-audit': audited('connector_instance.update'),
    tags,
    summary: 'Rename an instance, change its base URL or some of its credentials',
    description:
      'Credentials not named keep their values. Every server using the instance gets a new catalog version; ' +
      'workers drop cached credential values. Changing `base_url` or `oauth_urls` (where the stored credentials ' +
      'are sent) needs a caller who may write the workspace’s secrets (403 otherwise; ADR 0073).',
    responses: {
      200: json('The instance as changed.', ConnectorInstance),
      ...problems(400, 403, 404, 413, 415, 422),
    },
    params: pathParams('id'),
    body: UpdateInstanceBody.meta({ id: 'UpdateConnectorInstanceBody' }),
    handler: handlers.updateConnectorInstance,
  }),
  post('/connector_instances/{id}/test', 'testConnectorInstance', {
    'x-audit': false,
    tags,
    summary: 'Run the descriptor’s test endpoint with the instance’s credentials',
    description:
      'A worker sends the request (the control plane never calls customer APIs). 422 when no authentication ' +
      'method declares a `test_endpoint`.',
    responses: {
      200: json('What the upstream answered.', ConnectorTestResult),
      ...problems(403, 404, 422),
    },
    params: pathParams('id'),
    handler: handlers.testConnectorInstance,
  }),
  del('/connector_instances/{id}', 'deleteConnectorInstance', {
    'x-audit': audited('connector_instance.delete'),
    tags,
    summary: 'Delete a connector instance and its credentials',
    description:
      'The MCP server generated for it (`mcp_server_id`) is deleted with it; other servers built on it lose its ' +
      'tools (with a warning) and are not deleted. While deployed workflows call its operations or tools as steps: ' +
      '409 naming them (ADR 0045).',
    responses: { 204: noContent, ...problems(403, 404, 409) },
    params: pathParams('id'),
    handler: handlers.deleteConnectorInstance,
  }),
];
