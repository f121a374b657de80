import type { Catalog } from '@toolplane/contracts';
import { NotFoundError, ValidationError } from '@toolplane/errors';
import type { ServerRow } from '../../catalog/compile.ts';
import type { Db } from '../../db/client.ts';
import { isUuid } from '../../db/ids.ts';
import { mcpDisabled } from '../../catalog/compile.ts';

/** A server of the caller's workspace by id or by name (404 otherwise). */
export async function findServer(db: Db, workspaceId: string, idOrName: string): Promise<ServerRow> {
  const row = (await db.mcpServer.findFirst({
    where: isUuid(idOrName) ? { id: idOrName, workspaceId } : { name: idOrName, workspaceId },
  })) as ServerRow | null;
  if (!row) throw new NotFoundError('MCP server', idOrName);
  return row;
}

/** The catalog a server serves now (its live version). */
export async function liveCatalog(db: Db, row: ServerRow): Promise<Catalog | undefined> {
  const version = await db.catalogVersion.findUnique({
    where: { serverId_version: { serverId: row.id, version: row.catalogVersion } },
  });
  return version?.catalog as Catalog | undefined;
}

/**
 * Why a server cannot be bound to connector instance `id`, or undefined when it can: no such instance in the
 * workspace, or its connector has `mcp_config.enabled: false` (none of its operations is a tool, so the server would
 * answer every call with "Unknown tool").
 */
export async function instanceProblem(db: Db, workspaceId: string, id: string): Promise<string | undefined> {
  const row = isUuid(id)
    ? await db.connectorInstance.findFirst({
        where: { id, workspaceId },
        select: { name: true, connector: { select: { slug: true, descriptor: true } } },
      })
    : null;
  if (!row) return `no connector instance ${id} in this workspace`;
  if (mcpDisabled(row.connector.descriptor))
    return (
      `connector ${row.connector.slug} (of instance ${row.name}) has mcp_config.enabled: false: none of its ` +
      'operations is a tool; enable MCP on the connector (mcp_config.enabled: true) or bind another instance'
    );
  return undefined;
}

/** A 409: the workspace has a server of that name. */
export const nameTaken = (name: string) =>
  new ValidationError(
    'the MCP server is invalid',
    [{ path: '/name', message: `a server named "${name}" already exists` }],
    'resource.conflict',
    409,
  );
