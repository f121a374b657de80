import type { AuditEventInput } from '@toolplane/contracts';
import { approvalRuleVersion, type ApprovalNotifyTarget, type StoredApprovalRule } from '../../catalog/approvals.ts';
import type { Tx } from '../../db/client.ts';
import type { StoredRequester } from './handlers.ts';
import type { NewApprovalRequest } from './notify-bodies.ts';
import { RequestedDetails } from './schemas.ts';

/** What ingesting an edge's approval event does: its row change, and the new request it made, once committed. */
export interface ApprovalIngest {
  change: (tx: Tx) => Promise<void>;
  /** After the commit: the request `change` created (undefined when the row was there already: sent once). */
  created: () => NewApprovalRequest | undefined;
}

const none = () => undefined;

/**
 * The row change an edge's approval event brings (ADR 0049), made in the transaction that appends the event: a request
 * becomes a row (`approval.requested`), a spent approval `executed`, one a retry found past its time `expired`. Each
 * is idempotent (a stream may deliver an event twice); only a request whose row is new is announced (`created`).
 * Undefined for every other event.
 */
export function approvalChange(event: AuditEventInput): ApprovalIngest | undefined {
  const id = event.resource.type === 'approval' ? event.resource.id : null;
  if (!id || !event.workspaceId) return undefined;
  const workspaceId = event.workspaceId;
  switch (event.action) {
    case 'approval.requested': {
      const parsed = RequestedDetails.safeParse(event.details);
      if (!parsed.success) return undefined;
      return requested(id, workspaceId, event, parsed.data);
    }
    case 'approval.executed':
      return {
        change: async (tx) => {
          await tx.approval.updateMany({
            where: { id, workspaceId, state: { in: ['pending', 'granted'] } },
            data: { state: 'executed', executedAt: new Date(event.at) },
          });
        },
        created: none,
      };
    case 'approval.expired':
      return {
        change: async (tx) => {
          await tx.approval.updateMany({
            where: { id, workspaceId, state: { in: ['pending', 'granted'] } },
            data: { state: 'expired' },
          });
        },
        created: none,
      };
    default:
      return undefined;
  }
}

/** A request's row, made unless it is there (a second delivery), with where to announce it when it is new. */
function requested(id: string, workspaceId: string, event: AuditEventInput, d: RequestedDetails): ApprovalIngest {
  const requester: StoredRequester = { ...event.actor, ...d.requester };
  let made: NewApprovalRequest | undefined;
  return {
    change: async (tx) => {
      made = undefined;
      const { count } = await tx.approval.createMany({
        skipDuplicates: true,
        data: [
          {
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
              ...storedSession(d.rule.session),
              ...(d.rule.taskGrant ? { taskGrant: d.rule.taskGrant } : {}),
            },
            state: 'pending',
            requestedAt: new Date(event.at),
            expiresAt: new Date(d.approval.expiresAt),
          },
        ],
      });
      if (count === 0) return;
      const notify = await notifyTargets(tx, workspaceId, d);
      if (notify.length > 0) made = { id, workspaceId, requesterName: event.actor.name, details: d, notify };
    },
    created: () => made,
  };
}

/** A session rule's reason as the row keeps it (the origin's time as an ISO time, as the API shows it). */
function storedSession(session: RequestedDetails['rule']['session']) {
  if (!session) return {};
  const { origin } = session;
  return { session: { reason: session.reason, origin: { ...origin, at: new Date(origin.at).toISOString() } } };
}

/**
 * Where a request is announced: the webhooks of the rule it was made under (by its version). A tool of the request's
 * own server's `approvalTools`: that server's, while its rule is still that one. Otherwise (a workflow tool inheriting
 * a step's rule) those of the workspace's servers with that rule. Each webhook once.
 */
async function notifyTargets(tx: Tx, workspaceId: string, d: RequestedDetails): Promise<ApprovalNotifyTarget[]> {
  const rows = await tx.mcpServer.findMany({
    where: { workspaceId, approvalTools: { isEmpty: false } },
    select: { id: true, approvalTools: true, approvalRule: true },
  });
  const ruleOf = (r: (typeof rows)[number]) => r.approvalRule as unknown as StoredApprovalRule | null;
  const own = rows.find((r) => r.id === d.server.id && r.approvalTools.includes(d.tool));
  const under = (own ? [own] : rows).filter((r) => {
    const rule = ruleOf(r);
    return rule !== null && approvalRuleVersion(rule) === d.rule.version;
  });
  const targets = under.flatMap((r) => ruleOf(r)!.notify ?? []);
  return [...new Map(targets.map((t) => [`${t.format} ${t.url}`, t])).values()];
}
