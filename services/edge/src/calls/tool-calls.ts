import { runCodeTool, type ToolOutcome } from '@toolplane/contracts';
import { deniedToolCall } from '../governance/access.ts';
import type { ToolCall, ToolCallDeps } from './call-types.ts';
import type { LoadedTool } from '../state/catalogs.ts';
import { runCode } from '../code-mode/code-mode.ts';
import { invalidArguments } from '../pipeline/refusal.ts';
import { runCall } from '../pipeline/run.ts';
import { connectionsTool, unknownTool } from '../smart/smart-connections.ts';
import { structured } from '../smart/smart-mode.ts';

/** Thrown for calls naming a tool the server does not expose (a JSON-RPC error, not a tool result). */
export class UnknownToolError extends Error {
  readonly tool: string;
  constructor(tool: string) {
    super(`Unknown tool: ${tool}`);
    this.tool = tool;
  }
}

function throwUnknownTool(name: string): never {
  throw new UnknownToolError(name);
}

/**
 * `tools/call` on the edge: which tool the call names (a SMART meta tool, `run_code`, a tool the caller's access hides),
 * then the call pipeline (pipeline/run.ts): every stage in order, one job with references only, its result.
 */
export async function callTool(deps: ToolCallDeps, call: ToolCall): Promise<ToolOutcome> {
  const { loaded, name } = call;
  if (loaded.catalog.mode === 'SMART') {
    const meta = loaded.meta.get(name);
    if (!meta) throw new UnknownToolError(name);
    return callMetaTool(deps, call, meta);
  }
  const tool = loaded.tools.get(name);
  if (!tool && name === runCodeTool.name && loaded.catalog.codeMode) return runCode(deps, call);
  // A tool the caller's access policies hide is refused (isError + execution record), not unknown.
  if (!tool) return deniedToolCall(deps.records, call, name) ?? throwUnknownTool(name);
  return runCall(deps, call, tool);
}

/** SMART mode: search, describe and connections are answered here; execute runs the target tool. */
async function callMetaTool(deps: ToolCallDeps, call: ToolCall, meta: LoadedTool): Promise<ToolOutcome> {
  const { loaded, principal, arguments: input } = call;
  if (!meta.validate(input)) return invalidArguments(meta);
  switch (meta.def.name) {
    case 'search_tools': {
      const results = loaded.search!.search(String(input.query), typeof input.limit === 'number' ? input.limit : 5);
      return structured({ results });
    }
    case 'describe_tool': {
      const target = loaded.tools.get(String(input.name));
      if (!target)
        return deniedToolCall(deps.records, call, String(input.name), false) ?? unknownTool(String(input.name));
      const source = loaded.catalog.tools.find((t) => t.tool.name === target.def.name)?.source;
      return structured({ ...target.def, ...(source ? { source } : {}) });
    }
    case 'execute_tool': {
      const target = loaded.tools.get(String(input.name));
      if (!target) return deniedToolCall(deps.records, call, String(input.name)) ?? unknownTool(String(input.name));
      const args = (input.arguments ?? {}) as Record<string, unknown>;
      // The target runs as a call of its own, made from the meta call (a new value; the meta call is not changed).
      return runCall(deps, { ...call, name: target.def.name, arguments: args }, target);
    }
    case 'run_code':
      return runCode(deps, call);
    case 'list_connections':
    case 'connect':
      return connectionsTool(deps, { loaded, principal }, meta.def.name, String(input.tool));
    default:
      throw new UnknownToolError(meta.def.name);
  }
}
