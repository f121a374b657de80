import { usesSession } from '@toolplane/access';
import { sessionScopes, type SessionSettings, type WorkspaceAccess } from '@toolplane/contracts';
import type { ResolvedCaller } from '../identity/resolved-caller.ts';

/**
 * Sessions on the edge (ADR 0078): whose session a call is in, for the session stage (`pipeline/session.ts`) and the
 * conditions that read it. The labels themselves live in Redis (`@toolplane/queue` `session-store.ts`).
 */

/** A caller's session (ADR 0078): its scopes (`sessionScopes`: the key or subject, and the person) and the settings. */
export interface CallSession {
  readonly settings: SessionSettings;
  readonly scopes: readonly string[];
  /** A condition of the workspace reads the session: every call is counted in it (`session.calls`). */
  readonly countCalls: boolean;
}

/** Whether a workspace's conditions read the session, worked out once per published document. */
const readingSession = new WeakMap<WorkspaceAccess, boolean>();

/**
 * The session rule's caller facts (`pipeline/caller-facts.ts`): the caller's session and the workspace's settings;
 * undefined when the workspace keeps none. Callers with a key or a token are their principal's session, whatever they
 * send; an anonymous caller's is its own client's (ADR 0078 amended).
 */
export function sessionFacts(who: ResolvedCaller): CallSession | undefined {
  const { access, principal } = who;
  if (!access.session) return undefined;
  let countCalls = readingSession.get(access);
  if (countCalls === undefined)
    readingSession.set(access, (countCalls = access.policies.some((p) => p.condition && usesSession(p.condition))));
  const client = who.identity.anonymous ? who.anonymousClient() : undefined;
  const scopes = sessionScopes(principal, who.serverId, client);
  return { settings: access.session, scopes, countCalls };
}
