import type { Router } from 'express';
import { jsonBody } from '../../http/body.ts';
import { apiRouter } from '../../http/route-access.ts';
import { handle, type ControlPlaneDeps } from '../deps.ts';
import { applyWorkspaceFiles, exportWorkspaceFiles, listManagedResources, planWorkspaceFiles } from './handlers.ts';

/**
 * The workspace as files (ADR 0042, docs/gitops.md): export, plan and apply a directory of one file per resource,
 * resolved against the workspace by names. A directory carries whole documents: the body limit is a document's.
 */
export function workspaceFilesRouter(deps: ControlPlaneDeps): Router {
  const r = apiRouter();
  r.use(jsonBody(deps.env.MAX_DOCUMENT_BYTES));
  r.get('/', handle(deps, exportWorkspaceFiles));
  r.get('/managed', handle(deps, listManagedResources));
  r.post('/plan', handle(deps, planWorkspaceFiles));
  r.post('/apply', handle(deps, applyWorkspaceFiles));
  return r;
}
