import type { ToolInvokeJob, ToolInvokeResult } from '@toolplane/contracts';
import { TransientError } from '@toolplane/errors';
import { outcomeUnknownError } from './execution-lease.ts';
import { recordToolCall } from '@toolplane/telemetry';
import { type ProcessorDeps, recordBase, resendableTool } from './invocation.ts';

/** Jobs whose worker stopped: recorded `unknown` or failed, never sent twice (ADR 0015). */

/**
 * The reply and record of a job the queue gave up on without running it (its workers stopped more
 * than `WORKER_MAX_STALLED_COUNT` times): "outcome unknown" when a request may have left (the lease
 * exists or could have expired, or the call writes none), otherwise a failure that sent nothing.
 */
export function createAbandonedJobHandler(deps: Pick<ProcessorDeps, 'leases' | 'plans' | 'records' | 'log' | 'now'>) {
  const now = deps.now ?? Date.now;
  return async function abandoned(job: ToolInvokeJob): Promise<ToolInvokeResult> {
    const started = now();
    const sentBefore = await deps.leases.sends(job.invocationId).catch(() => 1);
    const maybeSent =
      sentBefore > 0 || started > job.deadlineAt + deps.leases.graceMs || (await resendableTool(deps, job));
    const e = maybeSent
      ? outcomeUnknownError(job.invocationId, 'abandoned')
      : new TransientError(
          'queue.unavailable',
          'The call was not run: the workers that took it stopped more than once. Nothing was sent; it may be retried.',
        );
    deps.log.warn({ invocationId: job.invocationId, tool: job.tool, sentBefore }, 'invocation abandoned by the queue');
    recordToolCall(job.serverId, job.tool, maybeSent ? 'unknown' : 'failed', 0);
    deps.records.add({
      ...recordBase(job, started, 0),
      outcome: maybeSent ? 'unknown' : 'failed',
      errorCode: e.code,
      message: e.message,
      steps: [],
    });
    return {
      v: 1,
      invocationId: job.invocationId,
      ok: false,
      error: { kind: e.kind, code: e.code, message: e.message },
    };
  };
}
