import { dataLabels, labelSources, ToolDefinition } from '@toolplane/contracts';
import { z } from 'zod';

/** Where a tool comes from: a connector instance, a workflow deployment or an external MCP server. */
const ToolSource = z
  .discriminatedUnion('kind', [
    z.strictObject({
      kind: z.literal('connector_instance'),
      instanceId: z.uuid().optional().describe('Absent in catalog versions compiled before instances were named.'),
      instance: z.string().describe('The instance’s name.'),
      connector: z.string().describe('Its connector’s slug.'),
    }),
    z.strictObject({
      kind: z.literal('workflow'),
      deploymentId: z.string().describe('The deployment (`/mcp_servers/{id}/deployments`).'),
      workflowId: z.string(),
      document: z.string().describe('The id of the Flower or Arazzo document.'),
    }),
    z.strictObject({
      kind: z.literal('external_mcp_server'),
      server: z.string().describe('The external MCP server’s name.'),
      url: z.string(),
      remoteTool: z.string().describe('The tool’s name on that server (the exposed name may carry a prefix).'),
    }),
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
  cost: z
    .number()
    .int()
    .min(0)
    .describe(
      'What one call costs against cost quotas (ADR 0048): the operation’s `x-toolplane-cost`, a descriptor ' +
        'operation’s `cost`, a workflow’s declared cost or its steps’; 1 when none is declared. Agents never see it.',
    ),
  labels: z
    .array(z.strictObject({ label: z.enum(dataLabels), source: z.enum(labelSources) }).meta({ id: 'ToolDataLabel' }))
    .describe(
      'Its data-flow labels (ADR 0078, docs/governance.md “Where a tool’s labels come from”): what each result ' +
        'brings into the caller’s session (`private`, `untrusted`) and what it sends out (`public_write`, ' +
        '`external_write`), each with its source: `declared` (a route’s `labels`, an operation’s ' +
        '`x-toolplane-labels`, a workflow’s steps’), `classification` (the server’s `config.dataLabels`) or ' +
        '`annotation` (an external tool’s `openWorldHint`). Agents never see them.',
    ),
}).meta({ id: 'SourcedTool' });

export const ServerTools = z
  .strictObject({
    serverId: z.uuid(),
    mode: z.enum(['SMART', 'NORMAL']),
    catalogVersion: z.number().int().describe('The live catalog version the tools are read from.'),
    data: z.array(SourcedTool).describe('The tools, as the edge serves them (SMART: the searchable catalog).'),
    warnings: z.array(z.string()).optional(),
  })
  .meta({ id: 'ServerTools' });

export const InstanceTools = z
  .strictObject({
    instanceId: z.uuid(),
    connector: z.string().describe('The slug of the instance’s connector.'),
    data: z.array(SourcedTool).describe('Every tool of the instance; [] when its connector does not enable MCP.'),
  })
  .meta({ id: 'InstanceTools' });
