import type { Router } from 'express';
import { jsonBody } from '../../http/body.ts';
import { apiRouter } from '../../http/route-access.ts';
import { handle, type ControlPlaneDeps } from '../deps.ts';
import {
  createExternalMcpServer,
  deleteExternalMcpServer,
  getExternalMcpServer,
  listExternalMcpServers,
  updateExternalMcpServer,
} from './handlers.ts';

/**
 * External MCP servers registered on the workspace (registered by URL once, stored on the workspace, usable by every
 * server of it): a name, a URL and headers, used by any hosted server that names it
 * in `externalMcpServers`. Header values are secrets, one per header (`externalServerHeaderSecretName`):
 * write-only, never in an answer, patched one at a time. A change of the URL, the name or a header
 * recompiles every server using it in one catalog change; its tool list (last listed) is kept here and
 * refreshed with the servers' catalogs (refresh.ts).
 */
export function externalMcpServersRouter(deps: ControlPlaneDeps): Router {
  const r = apiRouter();
  r.use(jsonBody(deps.env.MAX_BODY_BYTES));
  r.get('/', handle(deps, listExternalMcpServers));
  r.post('/', handle(deps, createExternalMcpServer));
  r.get('/:id', handle(deps, getExternalMcpServer));
  r.patch('/:id', handle(deps, updateExternalMcpServer));
  r.delete('/:id', handle(deps, deleteExternalMcpServer));
  return r;
}
