import { randomUUID } from 'node:crypto';
import { toolResultValue, type ToolOutcome, type ToolResultPayload } from '@toolplane/contracts';
import { deniedToolCall } from './access.ts';
import { errorResult } from './call-checks.ts';
import type { ToolCall, ToolCallDeps } from './call-types.ts';
import type { LoadedTool } from './catalogs.ts';
import { DEFAULT_SANDBOX_LIMITS, runInSandbox, type SandboxLimits } from './code-sandbox.ts';

/** The most a program's return value may be, as JSON. */
const RESULT_MAX_CHARS = 256 * 1024;

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
  limits: SandboxLimits = DEFAULT_SANDBOX_LIMITS,
): Promise<ToolResultPayload> {
  const parentInvocationId = randomUUID();
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
  const r = await runInSandbox(String(call.arguments.code), limits, inner);
  deps.log.debug({ parentInvocationId, ok: r.ok }, 'run_code finished');
  const output = r.output + (r.truncated ? `\n[output truncated at ${limits.outputBytes} bytes]` : '');
  if (!r.ok) return errorResult(`${r.error}${output ? `\nConsole output:\n${output}` : ''}`);
  if (r.json.length > RESULT_MAX_CHARS)
    return errorResult(
      `The program's result is ${r.json.length} characters of JSON, over ${RESULT_MAX_CHARS}: return less.`,
    );
  const value = JSON.parse(r.json) as unknown;
  const structuredContent = { result: value, ...(output ? { console: output } : {}), invocationId: parentInvocationId };
  return { content: [{ type: 'text', text: JSON.stringify(structuredContent) }], structuredContent };
}
