import { randomUUID } from 'node:crypto';
import type { AuditActor, AuditSource, ConnectLink } from '@toolplane/contracts';
import type { Request } from 'express';
import type { AuditScope } from '../../db/audited-db.ts';
import type { ControlPlaneDeps } from '../deps.ts';

/** Where a person's page request came from, as its audit event says (a page has no request id of the API's). */
export const pageSource = (req: Request): AuditSource => ({
  requestId: null,
  traceId: null,
  clientAddress: req.ip ?? null,
  userAgent: req.header('user-agent')?.slice(0, 1024) ?? null,
});

/**
 * A person's decision through a link page (an approval's, a change request's) as its audit event: the person is the
 * actor, the request decided the resource.
 */
export function personDecisionScope(event: {
  workspaceId: string;
  actor: AuditActor;
  action: string;
  resource: { type: string; id: string };
  source: AuditSource;
  via: string;
  model: string;
}): AuditScope {
  const id = randomUUID();
  return {
    pending: () => ({
      id,
      at: new Date().toISOString(),
      workspaceId: event.workspaceId,
      actor: event.actor,
      action: event.action,
      resource: event.resource,
      source: event.source,
      details: { via: event.via },
    }),
    model: () => event.model,
    recorded: undefined,
    open: true,
  };
}

/**
 * A person's connect, as the audit trail records it (`person.connect`): the person is the actor, the connection the
 * resource; `failed` when the provider or the exchange did not complete it. Never a token or a code. A failure to
 * store it is logged: the person's page is answered either way.
 */
export function auditPersonConnect(
  { trail, log }: ControlPlaneDeps,
  req: Request,
  link: ConnectLink,
  failure?: string,
): Promise<void> {
  return trail
    .appendAlone({
      id: randomUUID(),
      at: new Date().toISOString(),
      workspaceId: link.workspaceId,
      actor: { type: 'person', id: link.userId, name: link.username },
      action: 'person.connect',
      resource: { type: 'user_connection', id: link.connection },
      outcome: failure === undefined ? 'success' : 'failed',
      status: null,
      source: pageSource(req),
      changes: null,
      details: { server: link.serverId, tool: link.tool, scopes: link.scopes, ...(failure ? { error: failure } : {}) },
    })
    .then(
      () => undefined,
      (err: unknown) => log.error({ err }, 'a person’s connect could not be recorded in the audit trail'),
    );
}
