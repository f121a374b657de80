import type { ToolInvokeJob, ToolInvokeResult, ToolResultPayload } from '@toolplane/contracts';
import { errorResult } from '../http-operation.ts';
import { answer, type Invocation, type ProcessorDeps } from '../invocation.ts';

/** A job the staging twin answers (ADR 0112): the job says so, or its principal does (either is enough). */
export const isTwinJob = (job: ToolInvokeJob): boolean => job.twin === 'answer' || job.principal.twin === true;

/**
 * A production call's clean result kept for the twin (a server in twin mode `recording`), after the result chain:
 * what the caller received. A failure to keep it is logged; the answer goes as it is.
 */
export function keepForTwin(deps: ProcessorDeps, job: ToolInvokeJob, result: ToolResultPayload): void {
  if (!deps.twin || result.isError || result.resultType !== undefined) return;
  const at = { workspaceId: job.principal.workspaceId, serverId: job.serverId, tool: job.tool };
  deps.twin
    .record(at, job.arguments, result)
    .catch((err: unknown) => deps.log.warn({ tool: job.tool, err: String(err) }, 'a result was not kept for the twin'));
}

/** A twin job's read of an external server's resource, prompt or completion: the twin keeps none of them. */
export function twinRequest(job: ToolInvokeJob, record: Invocation['record']): ToolInvokeResult {
  const message =
    'The staging twin answers no resource, prompt or completion request of an external MCP server: nothing was sent.';
  record('tool_error', { errorCode: 'twin.not_recorded', message });
  return answer(job, errorResult(message));
}
