import { decideAccess, type CallerIdentity } from '@toolplane/access';
import type { WorkspaceAccess } from '@toolplane/contracts';
import type { PrincipalKey, ServerTools } from './aggregate.ts';

/** A key id no policy can name: the workspace's own credential acting for a person (explain.ts does the same). */
const WORKSPACE_KEY = 'least-privilege:workspace-key';

export interface KeyFacts {
  name: string;
  serverIds: string[];
}

export interface Granted {
  /** A key no policy names: every tool of every server its restriction allows (ADR 0013). */
  unrestricted: boolean;
  /** The policies that name the principal (by name). */
  grantedBy: string[];
  servers: { id: string; name: string; tools: string[] }[];
}

/**
 * What a principal may call, as the edge decides it (`decideAccess`, conditional grants included: their tools are
 * visible and callable when the condition holds): an API key as itself (a deleted key: nothing); a person as a key no
 * policy names acting for them (only the person's grants narrow it). Tools are those of the servers' live catalogs.
 */
export function grantsOf(
  access: WorkspaceAccess,
  principal: PrincipalKey,
  servers: readonly ServerTools[],
  key: KeyFacts | undefined,
): Granted {
  const named = (p: { type: string; value: string }) =>
    principal.type === 'api_key'
      ? p.type === 'api_key' && p.value === principal.id
      : p.type === 'external_user' && (p.value === principal.id || p.value === '*');
  const grantedBy = access.policies.filter((p) => p.principals.some(named)).map((p) => p.name ?? p.id);
  if (principal.type === 'api_key' && !key) return { unrestricted: false, grantedBy, servers: [] };
  const identity: CallerIdentity =
    principal.type === 'api_key'
      ? { keyId: principal.id, ...(key!.serverIds.length > 0 ? { keyServerIds: key!.serverIds } : {}) }
      : { keyId: WORKSPACE_KEY, username: principal.id };
  const granted: Granted['servers'] = [];
  for (const server of servers) {
    const decision = decideAccess(access, identity, server.id);
    if (!decision.allowed) continue;
    const grant = decision.grant;
    const tools = grant === 'all' ? server.tools : server.tools.filter((t) => grant.has(t));
    granted.push({ id: server.id, name: server.name, tools });
  }
  return { unrestricted: principal.type === 'api_key' && grantedBy.length === 0, grantedBy, servers: granted };
}
