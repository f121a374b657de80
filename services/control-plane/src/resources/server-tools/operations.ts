import { z } from 'zod';
import { json, pathParams, problems } from '../../openapi/registry.ts';
import { get, operation, type Operation } from '../operation.ts';
import * as handlers from './handlers.ts';
import { InstanceTools, ServerTools } from './openapi.ts';

/**
 * The tools of a server as it exposes them, and the tools a connector instance gives (one table, its paths under two
 * resources).
 */
export const serverToolsOperations: Operation[] = [
  operation({
    route: {
      method: 'get',
      path: '/mcp_manager/{id}/tools',
      'x-server-limited-keys': 'own_server',
      operationId: 'listServerTools',
      tags: ['mcp servers'],
      summary: 'List an MCP server’s tools with their schemas and sources',
      description:
        'The tools of the live catalog version as the edge serves them: name, title, description, input and output ' +
        'schemas, annotations, and where each comes from (a connector instance, a workflow deployment, an external ' +
        'MCP server). A SMART server lists the searchable catalog its meta tools act on.',
      responses: { 200: json('The server’s tools.', ServerTools), ...problems(403, 404) },
    },
    params: z.object({ id: z.string().describe('The server’s id, or its name.') }),
    handler: handlers.listServerTools,
  }),
  get('/connector_instances/{id}/tools', 'listConnectorInstanceTools', {
    tags: ['connector instances'],
    summary: 'List a connector instance’s tools with their schemas',
    description:
      'Every tool the instance gives, compiled as for a NORMAL server bound to it without `selectedTools`: what a ' +
      'server would expose before narrowing.',
    responses: { 200: json('The instance’s tools.', InstanceTools), ...problems(403, 404) },
    params: pathParams('id'),
    handler: handlers.listInstanceTools,
  }),
];
