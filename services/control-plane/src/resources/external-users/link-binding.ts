import { userSecrets, type ConnectLink } from '@toolplane/contracts';
import type { Db } from '../../db/client.ts';
import { isUuid } from '../../db/ids.ts';

/**
 * Whether a connect link's binding holds together (ADR 0027): its person (by id and name), its server and its
 * connection's connector instance are the named workspace's (a link to a deleted instance connects nobody), and its
 * connection is that person's own account in that workspace.
 */
export async function oauthLinkBelongs(db: Db, link: ConnectLink): Promise<boolean> {
  const parts = userSecrets.parseOauth(link.connection);
  if (!parts || parts.userId !== link.userId || parts.workspaceId !== link.workspaceId) return false;
  if (![link.workspaceId, link.userId, link.serverId, parts.instanceId].every(isUuid)) return false;
  const [user, server, instance] = await Promise.all([
    db.externalUser.findFirst({ where: { id: link.userId, workspaceId: link.workspaceId, name: link.username } }),
    db.mcpServer.findFirst({ where: { id: link.serverId, workspaceId: link.workspaceId }, select: { id: true } }),
    db.connectorInstance.findFirst({
      where: { id: parts.instanceId, workspaceId: link.workspaceId },
      select: { id: true },
    }),
  ]);
  return user !== null && server !== null && instance !== null;
}
