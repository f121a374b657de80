import type { Router } from 'express';
import { jsonBody } from '../../http/body.ts';
import { apiRouter } from '../../http/route-access.ts';
import { handle, type ControlPlaneDeps } from '../deps.ts';
import { closeDebugSession, listDebugSessions, openDebugSession, streamSessionEvents } from './handlers.ts';

/**
 * Debug sessions of a server (`/mcp_manager/{id}/debug_sessions`, the server by id or name): while one is open, the
 * server's execution records also carry `debug` (requests and responses, secrets scrubbed); a session's records are
 * followed as server-sent events (event-stream.ts). Opening and closing are announced to the workers before the answer.
 */
export function debugSessionsRouter(deps: ControlPlaneDeps): Router {
  const r = apiRouter({ mergeParams: true });
  r.use(jsonBody(deps.env.MAX_BODY_BYTES));
  r.post('/', handle(deps, openDebugSession));
  r.get('/', handle(deps, listDebugSessions));
  r.get('/:sessionId/events', handle(deps, streamSessionEvents));
  r.delete('/:sessionId', handle(deps, closeDebugSession));
  return r;
}
