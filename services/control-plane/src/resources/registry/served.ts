import { NotFoundError, ValidationError } from '@toolplane/errors';
import { isUuid } from '../../db/ids.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import { registrySettings } from './settings.ts';
import type { ServedListQuery } from './schemas.ts';

/**
 * The workspace's own MCP servers as an MCP Registry (API v0.1, read side): each server one `ServerDetail` named
 * `<namespace>/<server name>`, one version (`1.0.<catalog version>`, always the latest), its remote the edge's
 * streamable HTTP URL with the header its callers authenticate with.
 */

interface Row {
  id: string;
  name: string;
  description: string | null;
  isPublic: boolean;
  catalogVersion: number;
  createdAt: Date;
  updatedAt: Date;
}

const select = {
  id: true,
  name: true,
  description: true,
  isPublic: true,
  catalogVersion: true,
  createdAt: true,
  updatedAt: true,
} as const;

const versionOf = (row: Row) => `1.0.${row.catalogVersion}`;

/** The registry's description: 1-100 characters. */
function describe(row: Row): string {
  const text = row.description?.replace(/\s+/g, ' ').trim() || `MCP server ${row.name} hosted by Toolplane`;
  return text.length <= 100 ? text : `${text.slice(0, 99)}…`;
}

function present(row: Row, namespace: string, publicEdgeUrl: string) {
  const url = `${publicEdgeUrl.replace(/\/+$/, '')}/mcp/${row.id}`;
  // A public server takes anonymous calls; every other one a key of the workspace with the runtime scope.
  const headers = row.isPublic
    ? []
    : [
        {
          name: 'x-api-key',
          description: 'A Toolplane API key of this workspace with the runtime scope',
          isRequired: true,
          isSecret: true,
        },
      ];
  return {
    server: {
      name: `${namespace}/${row.name}`,
      description: describe(row),
      title: row.name,
      version: versionOf(row),
      remotes: [{ type: 'streamable-http' as const, url, headers }],
    },
    _meta: {
      'io.modelcontextprotocol.registry/official': {
        status: 'active' as const,
        publishedAt: row.createdAt.toISOString(),
        updatedAt: row.updatedAt.toISOString(),
        isLatest: true,
      },
      'dev.toolplane/server': { id: row.id, catalogVersion: row.catalogVersion },
    },
  };
}

/** `GET /registry/v0.1/servers`: by name, `cursor` the last server's id of the page before. */
export async function listServedServers(deps: ControlPlaneDeps, { query, caller }: Input<undefined, ServedListQuery>) {
  const { workspaceId, serverIds } = caller;
  const { namespace } = (await registrySettings(deps, workspaceId)).effective;
  if (query.cursor !== undefined && !isUuid(query.cursor))
    throw new ValidationError('invalid cursor', [
      { path: '/query/cursor', message: 'not a cursor this registry gave' },
    ]);
  // Every server has one version, its latest: `version` keeps those whose version it names.
  const rows = (
    await deps.db.mcpServer.findMany({
      where: {
        workspaceId,
        ...(serverIds ? { id: { in: serverIds } } : {}),
        ...(query.search ? { name: { contains: query.search, mode: 'insensitive' as const } } : {}),
        ...(query.updated_since ? { updatedAt: { gte: new Date(query.updated_since) } } : {}),
      },
      select,
      orderBy: [{ name: 'asc' }, { id: 'asc' }],
      take: query.limit + 1,
      ...(query.cursor ? { cursor: { id: query.cursor }, skip: 1 } : {}),
    })
  ).filter((row) => query.version === undefined || query.version === 'latest' || query.version === versionOf(row));
  const page = rows.slice(0, query.limit);
  return {
    servers: page.map((row) => present(row, namespace, deps.env.PUBLIC_EDGE_URL)),
    metadata: { count: page.length, ...(rows.length > query.limit ? { nextCursor: page.at(-1)!.id } : {}) },
  };
}

/** The server a registry name names (`<namespace>/<server name>`), among those the caller may see; else 404. */
async function findServed(deps: ControlPlaneDeps, caller: Input['caller'], serverName: string) {
  const { namespace } = (await registrySettings(deps, caller.workspaceId)).effective;
  const prefix = `${namespace}/`;
  const name = serverName.startsWith(prefix) ? serverName.slice(prefix.length) : undefined;
  const row = name
    ? await deps.db.mcpServer.findFirst({
        where: { workspaceId: caller.workspaceId, name, ...(caller.serverIds ? { id: { in: caller.serverIds } } : {}) },
        select,
      })
    : null;
  if (!row) throw new NotFoundError('registry server', serverName);
  return { row, namespace };
}

/** `GET /registry/v0.1/servers/{serverName}/versions`: its one version. */
export async function listServedVersions(deps: ControlPlaneDeps, { params, caller }: Input) {
  const { row, namespace } = await findServed(deps, caller, params.serverName!);
  return { servers: [present(row, namespace, deps.env.PUBLIC_EDGE_URL)], metadata: { count: 1 } };
}

/** `GET /registry/v0.1/servers/{serverName}/versions/{version}`: `latest` or its current version; else 404. */
export async function getServedVersion(deps: ControlPlaneDeps, { params, caller }: Input) {
  const { row, namespace } = await findServed(deps, caller, params.serverName!);
  if (params.version !== 'latest' && params.version !== versionOf(row))
    throw new NotFoundError('registry server version', `${params.serverName}@${params.version}`);
  return present(row, namespace, deps.env.PUBLIC_EDGE_URL);
}
