import type { Router } from 'express';
import { jsonBody } from '../../http/body.ts';
import { apiRouter } from '../../http/route-access.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import { createSecret, deleteSecret, getSecret, listSecrets, putSecret } from './handlers.ts';
import { inScope, serverScope, workspaceScope, type ScopeOf } from './scopes.ts';

/**
 * Secrets REST API: create, rotate, delete and list secrets of a workspace
 * (`/api/v1/secrets`) or of one MCP server (`/api/v1/mcp_servers/{id}/secrets`). The worker reads a
 * workflow's `$secrets.NAME` as the external user's when the call names one, else (no user, or the
 * server's `fallbackToShared`) the server's, else the workspace's (docs/workflows.md). Values go
 * straight to the secrets store (write-only) and never come back: responses carry names, versions and
 * times, read from the store's metadata; PostgreSQL holds nothing of them. Every write tells workers to drop the cached value (`secretsChanged`), so a
 * rotation takes effect at once, and at the latest after the workers' SECRETS_CACHE_TTL_MS.
 */

/** The same five routes for either scope; `scopeOf` finds the caller's scope (404 when it does not exist). */
function secretsRoutes(deps: ControlPlaneDeps, scopeOf: ScopeOf): Router {
  const r = apiRouter({ mergeParams: true });
  r.use(jsonBody(deps.env.MAX_BODY_BYTES));
  r.get('/', inScope(deps, scopeOf, listSecrets));
  r.post('/', inScope(deps, scopeOf, createSecret));
  r.get('/:name', inScope(deps, scopeOf, getSecret));
  r.put('/:name', inScope(deps, scopeOf, putSecret));
  r.delete('/:name', inScope(deps, scopeOf, deleteSecret));
  return r;
}

/** `/api/v1/secrets`: the workspace's secrets. */
export function workspaceSecretsRouter(deps: ControlPlaneDeps): Router {
  return secretsRoutes(deps, workspaceScope);
}

/** `/api/v1/mcp_servers/{id}/secrets`: one MCP server's secrets (by id or name), `$secrets.NAME` of its workflows. */
export function serverSecretsRouter(deps: ControlPlaneDeps): Router {
  return secretsRoutes(deps, serverScope);
}
