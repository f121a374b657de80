import type { Router } from 'express';
import { jsonBody } from '../../http/body.ts';
import { apiRouter } from '../../http/route-access.ts';
import { handle, type ControlPlaneDeps } from '../deps.ts';
import { createWorkspace, currentWorkspace, listWorkspaces } from './handlers.ts';

/**
 * Workspaces of the caller's organization. Everything else in the API lives inside one workspace (the key's); a key
 * with the `admin` scope may list its organization's workspaces and create new ones, each created with a first
 * management+runtime key (its value shown once). Without `admin`, a key sees its own workspace only.
 */
export function workspacesRouter(deps: ControlPlaneDeps): Router {
  const r = apiRouter();
  r.use(jsonBody(deps.env.MAX_BODY_BYTES));
  r.get('/', handle(deps, listWorkspaces));
  r.get('/current', handle(deps, currentWorkspace));
  r.post('/', handle(deps, createWorkspace));
  return r;
}
