import type { Catalog } from '@toolplane/contracts';
import { NotFoundError, ValidationError } from '@toolplane/errors';
import type { ServerRow } from '../../catalog/compile.ts';
import type { Db } from '../../db/client.ts';
import { isUuid } from '../../db/ids.ts';

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

/** True when `id` names no connector instance of the workspace. */
export async function unknownInstance(db: Db, workspaceId: string, id: string): Promise<boolean> {
  return !isUuid(id) || !(await db.connectorInstance.findFirst({ where: { id, workspaceId } }));
}

/** A 409: the workspace has a server of that name. */
export const nameTaken = (name: string) =>
  new ValidationError(
    'the MCP server is invalid',
    [{ path: '/name', message: `a server named "${name}" already exists` }],
    'resource.conflict',
    409,
  );
