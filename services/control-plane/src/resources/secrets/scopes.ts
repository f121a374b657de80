import { workspaceSecrets } from '@toolplane/contracts';
import { NotFoundError } from '@toolplane/errors';
import type { SecretMetadata } from '@toolplane/secrets';
import { serverSecretName } from '../../catalog/secret-names.ts';
import { isUuid } from '../../db/ids.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';

/** Whose secrets a call reaches: the workspace's or one MCP server's. */
export interface Scope {
  /** Store name prefix of this scope's secrets. */
  prefix: string;
  present: (m: SecretMetadata) => Record<string, unknown>;
}

/** Finds the caller's scope (404 when it does not exist). */
export type ScopeOf = (deps: ControlPlaneDeps, input: Pick<Input, 'caller' | 'params'>) => Promise<Scope>;

/** An operation of either scope: a named module-level function of handlers.ts, given the scope the call reaches. */
export type ScopedHandler<B> = (deps: ControlPlaneDeps, scope: Scope, input: Input<B>) => Promise<unknown>;

/** The operation's handler: finds the call's scope with `scopeOf` first (its 404), then calls `handler`. */
export function inScope<B>(scopeOf: ScopeOf, handler: ScopedHandler<B>) {
  return async (deps: ControlPlaneDeps, input: Input<B>) => handler(deps, await scopeOf(deps, input), input);
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
export const workspaceScope: ScopeOf = async (_deps, { caller }) => ({
  prefix: workspaceSecrets.prefix(caller.workspaceId),
  present: presenter({ scope: 'workspace' }),
});

/** `/api/v1/mcp_servers/{id}/secrets`: one MCP server's secrets (by id or name), `$secrets.NAME` of its workflows. */
export const serverScope: ScopeOf = async ({ db }, { caller: { workspaceId }, params }) => {
  const idOrName = params.id ?? '';
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
