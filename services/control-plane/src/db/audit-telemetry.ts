import type { AuditEvent } from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import { emitLogRecord } from '@toolplane/telemetry';

/**
 * What hears each committed audit event: a line of the service's log, and an OpenTelemetry log record (scope
 * `toolplane.audit`, event name `toolplane.audit`, the event as its body) that a collector can ship to a SIEM.
 */
export function auditEventExport(log: Logger): (event: AuditEvent) => void {
  return (event) => {
    log.info(
      { audit: { id: event.id, seq: event.seq, action: event.action, outcome: event.outcome, actor: event.actor } },
      'audit event',
    );
    emitLogRecord('toolplane.audit', {
      eventName: 'toolplane.audit',
      timestamp: new Date(event.at),
      body: JSON.stringify(event),
      attributes: {
        'audit.id': event.id,
        'audit.chain': event.chain,
        'audit.seq': event.seq,
        'audit.hash': event.hash,
        'audit.action': event.action,
        'audit.outcome': event.outcome,
        'audit.resource.type': event.resource.type,
        'audit.resource.id': event.resource.id ?? '',
        'audit.actor.type': event.actor.type,
        'audit.actor.id': event.actor.id ?? '',
        'audit.actor.name': event.actor.name ?? '',
        'toolplane.workspace_id': event.workspaceId ?? '',
        'http.request.id': event.source.requestId ?? '',
        ...(event.source.clientRequestId ? { 'http.request.client_id': event.source.clientRequestId } : {}),
      },
    });
  };
}
