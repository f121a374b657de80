import { AuthError, NotFoundError, ValidationError } from '@toolplane/errors';
import type { Db } from '../db/client.ts';
import { isUuid } from '../db/ids.ts';
import type { OperationScope, ServerLimitedAccess } from '../openapi/registry.ts';
import { credentialName, type Caller } from './auth.ts';

/**
 * What an operation admits, decided from the caller and the request's raw path and query only (never its URL read
 * again): the same for a request over HTTP and for an operation run in-process (resources/operation.ts).
 */

const writeMethods = new Set(['post', 'put', 'patch', 'delete']);

/**
 * A write with a query parameter its operation does not document is refused (422): `?dry_run=true` on an operation
 * without dry runs must not look like one (ADR 0037), and a misspelt option must not be ignored.
 */
export function refuseUnknownQuery(method: string, query: object, declared: readonly string[]): void {
  if (!writeMethods.has(method.toLowerCase())) return;
  const unknown = Object.keys(query).filter((name) => !declared.includes(name));
  if (unknown.length === 0) return;
  throw new ValidationError(
    `unknown query parameter${unknown.length > 1 ? 's' : ''}: ${unknown.map((n) => JSON.stringify(n)).join(', ')}`,
    unknown.map((name) => ({ path: `/query/${name}`, message: 'this operation takes no such query parameter' })),
    'request.invalid',
  );
}

/**
 * 403 unless the caller holds the operation's scope (`audit` is not implied by `management`, nor the reverse;
 * `approve` is implied by `management`, never the reverse).
 */
export function requireScope(c: Caller, scope: OperationScope): void {
  // `any`: authentication already asked for one of the management API's scopes.
  if (scope === 'any' || c.scopes.includes(scope)) return;
  if (scope === 'approve' && c.scopes.includes('management')) return;
  const wanted = scope === 'approve' ? '"approve" or "management"' : `"${scope}"`;
  throw new AuthError('auth.forbidden', `${credentialName(c)} has no ${wanted} scope`);
}

function refusal(serverIds: string[], what: string, serverAdminHelps: boolean): AuthError {
  return new AuthError(
    'auth.forbidden',
    `this API key is limited to servers ${serverIds.join(', ')}: ${what} needs a key without a server restriction` +
      (serverAdminHelps ? ' or with the "server_admin" scope' : ''),
  );
}

/**
 * Keys limited to servers on the management API (ADR 0013): what `access`, the operation's `x-server-limited-keys`,
 * allows such a key (see ServerLimitedAccess). Unrestricted keys and signed-in users are not concerned.
 */
export async function restrictToServers(
  db: Db,
  c: Caller,
  request: { access: ServerLimitedAccess; operation: string; params: Record<string, unknown>; query: object },
): Promise<void> {
  const { serverIds, workspaceId } = c;
  if (!serverIds) return;
  const { access, operation } = request;
  const allowed = new Set(serverIds);
  switch (access) {
    case 'filtered':
      return;
    case 'server_query': {
      const requested = (request.query as { server_id?: unknown }).server_id;
      if (typeof requested !== 'string' || !allowed.has(requested))
        throw new AuthError(
          'auth.forbidden',
          `this API key is limited to servers ${serverIds.join(', ')}: pass one of them as server_id`,
        );
      return;
    }
    case 'own_server':
    case 'server_admin': {
      const idOrName = request.params.id;
      if (typeof idOrName !== 'string') throw new Error(`${operation} has no {id} parameter`);
      // Servers are addressed by id or by name (where the routes accept one).
      const id = isUuid(idOrName)
        ? idOrName
        : (await db.mcpServer.findFirst({ where: { workspaceId, name: idOrName }, select: { id: true } }))?.id;
      if (!id || !allowed.has(id)) throw new NotFoundError('MCP server', idOrName);
      if (access === 'server_admin' && !c.scopes.includes('server_admin'))
        throw refusal(serverIds, `${operation} (it changes what the server exposes, or deletes it)`, true);
      return;
    }
    case 'refused':
      throw refusal(serverIds, operation, false);
  }
}
/**
 * No escalation: a key grants only scopes it has itself (a key without a server restriction has every power
 * server_admin gives back to a restricted key, so it may grant that one; management implies approve). `POST
 * /api_keys` and a workspace plan (whose apply creates keys through it) ask the same question.
 */
export function mayGrant(me: Pick<Caller, 'scopes' | 'serverIds'>, scope: string): boolean {
  return (
    me.scopes.includes(scope) ||
    (scope === 'server_admin' && !me.serverIds) ||
    (scope === 'approve' && me.scopes.includes('management'))
  );
}
