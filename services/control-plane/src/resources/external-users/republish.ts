import { redisKeys, userSecrets } from '@toolplane/contracts';
import type { SecretsWriter } from '@toolplane/secrets';
import type { RedisClient } from '@toolplane/redis';
import type { Db } from '../../db/client.ts';
import { connectionMarker } from '../../catalog/people-connections.ts';

/**
 * Re-publishes every workspace's user names (active, and gone: inactive rows and `former_users`) and what each user has connected (Redis may have
 * restarted empty): connector connections from PostgreSQL, external MCP headers and workflow secrets
 * from the secrets store's names (`secrets`; without it only connector connections).
 */
export async function republishUsers(
  db: Db,
  redis: RedisClient,
  prefix: string,
  secrets?: SecretsWriter,
): Promise<number> {
  const keys = redisKeys(prefix);
  const users = await db.externalUser.findMany({
    include: { connections: { select: { connectorInstanceId: true, kind: true } } },
  });
  // Names of people deleted or renamed away: PostgreSQL's record, so their tokens stay refused after a Redis loss.
  const active = new Set(users.filter((u) => u.active).map((u) => `${u.workspaceId}\n${u.name}`));
  for (const f of await db.formerUser.findMany()) {
    if (!active.has(`${f.workspaceId}\n${f.name}`))
      await redis.hset(keys.formerUsers(f.workspaceId), f.name, f.personId);
  }
  for (const u of users) {
    // An inactive person is published as gone, never as a person calls may act as (docs/identity.md).
    if (u.active) await redis.hset(keys.users(u.workspaceId), u.name, u.id);
    else await redis.hset(keys.formerUsers(u.workspaceId), u.name, u.id);
    await redis.hset(keys.userAttributes(u.workspaceId), u.id, JSON.stringify(u.attributes ?? {}));
    const markers = u.connections.map((c) => connectionMarker(c.kind, c.connectorInstanceId));
    const own = userSecrets.prefix(u.workspaceId, u.id);
    for (const meta of secrets ? await secrets.list(own) : []) {
      const rest = meta.name.slice(own.length);
      const secret = /^secrets\/(.+)$/.exec(rest);
      const external = /^servers\/([^/]+)\/external\/([^/]+)\/headers$/.exec(rest);
      if (secret) markers.push(`secret:${secret[1]}`);
      else if (external) markers.push(`mcp:${external[1]}/${external[2]}`);
    }
    if (markers.length > 0) await redis.sadd(keys.userConnections(u.workspaceId, u.id), ...markers);
  }
  return users.length;
}
