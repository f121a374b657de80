import { audited, json, pathParams, problems } from '../../openapi/registry.ts';
import { get, post, put, type Operation } from '../operation.ts';
import { addFromRegistry, searchRegistry } from './consumed.ts';
import { RegistryAddResult, RegistrySearchPage, RegistrySettings, ServedServer, ServedServerList } from './openapi.ts';
import { RegistryAddBody, RegistrySearchQuery, RegistrySettingsBody, ServedListQuery } from './schemas.ts';
import { getServedVersion, listServedServers, listServedVersions } from './served.ts';
import { getRegistrySettings, putRegistrySettings } from './settings.ts';

const tags = ['mcp registry'];

/**
 * The official MCP Registry both ways (ADR 0059, docs/registry.md): consumed (a source per workspace, searched and
 * added from, every request made by a worker) and served (the workspace's own servers as a registry's read side).
 */
export const registryOperations: Operation[] = [
  get('/registry/settings', 'getRegistrySettings', {
    tags,
    summary: 'The registry the workspace reads from and the namespace of the one it serves',
    responses: { 200: json('The settings, and what applies.', RegistrySettings), ...problems(403) },
    handler: getRegistrySettings,
  }),
  put('/registry/settings', 'putRegistrySettings', {
    'x-audit': audited('workspace.registry_settings'),
    tags,
    summary: 'Set the registry source and namespace (null: the defaults)',
    responses: { 200: json('The settings, and what applies.', RegistrySettings), ...problems(403, 413, 415) },
    body: RegistrySettingsBody.meta({ id: 'RegistrySettingsBody' }),
    handler: putRegistrySettings,
  }),
  get('/registry/search', 'searchRegistry', {
    tags,
    summary: 'Search the workspace’s MCP Registry source',
    description:
      'Reads `<source>/v0.1/servers?search=<q>&version=latest` through a worker (its outbound guard; the control ' +
      'plane has no egress). Each server with the remote `add` would attach and the headers it declares. The ' +
      'source unreachable or answering something else than the registry API: 503.',
    responses: { 200: json('A page of the source’s servers.', RegistrySearchPage), ...problems(403) },
    query: RegistrySearchQuery.meta({ id: 'RegistrySearchQuery' }),
    handler: searchRegistry,
  }),
  post('/registry/add', 'addFromRegistry', {
    'x-audit': audited('external_mcp_server.add_from_registry'),
    tags,
    summary: 'Register a server of the MCP Registry as an external MCP server',
    description:
      'Its remote (streamable HTTP first, else SSE) becomes an external MCP server; each header it declares ' +
      'takes the value given in `headers`, else the registry’s fixed value (non-secret), else is listed in ' +
      '`toFill` (never invented). Unknown server or version: 404. Packages only or a URL template: 422. A name ' +
      'already registered: 409 (pass `as`). The source unreachable: 503.',
    responses: {
      201: json('The external MCP server and what is left to set.', RegistryAddResult),
      ...problems(403, 404, 409, 413, 415),
    },
    body: RegistryAddBody.meta({ id: 'RegistryAddBody' }),
    handler: addFromRegistry,
  }),
  get('/registry/v0.1/servers', 'listRegistryServers', {
    'x-scope': 'any',
    'x-server-limited-keys': 'filtered',
    tags,
    summary: 'The workspace’s MCP servers as an MCP Registry (API v0.1)',
    description:
      'The read side of the registry API: every server of the workspace as a `ServerResponse` named ' +
      '`<namespace>/<server name>`, its remote the edge’s MCP URL. `search` matches names, `updated_since` ' +
      'keeps servers changed since, `version` (`latest` or one) filters; `cursor` is `metadata.nextCursor`. ' +
      'Any management API key or token reads it; a key limited to servers sees those.',
    responses: { 200: json('A page of servers.', ServedServerList), ...problems(403) },
    query: ServedListQuery.meta({ id: 'RegistryServersQuery' }),
    handler: listServedServers,
  }),
  get('/registry/v0.1/servers/{serverName}/versions', 'listRegistryServerVersions', {
    'x-scope': 'any',
    'x-server-limited-keys': 'filtered',
    tags,
    summary: 'A served server’s versions (its current one)',
    responses: { 200: json('Its versions.', ServedServerList), ...problems(403, 404) },
    params: pathParams('serverName'),
    handler: listServedVersions,
  }),
  get('/registry/v0.1/servers/{serverName}/versions/{version}', 'getRegistryServerVersion', {
    'x-scope': 'any',
    'x-server-limited-keys': 'filtered',
    tags,
    summary: 'A served server at a version (`latest` or its current one)',
    responses: { 200: json('The server.', ServedServer), ...problems(403, 404) },
    params: pathParams('serverName', 'version'),
    handler: getServedVersion,
  }),
];
