import type { Request, Response } from 'express';
import { caller } from '../../http/auth.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import { streamDebugEvents } from './event-stream.ts';
import { OpenBody } from './schemas.ts';
import { findSession, presentSession, publishDebugSession, sessionServer, type SessionRow } from './sessions.ts';

/**
 * `POST /mcp_manager/{id}/debug_sessions`: opens a debug session on the server, published to Redis before the answer.
 * One open session per server: opening a new one closes the previous.
 */
export async function openDebugSession(
  { db, redis, prefix }: ControlPlaneDeps,
  req: Request,
  res: Response,
): Promise<void> {
  const body = OpenBody.parse(req.body ?? {});
  const s = await sessionServer(db, req);
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
  res.status(201).json(presentSession(session, now));
}

/** `GET /mcp_manager/{id}/debug_sessions`: the server's debug sessions, newest first. */
export async function listDebugSessions({ db }: ControlPlaneDeps, req: Request, res: Response): Promise<void> {
  const s = await sessionServer(db, req);
  const rows = (await db.debugSession.findMany({
    where: { serverId: s.id },
    orderBy: { openedAt: 'desc' },
  })) as SessionRow[];
  const now = new Date();
  res.json({ data: rows.map((row) => presentSession(row, now)) });
}

/**
 * `GET /mcp_manager/{id}/debug_sessions/{sessionId}/events`: server-sent events, the session's execution records as
 * they are stored (event-stream.ts).
 */
export async function streamSessionEvents(deps: ControlPlaneDeps, req: Request, res: Response): Promise<void> {
  await streamDebugEvents(deps, req, res, await findSession(deps.db, req));
}

/** `DELETE /mcp_manager/{id}/debug_sessions/{sessionId}`: stops the session (already closed: answered as it is). */
export async function closeDebugSession(
  { db, redis, prefix }: ControlPlaneDeps,
  req: Request,
  res: Response,
): Promise<void> {
  const row = await findSession(db, req);
  const closed = (
    row.closedAt ? row : await db.debugSession.update({ where: { id: row.id }, data: { closedAt: new Date() } })
  ) as SessionRow;
  await publishDebugSession(redis, prefix, closed);
  res.json(presentSession(closed, new Date()));
}
