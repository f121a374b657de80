import type { Router } from 'express';
import { jsonBody } from '../../http/body.ts';
import { apiRouter } from '../../http/route-access.ts';
import { handle, type ControlPlaneDeps } from '../deps.ts';
import { deployWorkflow, getDeployment, listDeployments, redeployDeployment, withdrawDeployment } from './handlers.ts';

/**
 * Workflow deployments, Bump-compatible: `POST /api/v1/mcp_servers/{id}/deploy` with
 * `{definition, references?}` → 201 `{id, mcp_server_id}`, 204 when the same document is already
 * active, 422 `{message, errors}`. A deployment is `deploying`, then `active` (the previous active one
 * becomes `superseded`) or `errored`. The server's catalog always carries the tools of its latest
 * active deployment (`withWorkflowTools`, called by `compileCatalog`). Arazzo source descriptions not
 * uploaded are fetched by URL or taken from a connector (documents/workflow-sources.ts) and stored with the
 * deployment; `POST …/deployments/{deploymentId}/redeploy` activates a deployment again from what it
 * stored, fetching nothing (a rollback, when it is an earlier one), and `…/withdraw` takes the active
 * deployment's tools off the server (it becomes `withdrawn`).
 */
export function deploymentsRouter(deps: ControlPlaneDeps): Router {
  const r = apiRouter();
  r.use(jsonBody(deps.env.MAX_BODY_BYTES));
  r.post('/:id/deploy', handle(deps, deployWorkflow));
  r.post('/:id/deployments/:deploymentId/redeploy', handle(deps, redeployDeployment));
  r.post('/:id/deployments/:deploymentId/withdraw', handle(deps, withdrawDeployment));
  r.get('/:id/deployments', handle(deps, listDeployments));
  r.get('/:id/deployments/:deploymentId', handle(deps, getDeployment));
  return r;
}
