import type { Request, Response } from 'express';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import { streamDebugEvents } from './event-stream.ts';
import type { OpenBody } from './schemas.ts';
import { findSession, presentSession, publishDebugSession, sessionServer, type SessionRow } from './sessions.ts';

/**
 * `POST /mcp_manager/{id}/debug_sessions`: opens a debug session on the server, published to Redis before the answer.
 * One open session per server: opening a new one closes the previous.
 */
export async function openDebugSession({ db, redis, prefix }: ControlPlaneDeps, input: Input<OpenBody>) {
  const { body, caller } = input;
  const s = await sessionServer(db, input);
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
        openedByKeyId: caller.keyId ?? null,
        openedBySubject: caller.subject ?? null,
      },
    });
    await publishDebugSession(redis, prefix, created, now);
    return created;
  })) as SessionRow;
  return presentSession(session, now);
}

/** `GET /mcp_manager/{id}/debug_sessions`: the server's debug sessions, newest first. */
export async function listDebugSessions({ db }: ControlPlaneDeps, input: Input) {
  const s = await sessionServer(db, input);
  const rows = (await db.debugSession.findMany({
    where: { serverId: s.id },
    orderBy: { openedAt: 'desc' },
  })) as SessionRow[];
  const now = new Date();
  return { data: rows.map((row) => presentSession(row, now)) };
}

/**
 * `GET /mcp_manager/{id}/debug_sessions/{sessionId}/events`: server-sent events, the session's execution records as
 * they are stored (event-stream.ts).
 */
export async function streamSessionEvents(
  deps: ControlPlaneDeps,
  input: Input,
  req: Request,
  res: Response,
): Promise<void> {
  await streamDebugEvents(deps, { me: input.caller, req, res }, await findSession(deps.db, input));
}

/** `DELETE /mcp_manager/{id}/debug_sessions/{sessionId}`: stops the session (already closed: answered as it is). */
export async function closeDebugSession({ db, redis, prefix }: ControlPlaneDeps, input: Input) {
  const row = await findSession(db, input);
  const closed = (
    row.closedAt ? row : await db.debugSession.update({ where: { id: row.id }, data: { closedAt: new Date() } })
  ) as SessionRow;
  await publishDebugSession(redis, prefix, closed);
  return presentSession(closed, new Date());
}
