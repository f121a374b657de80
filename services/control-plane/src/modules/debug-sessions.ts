import { redisKeys } from '@toolplane/contracts';
import { NotFoundError } from '@toolplane/errors';
import express, { type Router } from 'express';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Db } from '../db/client.ts';
import { caller } from '../http/auth.ts';
import { jsonBody } from '../http/body.ts';
import { streamDebugEvents, type DebugEventHub } from './debug-events.ts';
import { isUuid } from './ids.ts';
import { findServer } from './servers.ts';
import { apiRouter } from '../http/route-access.ts';

/** Debug sessions last at most 4 hours. */
const MAX_DEBUG_MINUTES = 240;

export const OpenBody = z
  .object({ duration_minutes: z.number().int().min(1).max(MAX_DEBUG_MINUTES).default(60) })
  .strict();

type SessionRow = {
  id: string;
  serverId: string;
  openedAt: Date;
  endsAt: Date;
  closedAt: Date | null;
  openedByKeyId: string | null;
  openedBySubject: string | null;
};

function present(s: SessionRow, now: Date) {
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
  redis: Redis,
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

export function debugSessionsRouter(
  db: Db,
  redis: Redis,
  prefix: string,
  maxBodyBytes: number,
  events: DebugEventHub,
): Router {
  const r = apiRouter({ mergeParams: true });
  r.use(jsonBody(maxBodyBytes));
  // By id or by name, as every /mcp_manager/{id}… route.
  const server = (req: express.Request) =>
    findServer(db, caller(req).workspaceId, String((req.params as Record<string, string>).id));
  r.post('/', async (req, res) => {
    const body = OpenBody.parse(req.body ?? {});
    const s = await server(req);
    const now = new Date();
    const session = (await db.$transaction(async (tx) => {
      // One open session per server: opening a new one closes the previous.
      await tx.debugSession.updateMany({
        where: { serverId: s.id, closedAt: null, endsAt: { gt: now } },
        data: { closedAt: now },
      });
      const created = await tx.debugSession.create({
        data: {
          workspaceId: s.workspaceId,
          serverId: s.id,
          openedAt: now,
          endsAt: new Date(now.getTime() + body.duration_minutes * 60_000),
          openedByKeyId: caller(req).keyId ?? null,
          openedBySubject: caller(req).subject ?? null,
        },
      });
      await publishDebugSession(redis, prefix, created, now);
      return created;
    })) as SessionRow;
    res.status(201).json(present(session, now));
  });
  r.get('/', async (req, res) => {
    const s = await server(req);
    const rows = (await db.debugSession.findMany({
      where: { serverId: s.id },
      orderBy: { openedAt: 'desc' },
    })) as SessionRow[];
    const now = new Date();
    res.json({ data: rows.map((row) => present(row, now)) });
  });
  const session = async (req: express.Request) => {
    const s = await server(req);
    const sessionId = String((req.params as Record<string, string>).sessionId);
    const row = isUuid(sessionId)
      ? ((await db.debugSession.findFirst({ where: { id: sessionId, serverId: s.id } })) as SessionRow | null)
      : null;
    if (!row) throw new NotFoundError('debug session', sessionId);
    return row;
  };
  // Server-sent events: the session's execution records as they are stored (debug-events.ts).
  r.get('/:sessionId/events', async (req, res) => {
    await streamDebugEvents(events, db, req, res, await session(req));
  });
  r.delete('/:sessionId', async (req, res) => {
    const row = await session(req);
    const closed = (
      row.closedAt ? row : await db.debugSession.update({ where: { id: row.id }, data: { closedAt: new Date() } })
    ) as SessionRow;
    await publishDebugSession(redis, prefix, closed);
    res.json(present(closed, new Date()));
  });
  return r;
}
