import { recordCaller, type GuardrailFinding, type ToolResultPayload } from '@toolplane/contracts';
import { currentTraceIds, recordToolCall } from '@toolplane/telemetry';
import type { ToolCall, ToolCallDeps } from '../calls/call-types.ts';
import { describeArgumentErrors, type LoadedTool } from '../state/catalogs.ts';

/** A tool error the model reads. */
export function errorResult(text: string): ToolResultPayload {
  return { content: [{ type: 'text', text }], isError: true };
}

export function invalidArguments(tool: LoadedTool): ToolResultPayload {
  return errorResult(
    `Invalid arguments for tool "${tool.def.name}": ${describeArgumentErrors(tool.validate.errors)}. Input schema: ${JSON.stringify(tool.def.inputSchema)}`,
  );
}

/** The fields of an execution record the edge writes itself (a refusal, a `run_code` program): who called what. */
export function edgeRecordBase(call: ToolCall, invocationId: string, startedAt: Date) {
  const { loaded, principal, name } = call;
  return {
    v: 1 as const,
    invocationId,
    ...(call.parentInvocationId ? { parentInvocationId: call.parentInvocationId } : {}),
    workspaceId: principal.workspaceId,
    serverId: loaded.catalog.serverId,
    catalogVersion: loaded.catalog.version,
    tool: name,
    caller: recordCaller(principal),
    startedAt: startedAt.toISOString(),
  };
}

/** Why a stage refuses a call: the code of its record, the message recorded, and the result the caller reads. */
export interface Rejection {
  errorCode: string;
  message: string;
  /** Default: the message as a tool error. */
  result?: ToolResultPayload;
  guardrails?: GuardrailFinding[];
}

/** A call refused on the edge (by a stage, or by a bound on programs): an execution record saying why, the verdict. */
export function refuse(
  s: { deps: Pick<ToolCallDeps, 'records'>; call: ToolCall; invocationId: string },
  rejection: Rejection,
): { refused: ToolResultPayload } {
  const { deps, call, invocationId } = s;
  const { loaded, name } = call;
  deps.records.add({
    ...edgeRecordBase(call, invocationId, new Date()),
    durationMs: 0,
    outcome: 'rejected',
    errorCode: rejection.errorCode,
    message: rejection.message,
    ...(rejection.guardrails ? { guardrails: rejection.guardrails } : {}),
    steps: [],
    ...currentTraceIds(),
  });
  recordToolCall(loaded.catalog.serverId, name, 'rejected', 0);
  return { refused: rejection.result ?? errorResult(rejection.message) };
}
