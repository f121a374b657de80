import { z } from 'zod';
import { json, jsonBody, noContent, problems, type RouteDoc } from '../../openapi/registry.ts';
import { CreateExternalServerBody, UpdateExternalServerBody } from './schemas.ts';

const timestamp = z.iso.datetime();

const params = z.object({ id: z.string().describe('The registered server’s id, or its name.') });

/** A registered external MCP server as the API shows it (`present` in registry.ts): header names, never values. */
const ExternalMcpServer = z
  .object({
    id: z.uuid(),
    name: z.string().describe('What hosted servers name it by (`externalMcpServers[].name`).'),
    url: z.string(),
    headerNames: z.array(z.string()).describe('The headers sent to it; their values are secrets, never shown.'),
    tools: z
      .array(z.object({ name: z.string(), title: z.string().optional(), description: z.string() }).strict())
      .describe('The tools it listed last (at registration, at a change, at each refresh).'),
    listedAt: timestamp.nullable(),
    listError: z.string().nullable().describe('Why the last listing failed; null when it succeeded.'),
    usedBy: z.array(z.object({ id: z.uuid(), name: z.string() }).strict()).describe('The hosted servers using it.'),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .strict()
  .meta({ id: 'ExternalMcpServer' });

const tags = ['external mcp servers'];

/** The registry routes, for the OpenAPI document (services/control-plane/src/openapi/document.ts). */
export const externalMcpServersRoutes: RouteDoc[] = [
  {
    method: 'get',
    path: '/external_mcp_servers',
    operationId: 'listExternalMcpServers',
    tags,
    summary: 'List the external MCP servers registered on the workspace',
    responses: {
      200: json('Every registered server, by name.', z.object({ data: z.array(ExternalMcpServer) }).strict()),
      ...problems(403),
    },
  },
  {
    method: 'post',
    path: '/external_mcp_servers',
    operationId: 'createExternalMcpServer',
    'x-audit': { action: 'external_mcp_server.create', resource: 'external_mcp_server' },
    tags,
    summary: 'Register an external MCP server on the workspace',
    description:
      'A name, a URL and headers (their values are secrets: sealed, never shown again). A worker lists its tools ' +
      'once (the control plane has no egress); a server that cannot be listed is registered anyway, with the ' +
      'reason in `listError`. Hosted servers use it by naming it in `externalMcpServers`. A name already ' +
      'registered is a 409.',
    request: { body: jsonBody(CreateExternalServerBody.meta({ id: 'CreateExternalMcpServerBody' })) },
    responses: { 201: json('The registered server.', ExternalMcpServer), ...problems(400, 403, 409, 413, 415, 422) },
  },
  {
    method: 'get',
    path: '/external_mcp_servers/{id}',
    operationId: 'getExternalMcpServer',
    tags,
    summary: 'Get a registered external MCP server',
    request: { params },
    responses: { 200: json('The registered server.', ExternalMcpServer), ...problems(403, 404) },
  },
  {
    method: 'patch',
    path: '/external_mcp_servers/{id}',
    operationId: 'updateExternalMcpServer',
    'x-audit': { action: 'external_mcp_server.update', resource: 'external_mcp_server' },
    tags,
    summary: 'Change a registered external MCP server field by field',
    description:
      'Only what the body names changes: `url`, `name`, and in `headers` each header named (a value sets it, ' +
      '`null` removes it; the other headers keep their sealed values). It is listed again, and every hosted ' +
      'server using it gets a new catalog version in one change (edges send `tools/list_changed`). A name ' +
      'already registered, or already used by an external config of a server using it, is a 409.',
    request: { params, body: jsonBody(UpdateExternalServerBody.meta({ id: 'UpdateExternalMcpServerBody' })) },
    responses: {
      200: json('The registered server as changed.', ExternalMcpServer),
      ...problems(400, 403, 404, 409, 413, 415, 422),
    },
  },
  {
    method: 'delete',
    path: '/external_mcp_servers/{id}',
    operationId: 'deleteExternalMcpServer',
    'x-audit': { action: 'external_mcp_server.delete', resource: 'external_mcp_server' },
    tags,
    summary: 'Unregister an external MCP server (its header secrets go with it)',
    description:
      'Only when no hosted server uses it and no deployed workflow calls its tools as steps: 409 naming them ' +
      '(ADR 0045).',
    request: { params },
    responses: { 204: noContent, ...problems(403, 404, 409) },
  },
];
