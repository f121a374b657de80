import type { Router } from 'express';
import { jsonBody } from '../../http/body.ts';
import { apiRouter } from '../../http/route-access.ts';
import { handle, type ControlPlaneDeps } from '../deps.ts';
import {
  createExternalUser,
  deleteExternalUser,
  deleteUserConnection,
  deleteUserMcpConnection,
  deleteUserSecret,
  listExternalUsers,
  listUserConnections,
  listUserSecrets,
  setUserConnection,
  setUserMcpConnection,
  setUserSecret,
  updateExternalUser,
} from './handlers.ts';

/**
 * External users: the end users of a workspace's app, named by it. Each can have its own
 * connection per connector instance: credentials pushed here, or their own account connected with a connect link
 * (ADR 0027); `x-username` on MCP requests makes tools run with that user's connection. The edge learns name → id
 * from a Redis hash published here. People's own-account connections end (revoked at the provider through a worker)
 * on disconnect and deletion (`deps.people`).
 */
export function externalUsersRouter(deps: ControlPlaneDeps): Router {
  const r = apiRouter();
  r.use(jsonBody(deps.env.MAX_BODY_BYTES));
  r.post('/', handle(deps, createExternalUser));
  r.patch('/:name', handle(deps, updateExternalUser));
  r.get('/', handle(deps, listExternalUsers));
  r.delete('/:name', handle(deps, deleteExternalUser));
  r.get('/:name/connections', handle(deps, listUserConnections));
  r.put('/:name/connections/:instanceId', handle(deps, setUserConnection));
  r.delete('/:name/connections/:instanceId', handle(deps, deleteUserConnection));
  r.get('/:name/secrets', handle(deps, listUserSecrets));
  r.put('/:name/secrets/:secret', handle(deps, setUserSecret));
  r.delete('/:name/secrets/:secret', handle(deps, deleteUserSecret));
  r.put('/:name/mcp_connections/:serverId/:external', handle(deps, setUserMcpConnection));
  r.delete('/:name/mcp_connections/:serverId/:external', handle(deps, deleteUserMcpConnection));
  return r;
}
