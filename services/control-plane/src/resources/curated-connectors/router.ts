import type { Router } from 'express';
import { jsonBody } from '../../http/body.ts';
import { apiRouter } from '../../http/route-access.ts';
import { handle, type ControlPlaneDeps } from '../deps.ts';
import {
  addCuratedConnector,
  listCuratedConnectors,
  setupCuratedConnector,
  upgradeCuratedConnector,
} from './handlers.ts';

/**
 * Curated connectors (`@toolplane/connectors`, ADR 0035): list them, and add one to the workspace as an OpenAPI
 * connector. Mounted at `/connectors/curated`, before the connectors router (whose `/{id}` would take `curated`).
 */
export function curatedConnectorsRouter(deps: ControlPlaneDeps): Router {
  const r = apiRouter();
  r.get('/', handle(deps, listCuratedConnectors));
  r.post('/:slug', ...jsonBody(deps.env.MAX_BODY_BYTES), handle(deps, addCuratedConnector));
  r.post('/:slug/setup', ...jsonBody(deps.env.MAX_BODY_BYTES), handle(deps, setupCuratedConnector));
  r.post('/:slug/upgrade', handle(deps, upgradeCuratedConnector));
  return r;
}
