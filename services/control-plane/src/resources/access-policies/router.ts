import type { Router } from 'express';
import { jsonBody } from '../../http/body.ts';
import { apiRouter } from '../../http/route-access.ts';
import { handle, type ControlPlaneDeps } from '../deps.ts';
import {
  createAccessPolicy,
  deleteAccessPolicy,
  getAccessPolicy,
  listAccessPolicies,
  updateAccessPolicy,
} from './handlers.ts';
import { explainAccessDecision } from './explain.ts';

/**
 * Access policies (ADR 0013): allow rules granting servers and tools to API keys, OAuth
 * subjects and groups, and external users. Stored here, published per workspace to Redis (publish.ts); the edge
 * decides on every tools/list and tools/call from its cached copy.
 */
export function accessPoliciesRouter(deps: ControlPlaneDeps): Router {
  const r = apiRouter();
  r.use(jsonBody(deps.env.MAX_BODY_BYTES));
  r.post('/', handle(deps, createAccessPolicy));
  r.post('/explain', handle(deps, explainAccessDecision));
  r.get('/', handle(deps, listAccessPolicies));
  r.get('/:id', handle(deps, getAccessPolicy));
  r.patch('/:id', handle(deps, updateAccessPolicy));
  r.delete('/:id', handle(deps, deleteAccessPolicy));
  return r;
}
