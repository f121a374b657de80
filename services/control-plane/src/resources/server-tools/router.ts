import type { Router } from 'express';
import { apiRouter } from '../../http/route-access.ts';
import { handle, type ControlPlaneDeps } from '../deps.ts';
import { listInstanceTools, listServerTools } from './handlers.ts';

/**
 * The tools of a server as it exposes them, and the tools a connector instance gives (mounted at the API's root: its
 * paths belong to two resources).
 */
export function serverToolsRouter(deps: ControlPlaneDeps): Router {
  const r = apiRouter();
  r.get('/mcp_manager/:id/tools', handle(deps, listServerTools));
  r.get('/connector_instances/:id/tools', handle(deps, listInstanceTools));
  return r;
}
