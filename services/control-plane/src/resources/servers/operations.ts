import { json, noContent, problems, Problem } from '../../openapi/registry.ts';
import { operation, type Operation } from '../operation.ts';
import { refuseExposureChange } from './exposure.ts';
import * as handlers from './handlers.ts';
import {
  CatalogVersionList,
  McpServer,
  McpServerConfig,
  McpServerList,
  RemoteTools,
  ResultShapePreview,
  ServerParams,
} from './openapi.ts';
import {
  CatalogVersionsQuery,
  CreateServerBody,
  ListQuery,
  LoadToolsBody,
  ResultShapePreviewBody,
  UpdateServerBody,
} from './schemas.ts';
import { previewShape } from './shape-preview.ts';
import { fourEyes } from '../change-requests/four-eyes.ts';

const tags = ['mcp servers'];

/**
 * MCP servers (`/mcp_manager`): what each exposes (SMART or NORMAL mode, a connector instance's tools, workspace tools
 * by name, external MCP servers), its catalog versions and what its MCP clients see. Every change of what a server
 * exposes goes through the catalog service.
 */
export const serversOperations: Operation[] = fourEyes('server', [
  operation({
    route: {
      method: 'post',
      path: '/mcp_manager/load-tools-from-url',
      operationId: 'loadToolsFromUrl',
      'x-audit': false,
      tags,
      summary: 'Preview the tools of an external MCP server',
      description:
        'A worker connects to the server (the control plane has no egress); lists are cached per URL and headers ' +
        'for `cacheMinutes`. 502 when the server cannot be reached.',
      responses: {
        200: json('The server’s tools.', RemoteTools),
        ...problems(400, 403, 413, 415, 422),
        502: {
          description: 'The MCP server could not be reached or listed: `upstream.unreachable`.',
          content: { 'application/problem+json': { schema: Problem } },
        },
      },
    },
    body: LoadToolsBody.meta({ id: 'LoadToolsFromUrlBody' }),
    handler: handlers.loadToolsFromUrl,
  }),
  operation({
    route: {
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
        'call (422 for a tool the server does not expose). A name already used is a 409. `isPublic`, `confirmTools`, ' +
        '`approvalTools`, `approvalRule`, `codeMode` and `config` other than their defaults need a caller who may change ' +
        'access policies (403; ADR 0073).',
      responses: {
        201: json('The server, with its first catalog’s tools.', McpServer),
        ...problems(400, 403, 409, 413, 415, 422),
      },
    },
    body: CreateServerBody.meta({ id: 'CreateServerBody' }),
    handler: handlers.createServer,
  }),
  operation({
    route: {
      method: 'get',
      path: '/mcp_manager',
      'x-server-limited-keys': 'filtered',
      operationId: 'listServers',
      tags,
      summary: 'List the workspace’s MCP servers',
      description:
        'By page (`page`, `limit`) or by cursor (`cursor` = the last id seen, `limit`), oldest first. A key limited ' +
        'to servers sees those only.',
      responses: { 200: json('A page of servers.', McpServerList), ...problems(403, 422) },
    },
    query: ListQuery.meta({ id: 'ListServersQuery' }),
    handler: handlers.listServers,
  }),
  operation({
    route: {
      method: 'get',
      path: '/mcp_manager/{id}',
      'x-server-limited-keys': 'own_server',
      operationId: 'getServer',
      tags,
      summary: 'Get an MCP server',
      responses: { 200: json('The server, with its live catalog’s tools.', McpServer), ...problems(403, 404) },
    },
    params: ServerParams,
    handler: handlers.getServer,
  }),
  operation({
    route: {
      method: 'patch',
      path: '/mcp_manager/{id}',
      'x-server-limited-keys': 'own_server',
      operationId: 'updateServer',
      'x-audit': { action: 'server.update', resource: 'server' },
      tags,
      summary: 'Change an MCP server (omitted fields are kept; a null description clears it)',
      description:
        'A change of what the server exposes makes a new catalog version. A key limited to servers needs the ' +
        '`server_admin` scope to change any field but `name` and `description` (403). Changing `isPublic`, ' +
        '`confirmTools`, `approvalTools`, `approvalRule`, `codeMode` or `config` can loosen a rule: it needs a caller ' +
        'who may change access policies (the admin role, or a key with no server restriction; else 403, ADR 0073). ' +
        '`confirmTools` replaces the list of tools a person confirms before each call (422 for a tool the server ' +
        'does not expose).',
      responses: {
        200: json('The server as changed.', McpServer),
        ...problems(400, 403, 404, 409, 413, 415, 422),
      },
    },
    params: ServerParams,
    body: UpdateServerBody.meta({ id: 'UpdateServerBody' }),
    // A limited key's change of what its server exposes is refused before the body is validated.
    before: refuseExposureChange,
    handler: handlers.updateServer,
  }),
  operation({
    route: {
      method: 'delete',
      path: '/mcp_manager/{id}',
      'x-server-limited-keys': 'server_admin',
      operationId: 'deleteServer',
      'x-audit': { action: 'server.delete', resource: 'server' },
      tags,
      summary: 'Delete an MCP server, its catalog versions and deployments',
      description: 'While workflows deployed on other servers call its tools as steps: 409 naming them (ADR 0045).',
      responses: { 204: noContent, ...problems(403, 404, 409) },
    },
    params: ServerParams,
    handler: handlers.deleteServer,
  }),
  operation({
    route: {
      method: 'get',
      path: '/mcp_manager/{id}/config',
      'x-server-limited-keys': 'own_server',
      operationId: 'getServerConfig',
      tags,
      summary: 'What an MCP client of the server sees',
      description:
        '`serverInfo`, `instructions` and `tools/list` in standard MCP tool format (SMART: the meta tools, and the ' +
        'searchable catalog under `catalog`).',
      responses: { 200: json('The server’s MCP configuration.', McpServerConfig), ...problems(403, 404) },
    },
    params: ServerParams,
    handler: handlers.getServerConfig,
  }),
  operation({
    route: {
      method: 'get',
      path: '/mcp_manager/{id}/catalog_versions',
      'x-server-limited-keys': 'own_server',
      operationId: 'listServerCatalogVersions',
      tags,
      summary: 'List an MCP server’s catalog versions',
      description:
        'Newest first, each with its tool names and the tools added and removed since the version before it. ' +
        'Page with `limit` and `before` (a version number).',
      responses: { 200: json('A page of catalog versions.', CatalogVersionList), ...problems(403, 404, 422) },
    },
    params: ServerParams,
    query: CatalogVersionsQuery.meta({ id: 'CatalogVersionsQuery' }),
    handler: handlers.listCatalogVersions,
  }),
  operation({
    route: {
      method: 'post',
      path: '/mcp_manager/{id}/result_shapes/preview',
      'x-server-limited-keys': 'own_server',
      'x-audit': false,
      operationId: 'previewResultShape',
      tags,
      summary: 'Try a tool’s result shape on a sample of its result',
      description:
        'The server’s `config.resultShapes` entry of `tool` (or `shape`, not saved) applied to `sample` as the ' +
        'worker applies it to each successful result: the JMESPath projection, then `maxItems`; the JSON before and ' +
        'after and their bytes. Nothing is called or saved. 422 lists every problem: no shape for the tool, a bad ' +
        'shape (at `/shape`), a sample that is not a JSON object or array (the worker passes those unchanged), a ' +
        'projection that fails on it.',
      responses: {
        200: json('The sample before and after the shape.', ResultShapePreview),
        ...problems(403, 404, 413, 415, 422),
      },
    },
    params: ServerParams,
    body: ResultShapePreviewBody.meta({ id: 'ResultShapePreviewRequest' }),
    handler: previewShape,
  }),
]);
