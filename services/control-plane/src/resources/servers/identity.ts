import { redisKeys, ServerIdentitySettings } from '@toolplane/contracts';
import type { NextFunction, Request, Response } from 'express';
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

async function publishServer(db: Db, redis: RedisClient, prefix: string, serverId: string): Promise<void> {
  const row = await db.mcpServer.findUnique({ where: { id: serverId }, select: { config: true } });
  const key = redisKeys(prefix).serverIdentity(serverId);
  if (!row) await redis.del(key);
  else await redis.set(key, JSON.stringify(identitySettingsOf(row.config)));
}

/**
 * Mounted on `/mcp_manager` before the servers router: after a successful create, update or delete
 * (and before the answer leaves), the server's settings are written to Redis, so the next call sees them.
 */
export function serverIdentityPublisher(db: Db, redis: RedisClient, prefix: string) {
  return (req: Request, res: Response, next: NextFunction) => {
    if (!['POST', 'PATCH', 'DELETE'].includes(req.method)) return next();
    const idInPath = /^\/([0-9a-f-]{36})\/?$/i.exec(req.path)?.[1];
    const send = (flush: () => void, id: string | undefined) => {
      if (res.statusCode >= 300 || !id) return flush();
      publishServer(db, redis, prefix, id).then(flush, (err: unknown) => next(err));
    };
    const json = res.json.bind(res);
    res.json = (body: unknown) => {
      const id = (body as { id?: unknown } | undefined)?.id;
      send(() => json(body), typeof id === 'string' ? id : idInPath);
      return res;
    };
    const end = res.end.bind(res) as (...args: unknown[]) => Response;
    if (req.method === 'DELETE')
      res.end = ((...args: unknown[]) => {
        send(() => end(...args), idInPath);
        return res;
      }) as Response['end'];
    next();
  };
}

/** At start: every server's settings (Redis may have restarted empty). */
export async function republishServerIdentity(db: Db, redis: RedisClient, prefix: string): Promise<number> {
  const rows = await db.mcpServer.findMany({ select: { id: true, config: true } });
  for (const r of rows)
    await redis.set(redisKeys(prefix).serverIdentity(r.id), JSON.stringify(identitySettingsOf(r.config)));
  return rows.length;
}
