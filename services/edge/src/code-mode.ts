import { randomUUID } from 'node:crypto';
import { recordCaller, toolResultValue, type ToolOutcome, type ToolResultPayload } from '@toolplane/contracts';
import { bindActiveContext, currentTraceIds, recordToolCall } from '@toolplane/telemetry';
import { deniedToolCall } from './access.ts';
import { errorResult } from './call-checks.ts';
import type { ToolCall, ToolCallDeps } from './call-types.ts';
import type { LoadedTool } from './catalogs.ts';
import { DEFAULT_SANDBOX_LIMITS, runInSandbox, type SandboxLimits, type SandboxResult } from './code-sandbox.ts';

/** The most of a failed program's error its record keeps. */
const RECORD_MESSAGE_MAX = 500;

/** One inner call, as the edge runs any call of this tool for this caller (tool-calls.ts's `runTool`). */
export type RunTool = (call: ToolCall, tool: LoadedTool) => Promise<ToolOutcome>;

/** The text a model would read of a result (its text content). */
const textOf = (r: ToolResultPayload) =>
  r.content
    .map((c) => (c.type === 'text' ? c.text : ''))
    .join('\n')
    .trim();

/** A tool result as the program's value: its structured content, else its text parsed as JSON, else the text. */
function valueOf(r: ToolResultPayload): unknown {
  if (r.structuredContent !== undefined) return r.structuredContent;
  const text = textOf(r);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * `run_code`: the program runs in a sandbox (code-sandbox.ts); each `tools.x(args)` is a call of the same caller
 * through `runTool`, the path of every `tools/call` (access, conditions, confirmation, approvals, quotas, guardrails,
 * records), linked to this call by `parentInvocationId`. A refused or failed inner call is an Error in the program
 * with the message the model would have read.
 */
export async function runCode(
  deps: ToolCallDeps,
  call: ToolCall,
  runTool: RunTool,
  limits: SandboxLimits = deps.codeLimits ?? DEFAULT_SANDBOX_LIMITS,
): Promise<ToolResultPayload> {
  const parentInvocationId = randomUUID();
  const startedAt = new Date();
  const inner = async (name: string, args: unknown) => {
    const target = call.loaded.tools.get(name);
    if (!target) {
      const denied = deniedToolCall(deps.records, { ...call, parentInvocationId }, name);
      return { message: denied ? textOf(denied) : `No tool named "${name}" in this catalog.` };
    }
    if (!args || typeof args !== 'object' || Array.isArray(args))
      return { message: `The arguments of ${name} must be an object.` };
    const innerCall: ToolCall = { ...call, name, arguments: args as Record<string, unknown>, parentInvocationId };
    const result = toolResultValue(await runTool(innerCall, target));
    if (result.isError) return { message: textOf(result) || `${name} failed.` };
    if (result.resultType === 'input_required' || result.protocolError)
      return { message: `${name} needs input from the client: call it directly, not from a program.` };
    return { json: JSON.stringify(valueOf(result)) ?? 'null' };
  };
  // Inner calls start from the sandbox thread's messages: bound here, their spans are children of this call's.
  const r = await runInSandbox(String(call.arguments.code), limits, bindActiveContext(inner));
  deps.log.debug({ parentInvocationId, ok: r.ok }, 'run_code finished');
  const result = programResult(r, limits, parentInvocationId);
  const error = r.ok ? (result.isError ? textOf(result) : undefined) : r.error;
  recordProgram(deps, call, { invocationId: parentInvocationId, startedAt, error });
  return result;
}

/** What the caller reads of a program: `{ result, console?, invocationId }`, or why it failed with its console. */
function programResult(r: SandboxResult, limits: SandboxLimits, invocationId: string): ToolResultPayload {
  const output = r.output + (r.truncated ? `\n[output truncated at ${limits.outputBytes} bytes]` : '');
  if (!r.ok) return errorResult(`${r.error}${output ? `\nConsole output:\n${output}` : ''}`);
  if (r.json.length > limits.resultChars)
    return errorResult(
      `The program's result is ${r.json.length} characters of JSON, over ${limits.resultChars}: return less.`,
    );
  const value = JSON.parse(r.json) as unknown;
  const structuredContent = { result: value, ...(output ? { console: output } : {}), invocationId };
  return { content: [{ type: 'text', text: JSON.stringify(structuredContent) }], structuredContent };
}

/**
 * The program's own execution record, under the invocation id it returns: the parent its inner calls' records name.
 * No step and no cost (its inner calls have theirs); a failed program is a `tool_error` with its error, never its
 * console output.
 */
function recordProgram(
  deps: ToolCallDeps,
  call: ToolCall,
  run: { invocationId: string; startedAt: Date; error: string | undefined },
): void {
  const { loaded, principal, name } = call;
  const durationMs = Date.now() - run.startedAt.getTime();
  const failed = run.error !== undefined;
  deps.records.add({
    v: 1,
    invocationId: run.invocationId,
    ...(call.parentInvocationId ? { parentInvocationId: call.parentInvocationId } : {}),
    workspaceId: principal.workspaceId,
    serverId: loaded.catalog.serverId,
    catalogVersion: loaded.catalog.version,
    tool: name,
    caller: recordCaller(principal),
    startedAt: run.startedAt.toISOString(),
    durationMs,
    outcome: failed ? 'tool_error' : 'success',
    ...(failed ? { errorCode: 'code.program_failed', message: run.error!.slice(0, RECORD_MESSAGE_MAX) } : {}),
    steps: [],
    ...currentTraceIds(),
  });
  recordToolCall(loaded.catalog.serverId, name, failed ? 'tool_error' : 'success', durationMs);
}
