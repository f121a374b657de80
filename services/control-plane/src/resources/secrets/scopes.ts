import { workspaceSecrets } from '@toolplane/contracts';
import { NotFoundError } from '@toolplane/errors';
import type { SecretMetadata } from '@toolplane/secrets';
import type { Request, RequestHandler, Response } from 'express';
import { serverSecretName } from '../../catalog/secret-names.ts';
import { isUuid } from '../../db/ids.ts';
import { caller } from '../../http/auth.ts';
import { handle, type ControlPlaneDeps } from '../deps.ts';

/** Whose secrets a request reaches: the workspace's or one MCP server's. */
export interface Scope {
  /** Store name prefix of this scope's secrets. */
  prefix: string;
  present: (m: SecretMetadata) => Record<string, unknown>;
}

/** Finds the caller's scope (404 when it does not exist). */
export type ScopeOf = (deps: ControlPlaneDeps, req: Request) => Promise<Scope>;

/** A route of either scope: a named module-level function of handlers.ts, given the scope the request reaches. */
export type ScopedHandler = (deps: ControlPlaneDeps, scope: Scope, req: Request, res: Response) => Promise<void>;

/** The route handler that finds the request's scope with `scopeOf` first, then calls `handler`. */
export function inScope(deps: ControlPlaneDeps, scopeOf: ScopeOf, handler: ScopedHandler): RequestHandler {
  return handle(deps, async (d, req, res) => handler(d, await scopeOf(d, req), req, res));
}

function presenter(extra: Record<string, unknown>) {
  return (m: SecretMetadata) => {
    const name = m.name.slice(m.name.lastIndexOf('/') + 1);
    return {
      name,
      ...extra,
      version: m.version,
      versions: m.versions,
      created_at: m.createdAt.toISOString(),
      updated_at: m.updatedAt.toISOString(),
    };
  };
}

/** `/api/v1/secrets`: the workspace's secrets. */
export const workspaceScope: ScopeOf = async (_deps, req) => ({
  prefix: workspaceSecrets.prefix(caller(req).workspaceId),
  present: presenter({ scope: 'workspace' }),
});

/** `/api/v1/mcp_servers/{id}/secrets`: one MCP server's secrets (by id or name), `$secrets.NAME` of its workflows. */
export const serverScope: ScopeOf = async ({ db }, req) => {
  const { workspaceId } = caller(req);
  const idOrName = String((req.params as Record<string, string>).id ?? '');
  const server = await db.mcpServer.findFirst({
    where: isUuid(idOrName) ? { id: idOrName, workspaceId } : { name: idOrName, workspaceId },
    select: { id: true },
  });
  if (!server) throw new NotFoundError('MCP server', idOrName);
  return {
    prefix: serverSecretName(workspaceId, server.id, ''),
    present: presenter({ scope: 'mcp_server', mcp_server_id: server.id }),
  };
};
