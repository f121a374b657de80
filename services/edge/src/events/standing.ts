import { decideAccess } from '@toolplane/access';
import type { ApiKeyRecord, WorkspaceAccess } from '@toolplane/contracts';
import type { ProtocolError } from '@modelcontextprotocol/server';
import type { Caller } from '../identity/authenticate.ts';
import type { LoadedCatalog } from '../state/catalogs.ts';
import { keyRefusal } from '../protocol/open-streams.ts';
import { eventTypesOf } from './event-types.ts';
import { forbidden, notFound } from './wire.ts';

/**
 * Whether an open `events/stream` may go on (docs/events.md "terminated"): its event type is still on the server's
 * live catalog, its key still reaches the server (not revoked, not limited to other servers) or its token has not
 * expired, and the workspace's access policies, as published now, still grant it to the stream's caller. Read from the
 * edge's caches, which the control plane's announcements (catalog, key and access changes) invalidate. Undefined: it
 * stands; else the error its `notifications/events/terminated` carries.
 */
export type StreamStanding = (caller: Caller, name: string) => Promise<ProtocolError | undefined>;

export function streamStanding(sources: {
  catalogs: { get(serverId: string): Promise<LoadedCatalog | null> };
  accessPolicies: { get(workspaceId: string): Promise<WorkspaceAccess> };
  apiKeys: { authenticateHash(hash: string): Promise<ApiKeyRecord | null> };
}): StreamStanding {
  return async (caller, name) => {
    const { serverId, workspaceId } = caller.loaded.catalog;
    const live = await sources.catalogs.get(serverId);
    if (!live || !eventTypesOf(live).has(name))
      return notFound(`The event type "${name}" was removed from this server.`, 'event');
    const { credential } = caller;
    if (credential.kind === 'key') {
      const refused = keyRefusal(await sources.apiKeys.authenticateHash(credential.keyHash), serverId);
      if (refused) return forbidden(`Access revoked: ${refused}.`);
    }
    if (credential.kind !== 'anonymous' && credential.expiresAt !== undefined && credential.expiresAt <= Date.now())
      return forbidden('Access revoked: the access token has expired.');
    const identity = caller.stepCaller?.().identity;
    if (!identity) return undefined; // a caller made without one (tests' fakes): its view at open stands
    const decision = decideAccess(await sources.accessPolicies.get(workspaceId), identity, serverId);
    if (!decision.allowed) return forbidden(decision.reason);
    if (decision.grant !== 'all' && !decision.grant.has(name))
      return forbidden(`Access revoked: no access policy grants ${decision.who} the event type "${name}" any more.`);
    return undefined;
  };
}
