import { ToolDefinition } from '@toolplane/contracts';
import { z } from 'zod';
import { json, jsonBody, noContent, problems, Problem, type RouteDoc } from '../../openapi/registry.ts';
import { CatalogVersionsQuery, CreateServerBody, ListQuery, LoadToolsBody, UpdateServerBody } from './schemas.ts';

const timestamp = z.iso.datetime();

/** Servers are addressed by id or by name. */
const ServerParams = z.object({ id: z.string().describe('The server’s id, or its name.') });

const mode = z.enum(['SMART', 'NORMAL']);

/** An external MCP server merged into a server (header values are secrets: only their names). */
const ExternalMcpConfig = z
  .object({
    name: z.string(),
    url: z.string(),
    tools: z.array(z.string()).describe('The tools taken from it; [] = all of them.'),
    headerNames: z.array(z.string()),
  })
  .strict()
  .meta({ id: 'ExternalMcpConfig' });

/** A registered external MCP server a server uses (`externalMcpServers`; header values are secrets: only their names). */
const UsedExternalMcpServer = z
  .object({
    id: z.uuid().describe('The registered server (`/external_mcp_servers/{id}`).'),
    name: z.string(),
    url: z.string(),
    tools: z.array(z.string()).describe('The tools taken from it; [] = all of them.'),
    headerNames: z.array(z.string()),
  })
  .strict()
  .meta({ id: 'UsedExternalMcpServer' });

const serverShape = {
  id: z.uuid(),
  name: z.string(),
  description: z.string().nullable(),
  mode,
  selectedTools: z.array(z.string()),
  confirmTools: z
    .array(z.string())
    .describe(
      'Tools a person confirms before each call: the edge asks the caller’s client (MCP elicitation, form mode) and ' +
        'sends the call only after "accept"; [] by default.',
    ),
  connectorInstanceId: z.uuid().nullable(),
  isPublic: z.boolean(),
  perRequestAuth: z
    .boolean()
    .describe(
      'Callers may pass their own upstream credential with a call (`X-Upstream-Authorization`), used instead of ' +
        'the stored credentials of connector and OpenAPI tools; false: a call with the header is refused.',
    ),
  config: z
    .record(z.string(), z.unknown())
    .nullable()
    .describe(
      'Settings: `exposeCallerToken` (workflows may read the caller’s OAuth token as `$current_user.token`), ' +
        '`taskOnlyTools` (names of tools that run only as durable tasks: a client without the Tasks extension is ' +
        'refused them with -32021).',
    ),
  catalogVersion: z.number().int().describe('The live catalog version.'),
  fromDescriptor: z.boolean().describe('Created with its connector instance from the descriptor’s `mcp_config`.'),
  url: z.string().describe('The MCP endpoint on the edge.'),
  externalMcpConfigs: z.array(ExternalMcpConfig),
  externalMcpServers: z
    .array(UsedExternalMcpServer)
    .describe('The external MCP servers registered on the workspace that this server uses, by name.'),
  createdAt: timestamp,
  updatedAt: timestamp,
};

/** A server as the list shows it (`presentServer` in present.ts without the live catalog). */
const McpServerSummary = z.object(serverShape).strict().meta({ id: 'McpServerSummary' });

/** A server with what its live catalog exposes (`presentServer` with the live catalog). */
const McpServer = z
  .object({
    ...serverShape,
    tools: z.array(z.string()).optional().describe('The names of the tools of the live catalog.'),
    warnings: z
      .array(z.string())
      .optional()
      .describe('Problems met while compiling the catalog (a deleted tool source, an unreachable external server).'),
  })
  .strict()
  .meta({ id: 'McpServer' });

const McpServerList = z
  .object({
    data: z.array(McpServerSummary),
    pagination: z
      .object({
        page: z.number().int().optional().describe('Absent when paging by cursor.'),
        limit: z.number().int(),
        total: z.number().int(),
        nextCursor: z.uuid().nullable().describe('Pass as `cursor` for the next page; null: no more.'),
      })
      .strict(),
  })
  .strict()
  .meta({ id: 'McpServerList' });

const Tool = ToolDefinition.meta({ id: 'ToolDefinition' });

/** `GET /mcp_manager/{id}/config`: what an MCP client of the server sees. */
const McpServerConfig = z
  .object({
    id: z.uuid(),
    mode,
    catalogVersion: z.number().int(),
    serverInfo: z.object({ name: z.string() }).strict(),
    instructions: z.string().optional(),
    tools: z.array(Tool).describe('`tools/list`: for a SMART server, the meta tools.'),
    catalog: z
      .object({ tools: z.array(Tool) })
      .strict()
      .optional()
      .describe('SMART servers: the searchable catalog the meta tools act on.'),
    externalMcpConfigs: z.array(ExternalMcpConfig),
    externalMcpServers: z.array(UsedExternalMcpServer),
    warnings: z.array(z.string()).optional(),
  })
  .strict()
  .meta({ id: 'McpServerConfig' });

const RemoteTools = z
  .object({
    url: z.string(),
    transport: z.enum(['streamable-http', 'sse']).optional().describe('The transport the server answered on.'),
    tools: z.array(z.record(z.string(), z.unknown())).describe('The tools as the server listed them (MCP format).'),
    fetchedAt: timestamp,
    cached: z.boolean().describe('Served from the cache of the same URL and headers.'),
  })
  .strict()
  .meta({ id: 'RemoteTools' });

/** `GET /mcp_manager/{id}/catalog_versions`: the server's catalog versions, newest first. */
const CatalogVersionList = z
  .object({
    data: z.array(
      z
        .object({
          version: z.number().int(),
          createdAt: timestamp,
          live: z.boolean().describe('The version the server serves now.'),
          previousVersion: z
            .number()
            .int()
            .nullable()
            .describe('The version `added` and `removed` compare with; null for the first one.'),
          tools: z.array(z.string()).describe('The names of the version’s tools (SMART: its searchable catalog).'),
          added: z.array(z.string()).describe('Tools not in the previous version.'),
          removed: z.array(z.string()).describe('Tools of the previous version no longer in this one.'),
          warnings: z.array(z.string()).optional(),
        })
        .strict()
        .meta({ id: 'CatalogVersionSummary' }),
    ),
    nextBefore: z.number().int().nullable().describe('Pass as `before` for the older versions; null: no more.'),
  })
  .strict()
  .meta({ id: 'CatalogVersionList' });

const tags = ['mcp servers'];

/** The servers routes, for the OpenAPI document (services/control-plane/src/openapi/document.ts). */
export const serversRoutes: RouteDoc[] = [
  {
    method: 'post',
    path: '/mcp_manager/load-tools-from-url',
    operationId: 'loadToolsFromUrl',
    'x-audit': false,
    tags,
    summary: 'Preview the tools of an external MCP server',
    description:
      'A worker connects to the server (the control plane has no egress); lists are cached per URL and headers ' +
      'for `cacheMinutes`. 502 when the server cannot be reached.',
    request: { body: jsonBody(LoadToolsBody.meta({ id: 'LoadToolsFromUrlBody' })) },
    responses: {
      200: json('The server’s tools.', RemoteTools),
      ...problems(400, 403, 413, 415, 422),
      502: {
        description: 'The MCP server could not be reached or listed: `upstream.unreachable`.',
        content: { 'application/problem+json': { schema: Problem } },
      },
    },
  },
  {
    method: 'post',
    path: '/mcp_manager',
    operationId: 'createServer',
    'x-audit': { action: 'server.create', resource: 'server' },
    tags,
    summary: 'Create an MCP server',
    description:
      'NORMAL servers expose a connector instance’s tools (narrowed by `selectedTools`), workspace tools picked ' +
      'by name, or a workflow deployment’s; SMART servers expose meta tools over the workspace’s tools. External ' +
      'MCP servers are merged in from `externalMcpConfigs` (stored on this server) and `externalMcpServers` (registered ' +
      'on the workspace, by name: 422 for an unknown one). `confirmTools` names tools a person confirms before each ' +
      'call (422 for a tool the server does not expose). A name already used is a 409.',
    request: { body: jsonBody(CreateServerBody.meta({ id: 'CreateServerBody' })) },
    responses: {
      201: json('The server, with its first catalog’s tools.', McpServer),
      ...problems(400, 403, 409, 413, 415, 422),
    },
  },
  {
    method: 'get',
    path: '/mcp_manager',
    'x-server-limited-keys': 'filtered',
    operationId: 'listServers',
    tags,
    summary: 'List the workspace’s MCP servers',
    description:
      'By page (`page`, `limit`) or by cursor (`cursor` = the last id seen, `limit`), oldest first. A key limited ' +
      'to servers sees those only.',
    request: { query: ListQuery.meta({ id: 'ListServersQuery' }) },
    responses: { 200: json('A page of servers.', McpServerList), ...problems(403, 422) },
  },
  {
    method: 'get',
    path: '/mcp_manager/{id}',
    'x-server-limited-keys': 'own_server',
    operationId: 'getServer',
    tags,
    summary: 'Get an MCP server',
    request: { params: ServerParams },
    responses: { 200: json('The server, with its live catalog’s tools.', McpServer), ...problems(403, 404) },
  },
  {
    method: 'patch',
    path: '/mcp_manager/{id}',
    'x-server-limited-keys': 'own_server',
    operationId: 'updateServer',
    'x-audit': { action: 'server.update', resource: 'server' },
    tags,
    summary: 'Change an MCP server (omitted fields are kept; a null description clears it)',
    description:
      'A change of what the server exposes makes a new catalog version. A key limited to servers needs the ' +
      '`server_admin` scope to change `mode`, `isPublic`, `perRequestAuth`, `connectorInstanceId`, `selectedTools`, ' +
      '`confirmTools`, `externalMcpConfigs`, `externalMcpServers` or `config` (403). `confirmTools` replaces the ' +
      'list of tools a person confirms before each call (422 for a tool the server does not expose).',
    request: { params: ServerParams, body: jsonBody(UpdateServerBody.meta({ id: 'UpdateServerBody' })) },
    responses: {
      200: json('The server as changed.', McpServer),
      ...problems(400, 403, 404, 409, 413, 415, 422),
    },
  },
  {
    method: 'delete',
    path: '/mcp_manager/{id}',
    'x-server-limited-keys': 'server_admin',
    operationId: 'deleteServer',
    'x-audit': { action: 'server.delete', resource: 'server' },
    tags,
    summary: 'Delete an MCP server, its catalog versions and deployments',
    description: 'While workflows deployed on other servers call its tools as steps: 409 naming them (ADR 0045).',
    request: { params: ServerParams },
    responses: { 204: noContent, ...problems(403, 404, 409) },
  },
  {
    method: 'get',
    path: '/mcp_manager/{id}/config',
    'x-server-limited-keys': 'own_server',
    operationId: 'getServerConfig',
    tags,
    summary: 'What an MCP client of the server sees',
    description:
      '`serverInfo`, `instructions` and `tools/list` in standard MCP tool format (SMART: the meta tools, and the ' +
      'searchable catalog under `catalog`).',
    request: { params: ServerParams },
    responses: { 200: json('The server’s MCP configuration.', McpServerConfig), ...problems(403, 404) },
  },
  {
    method: 'get',
    path: '/mcp_manager/{id}/catalog_versions',
    'x-server-limited-keys': 'own_server',
    operationId: 'listServerCatalogVersions',
    tags,
    summary: 'List an MCP server’s catalog versions',
    description:
      'Newest first, each with its tool names and the tools added and removed since the version before it. ' +
      'Page with `limit` and `before` (a version number).',
    request: { params: ServerParams, query: CatalogVersionsQuery.meta({ id: 'CatalogVersionsQuery' }) },
    responses: { 200: json('A page of catalog versions.', CatalogVersionList), ...problems(403, 404, 422) },
  },
];
