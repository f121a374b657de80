import type { Router } from 'express';
import { jsonBody } from '../../http/body.ts';
import { apiRouter } from '../../http/route-access.ts';
import { handle, type ControlPlaneDeps } from '../deps.ts';
import {
  createServer,
  deleteServer,
  getServer,
  getServerConfig,
  listCatalogVersions,
  listServers,
  loadToolsFromUrl,
  updateServer,
} from './handlers.ts';

/**
 * MCP servers (`/mcp_manager`): what each exposes (SMART or NORMAL mode, a connector instance's tools, workspace tools
 * by name, external MCP servers), its catalog versions and what its MCP clients see. Every change of what a server
 * exposes goes through the catalog service.
 */
export function serversRouter(deps: ControlPlaneDeps): Router {
  const r = apiRouter();
  r.use(jsonBody(deps.env.MAX_BODY_BYTES));
  r.post('/load-tools-from-url', handle(deps, loadToolsFromUrl));
  r.post('/', handle(deps, createServer));
  r.get('/', handle(deps, listServers));
  r.patch('/:id', handle(deps, updateServer));
  r.delete('/:id', handle(deps, deleteServer));
  r.get('/:id', handle(deps, getServer));
  r.get('/:id/catalog_versions', handle(deps, listCatalogVersions));
  r.get('/:id/config', handle(deps, getServerConfig));
  return r;
}
