import type { Router } from 'express';
import { jsonBody } from '../../http/body.ts';
import { apiRouter } from '../../http/route-access.ts';
import { handle, type ControlPlaneDeps } from '../deps.ts';
import { addFromApiCatalog, searchApiCatalog } from './handlers.ts';

/**
 * The API catalog (APIs.guru, source.ts): search it, and add one of its APIs to the workspace as an OpenAPI connector
 * (a large import whatever the body: it takes a slot of `deps.largeImports` first).
 */
export function apiCatalogRouter(deps: ControlPlaneDeps): Router {
  const r = apiRouter();
  r.get('/', handle(deps, searchApiCatalog));
  r.post('/:id/add', deps.largeImports.always, ...jsonBody(deps.env.MAX_BODY_BYTES), handle(deps, addFromApiCatalog));
  return r;
}
