import type { AuditEventInput } from '@toolplane/contracts';
import type { Tx } from '../../db/client.ts';
import type { StoredRequester } from './handlers.ts';
import { RequestedDetails } from './schemas.ts';

/**
 * The row change an edge's approval event brings (ADR 0049), made in the transaction that appends the event: a request
 * becomes a row (`approval.requested`), a spent approval `executed`, one a retry found past its time `expired`. Each
 * is idempotent (a stream may deliver an event twice). Undefined for every other event.
 */
export function approvalChange(event: AuditEventInput): ((tx: Tx) => Promise<void>) | undefined {
  const id = event.resource.type === 'approval' ? event.resource.id : null;
  if (!id || !event.workspaceId) return undefined;
  const workspaceId = event.workspaceId;
  switch (event.action) {
    case 'approval.requested': {
      const parsed = RequestedDetails.safeParse(event.details);
      if (!parsed.success) return undefined;
      const d = parsed.data;
      const requester: StoredRequester = { ...event.actor, ...d.requester };
      return async (tx) => {
        await tx.approval.upsert({
          where: { id },
          update: {},
          create: {
            id,
            workspaceId,
            serverId: d.server.id,
            serverName: d.server.name,
            tool: d.tool,
            binding: d.approval.binding,
            argumentsDigest: d.argumentsDigest,
            arguments: d.arguments as object,
            requester: requester as object,
            ruleVersion: d.rule.version,
            rule: {
              approvers: d.rule.approvers,
              approvals: d.rule.approvals,
              expiresInSeconds: d.rule.expiresInSeconds,
            },
            state: 'pending',
            requestedAt: new Date(event.at),
            expiresAt: new Date(d.approval.expiresAt),
          },
        });
      };
    }
    case 'approval.executed':
      return async (tx) => {
        await tx.approval.updateMany({
          where: { id, workspaceId, state: { in: ['pending', 'granted'] } },
          data: { state: 'executed', executedAt: new Date(event.at) },
        });
      };
    case 'approval.expired':
      return async (tx) => {
        await tx.approval.updateMany({
          where: { id, workspaceId, state: { in: ['pending', 'granted'] } },
          data: { state: 'expired' },
        });
      };
    default:
      return undefined;
  }
}
