import type { Router } from 'express';
import { jsonBody } from '../../http/body.ts';
import { apiRouter } from '../../http/route-access.ts';
import { handle, type ControlPlaneDeps } from '../deps.ts';
import {
  createConnectorInstance,
  deleteConnectorInstance,
  getConnectorInstance,
  listConnectorInstances,
  testConnectorInstance,
  updateConnectorInstance,
} from './handlers.ts';

/**
 * Connector instances: a connector with a base URL and credentials (kept in the secrets store, never returned), and the
 * MCP server generated for it when its connector's `mcp_config` enables one (catalog/instance-servers.ts, ADR 0024).
 */
export function connectorInstancesRouter(deps: ControlPlaneDeps): Router {
  const r = apiRouter();
  r.use(jsonBody(deps.env.MAX_BODY_BYTES));
  r.post('/', handle(deps, createConnectorInstance));
  r.get('/', handle(deps, listConnectorInstances));
  r.get('/:id', handle(deps, getConnectorInstance));
  r.patch('/:id', handle(deps, updateConnectorInstance));
  r.post('/:id/test', handle(deps, testConnectorInstance));
  r.delete('/:id', handle(deps, deleteConnectorInstance));
  return r;
}
