import type { Router } from 'express';
import { apiRouter } from '../../http/route-access.ts';
import { handle, type ControlPlaneDeps } from '../deps.ts';
import { getTrafficStats } from './handlers.ts';

/** `GET /stats`: the workspace's traffic (or one server's, or one tool's) over the last hour or day (ADR 0025). */
export function statsRouter(deps: ControlPlaneDeps): Router {
  const r = apiRouter();
  r.get('/', handle(deps, getTrafficStats));
  return r;
}
