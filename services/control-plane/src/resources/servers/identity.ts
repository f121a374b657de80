import { redisKeys, ServerIdentitySettings } from '@toolplane/contracts';
import type { RedisClient } from '@toolplane/redis';
import type { Db } from '../../db/client.ts';

/**
 * Per-server identity settings for the worker (per-user credentials), from the server's
 * `config`: `fallbackToShared: true` lets a call made for an external user without their own
 * connection run with the server's shared credentials (off by default: such a call is a tool error).
 * Published to Redis next to the catalog, outside the catalog compilation.
 */
function identitySettingsOf(config: unknown): ServerIdentitySettings {
  const c = (config ?? {}) as { fallbackToShared?: unknown };
  return { v: 1, fallbackToShared: c.fallbackToShared === true };
}

/**
 * After a server's create, update or delete (before the answer leaves): its settings in Redis, so that the next call
 * sees them (deleted with the server).
 */
export async function publishServerIdentity(
  db: Db,
  redis: RedisClient,
  prefix: string,
  serverId: string,
): Promise<void> {
  const row = await db.mcpServer.findUnique({ where: { id: serverId }, select: { config: true } });
  const key = redisKeys(prefix).serverIdentity(serverId);
  if (!row) await redis.del(key);
  else await redis.set(key, JSON.stringify(identitySettingsOf(row.config)));
}

/** At start: every server's settings (Redis may have restarted empty). */
export async function republishServerIdentity(db: Db, redis: RedisClient, prefix: string): Promise<number> {
  const rows = await db.mcpServer.findMany({ select: { id: true, config: true } });
  for (const r of rows)
    await redis.set(redisKeys(prefix).serverIdentity(r.id), JSON.stringify(identitySettingsOf(r.config)));
  return rows.length;
}
