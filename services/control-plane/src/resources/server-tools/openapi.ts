import { ToolDefinition } from '@toolplane/contracts';
import { z } from 'zod';
import { json, pathParams, problems, type RouteDoc } from '../../openapi/registry.ts';

/** Where a tool comes from: a connector instance, a workflow deployment or an external MCP server. */
const ToolSource = z
  .discriminatedUnion('kind', [
    z
      .object({
        kind: z.literal('connector_instance'),
        instanceId: z.uuid().optional().describe('Absent in catalog versions compiled before instances were named.'),
        instance: z.string().describe('The instance’s name.'),
        connector: z.string().describe('Its connector’s slug.'),
      })
      .strict(),
    z
      .object({
        kind: z.literal('workflow'),
        deploymentId: z.string().describe('The deployment (`/mcp_servers/{id}/deployments`).'),
        workflowId: z.string(),
        document: z.string().describe('The id of the Flower or Arazzo document.'),
      })
      .strict(),
    z
      .object({
        kind: z.literal('external_mcp_server'),
        server: z.string().describe('The external MCP server’s name.'),
        url: z.string(),
        remoteTool: z.string().describe('The tool’s name on that server (the exposed name may carry a prefix).'),
      })
      .strict(),
  ])
  .meta({ id: 'ToolSource' });

/** A tool with its MCP definition, its source and its confirmation (`present` in server-tools/handlers.ts). */
const SourcedTool = ToolDefinition.extend({
  source: ToolSource,
  confirm: z
    .boolean()
    .describe(
      'A person confirms each call first (the server’s `confirmTools`); always false for a connector instance’s ' +
        'tools (no server yet).',
    ),
  confirmSuggested: z
    .boolean()
    .describe(
      'Confirmation is suggested for this tool: an HTTP DELETE, a POST without an idempotency key, or a tool ' +
        'annotated `destructiveHint: true`.',
    ),
}).meta({ id: 'SourcedTool' });

const ServerTools = z
  .object({
    serverId: z.uuid(),
    mode: z.enum(['SMART', 'NORMAL']),
    catalogVersion: z.number().int().describe('The live catalog version the tools are read from.'),
    data: z.array(SourcedTool).describe('The tools, as the edge serves them (SMART: the searchable catalog).'),
    warnings: z.array(z.string()).optional(),
  })
  .strict()
  .meta({ id: 'ServerTools' });

const InstanceTools = z
  .object({
    instanceId: z.uuid(),
    connector: z.string().describe('The slug of the instance’s connector.'),
    data: z.array(SourcedTool).describe('Every tool of the instance; [] when its connector does not enable MCP.'),
  })
  .strict()
  .meta({ id: 'InstanceTools' });

/** The tool-listing routes, for the OpenAPI document (services/control-plane/src/openapi/document.ts). */
export const serverToolsRoutes: RouteDoc[] = [
  {
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
    request: { params: z.object({ id: z.string().describe('The server’s id, or its name.') }) },
    responses: { 200: json('The server’s tools.', ServerTools), ...problems(403, 404) },
  },
  {
    method: 'get',
    path: '/connector_instances/{id}/tools',
    operationId: 'listConnectorInstanceTools',
    tags: ['connector instances'],
    summary: 'List a connector instance’s tools with their schemas',
    description:
      'Every tool the instance gives, compiled as for a NORMAL server bound to it without `selectedTools`: what a ' +
      'server would expose before narrowing.',
    request: { params: pathParams('id') },
    responses: { 200: json('The instance’s tools.', InstanceTools), ...problems(403, 404) },
  },
];
