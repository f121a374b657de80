import { auditActor, printable, type CallEventBase } from '@toolplane/access';
import type { Principal } from '@toolplane/contracts';
import { currentTraceIds } from '@toolplane/telemetry';
import type { SourceRequest } from './call-context.ts';
import type { LoadedCatalog } from '../state/catalogs.ts';

/**
 * The audit events of the edge's calls: the builders are `@toolplane/access`'s (call-events.ts, shared with the worker's
 * checks of workflow steps); this reads a call's facts for them once (`callEvents`).
 */

/** A call as audit events name it. */
export interface AuditedCall {
  readonly principal: Readonly<Principal>;
  readonly loaded: LoadedCatalog;
  readonly requestId: string | number;
  readonly source?: SourceRequest | undefined;
  /** The API key's name, when an API key calls. */
  readonly keyName?: string | undefined;
  /** A call a `run_code` program made: the program's invocation, named in the event's details. */
  readonly parentInvocationId?: string | undefined;
}

/** The audit facts of a call of `tool`. */
export function callEvents(call: AuditedCall, tool: string): CallEventBase {
  const { catalog } = call.loaded;
  return {
    workspaceId: catalog.workspaceId,
    serverId: catalog.serverId,
    serverName: catalog.name,
    tool,
    actor: auditActor(call.principal, call.keyName),
    source: {
      requestId: printable(String(call.requestId), 256),
      traceId: currentTraceIds()?.traceId ?? null,
      clientAddress: cut(call.source?.ip, 256),
      userAgent: cut(call.source?.header('user-agent'), 1024),
    },
    parentInvocationId: call.parentInvocationId,
    delegation: call.principal.delegation,
  };
}

const cut = (v: string | undefined, max: number) => (v === undefined ? null : v.slice(0, max));
