import { decideAccess } from '@toolplane/access';
import type { WorkspaceAccess } from '@toolplane/contracts';
import type { ProtocolError } from '@modelcontextprotocol/server';
import type { Caller } from '../authenticate.ts';
import type { LoadedCatalog } from '../catalogs.ts';
import { eventTypesOf } from './event-types.ts';
import { forbidden, notFound } from './wire.ts';

/**
 * Whether an open `events/stream` may go on (docs/events.md "terminated"): its event type is still on the server's
 * live catalog, and the workspace's access policies, as published now, still grant it to the stream's caller. Read
 * from the edge's caches, which the control plane's announcements (catalog and access changes) invalidate. Undefined:
 * it stands; else the error its `notifications/events/terminated` carries.
 */
export type StreamStanding = (caller: Caller, name: string) => Promise<ProtocolError | undefined>;

export function streamStanding(sources: {
  catalogs: { get(serverId: string): Promise<LoadedCatalog | null> };
  accessPolicies: { get(workspaceId: string): Promise<WorkspaceAccess> };
}): StreamStanding {
  return async (caller, name) => {
    const { serverId, workspaceId } = caller.loaded.catalog;
    const live = await sources.catalogs.get(serverId);
    if (!live || !eventTypesOf(live).has(name))
      return notFound(`The event type "${name}" was removed from this server.`, 'event');
    const identity = caller.stepCaller?.().identity;
    if (!identity) return undefined; // a caller made without one (tests' fakes): its view at open stands
    const decision = decideAccess(await sources.accessPolicies.get(workspaceId), identity, serverId);
    if (!decision.allowed) return forbidden(decision.reason);
    if (decision.grant !== 'all' && !decision.grant.has(name))
      return forbidden(`Access revoked: no access policy grants ${decision.who} the event type "${name}" any more.`);
    return undefined;
  };
}
