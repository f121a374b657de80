import express, { type Router } from 'express';
import { apiRouter } from '../../http/route-access.ts';
import { handle, type ControlPlaneDeps } from '../deps.ts';
import {
  deleteConnector,
  getConnector,
  getConnectorOpenApi,
  listConnectors,
  pushConnector,
  updateConnector,
} from './handlers.ts';

/**
 * Connectors: seed-001 descriptors and OpenAPI documents (documents/openapi-connectors.ts). What an OpenAPI envelope
 * names by URL (an opted-in `openIdConnect` scheme's discovery document) is read through a worker
 * (`deps.fetchDocument`). Bodies are documents, up to `MAX_DOCUMENT_BYTES`.
 */
export function connectorsRouter(deps: ControlPlaneDeps): Router {
  const r = apiRouter();
  // The body is the document text itself (application/yaml, text/yaml or application/json).
  r.use(express.text({ type: () => true, limit: deps.env.MAX_DOCUMENT_BYTES }));
  r.post('/', handle(deps, pushConnector));
  r.get('/', handle(deps, listConnectors));
  r.get('/:id', handle(deps, getConnector));
  r.put('/:id', handle(deps, updateConnector));
  r.delete('/:id', handle(deps, deleteConnector));
  r.get('/:id/openapi.json', handle(deps, getConnectorOpenApi));
  return r;
}
