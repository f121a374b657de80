import { redisKeys } from '@toolplane/contracts';
import { NotFoundError } from '@toolplane/errors';
import type { RedisClient } from '@toolplane/redis';
import type { ServerRow } from '../../catalog/compile.ts';
import type { Db } from '../../db/client.ts';
import { isUuid } from '../../db/ids.ts';
import type { Caller } from '../../http/auth.ts';
import { findServer } from '../servers/lookup.ts';

export type SessionRow = {
  id: string;
  serverId: string;
  openedAt: Date;
  endsAt: Date;
  closedAt: Date | null;
  openedByKeyId: string | null;
  openedBySubject: string | null;
};

/** A debug session as the API shows it. */
export function presentSession(s: SessionRow, now: Date) {
  const end = s.closedAt && s.closedAt < s.endsAt ? s.closedAt : s.endsAt;
  return {
    id: s.id,
    server_id: s.serverId,
    opened_at: s.openedAt,
    ends_at: s.endsAt,
    closed_at: s.closedAt,
    active: end > now,
  };
}

/**
 * Publishes a server's open session to Redis (expiring with it) so workers see it; removes it when
 * closed. Then announces the change on `debugSessionChanged`, so workers drop their cached state at
 * once; resolves only after that PUBLISH (the REST answer follows it).
 */
export async function publishDebugSession(
  redis: RedisClient,
  prefix: string,
  s: SessionRow,
  now = new Date(),
): Promise<void> {
  const keys = redisKeys(prefix);
  const key = keys.debugSession(s.serverId);
  const ms = s.endsAt.getTime() - now.getTime();
  if (s.closedAt || ms <= 0) {
    const current = await redis.get(key);
    if (current && (JSON.parse(current) as { sessionId: string }).sessionId === s.id) await redis.del(key);
  } else {
    await redis.set(key, JSON.stringify({ sessionId: s.id, endsAt: s.endsAt.getTime() }), 'PX', ms);
  }
  await redis.publish(keys.debugSessionChanged, s.serverId);
}

/** What names a session: the caller, and the path's server (`id`) and session (`sessionId`). */
export interface SessionPath {
  caller: Caller;
  params: Record<string, string>;
}

/** The server of the path (`/mcp_manager/{id}/debug_sessions`): by id or by name, as every /mcp_manager/{id}… route. */
export function sessionServer(db: Db, { caller, params }: SessionPath): Promise<ServerRow> {
  return findServer(db, caller.workspaceId, String(params.id));
}

/** The session of the path (`…/debug_sessions/{sessionId}`) of the path's server (404 otherwise). */
export async function findSession(db: Db, path: SessionPath): Promise<SessionRow> {
  const s = await sessionServer(db, path);
  const sessionId = String(path.params.sessionId);
  const row = isUuid(sessionId)
    ? ((await db.debugSession.findFirst({ where: { id: sessionId, serverId: s.id } })) as SessionRow | null)
    : null;
  if (!row) throw new NotFoundError('debug session', sessionId);
  return row;
}
