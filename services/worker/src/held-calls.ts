import { randomUUID } from 'node:crypto';
import type { AuditEventInput, CallRules, ToolInvokeJob } from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import { startApprovedJob } from '@toolplane/queue';
import type { RedisClient } from '@toolplane/redis';

/**
 * A task's call held for someone else's approval (ADR 0049): its job waited in the queue, delayed until the request's
 * expiry and promoted when an approver decided. When it starts, the request decides whether it runs: a grant is spent
 * by this job (single use; a re-delivery of the same job runs on), a denial, an expiry or a grant already spent fails
 * the task, with nothing sent. The job's deadline covered the wait: once granted the call gets `timeoutMs` from now.
 */
export type HeldCallStart = (
  job: ToolInvokeJob,
  approval: NonNullable<CallRules['approval']>,
) => Promise<{ run: ToolInvokeJob } | { refused: string }>;

export interface HeldCallDeps {
  redis: RedisClient;
  log: Logger;
  /** `approval.executed` and `approval.expired` for the workspace's audit trail (the control plane moves the row). */
  audit: { add(event: AuditEventInput): void };
  /** A job that runs nothing gives its quota units back. */
  quotaRefunds?: ((charge: NonNullable<CallRules['quota']>) => Promise<void>) | undefined;
}

function approvalAudit(job: ToolInvokeJob, id: string, action: 'executed' | 'expired'): AuditEventInput {
  return {
    id: randomUUID(),
    at: new Date().toISOString(),
    workspaceId: job.principal.workspaceId,
    actor: { type: 'system', id: null, name: 'toolplane' },
    action: `approval.${action}`,
    resource: { type: 'approval', id },
    outcome: 'success',
    status: null,
    source: { requestId: job.invocationId, traceId: null, clientAddress: null, userAgent: null },
    changes: null,
    details: {
      server: { id: job.serverId },
      tool: job.tool,
      ...(job.task ? { task: job.task.id } : {}),
      ...(job.parentInvocationId ? { parentInvocationId: job.parentInvocationId } : {}),
    },
  };
}

export function heldCallStart(deps: HeldCallDeps): HeldCallStart {
  return async (job, approval) => {
    const { key, id, timeoutMs } = approval;
    const now = Date.now();
    const found = await startApprovedJob(deps.redis, key, { id, invocationId: job.invocationId, now }).catch(
      () => undefined,
    );
    if (found?.kind === 'run') {
      deps.audit.add(approvalAudit(job, id, 'executed'));
      return { run: { ...job, deadlineAt: Math.min(job.deadlineAt, now + timeoutMs) } };
    }
    if (found?.kind === 'expired' && found.found) deps.audit.add(approvalAudit(job, id, 'expired'));
    if (job.rules?.quota)
      await deps
        .quotaRefunds?.(job.rules.quota)
        .catch((err: unknown) =>
          deps.log.warn(
            { err: String(err), invocationId: job.invocationId },
            'a held call’s quota units not given back',
          ),
        );
    deps.log.info({ approval: id, tool: job.tool, found: found?.kind ?? 'unreadable' }, 'a held call was not run');
    return { refused: refusalOf(id, job.tool, found) };
  };
}

function refusalOf(id: string, tool: string, found: Awaited<ReturnType<typeof startApprovedJob>> | undefined): string {
  const not = `the call of "${tool}" was not made, nothing was sent`;
  switch (found?.kind) {
    case 'denied':
      return `Approval request ${id} was denied${found.comment ? `: ${found.comment}` : ''}; ${not}.`;
    case 'expired':
      return `Approval request ${id} expired before anyone approved it; ${not}. Calling again makes a new request.`;
    case 'spent':
      return `Approval request ${id} was spent by another call; ${not}.`;
    case 'pending':
      return `Approval request ${id} was not decided yet; ${not}.`;
    case 'lost':
      return `Approval request ${id} was lost (Redis restarted without its data); ${not}.`;
    default:
      return `Approval request ${id} could not be read (Redis unavailable); ${not}.`;
  }
}
