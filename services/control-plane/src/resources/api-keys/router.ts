import type { Router } from 'express';
import { jsonBody } from '../../http/body.ts';
import { apiRouter } from '../../http/route-access.ts';
import { handle, type ControlPlaneDeps } from '../deps.ts';
import { getApiKey, issueApiKey, listApiKeys, revokeApiKey, updateApiKey } from './handlers.ts';

/**
 * The workspace's API keys: created with scopes the caller has (its value shown once), optionally limited to
 * servers; renamed, restricted and revoked with effect on every edge at once (keys.ts publishes them to Redis).
 */
export function apiKeysRouter(deps: ControlPlaneDeps): Router {
  const r = apiRouter();
  r.use(jsonBody(deps.env.MAX_BODY_BYTES));
  r.post('/', handle(deps, issueApiKey));
  r.get('/', handle(deps, listApiKeys));
  r.get('/:id', handle(deps, getApiKey));
  r.patch('/:id', handle(deps, updateApiKey));
  r.delete('/:id', handle(deps, revokeApiKey));
  return r;
}
