import { randomUUID } from 'node:crypto';
import type { Principal, ToolResultPayload } from '@toolplane/contracts';
import { AppError, toAppError } from '@toolplane/errors';
import type { Logger } from '@toolplane/logger';
import type { InvocationClient } from '@toolplane/queue';
import { describeArgumentErrors, type LoadedCatalog } from './catalogs.ts';

export interface ToolCallDeps {
  invocations: InvocationClient;
  timeoutMs: number;
  log: Logger;
}

/** Thrown for calls naming a tool the server does not expose (a JSON-RPC error, not a tool result). */
export class UnknownToolError extends Error {
  readonly tool: string;
  constructor(tool: string) {
    super(`Unknown tool: ${tool}`);
    this.tool = tool;
  }
}

function errorResult(text: string): ToolResultPayload {
  return { content: [{ type: 'text', text }], isError: true };
}

/**
 * `tools/call` on the edge: validate the arguments against the tool's schema, enqueue one job with
 * references only, await the worker's result and map failures to `isError` results.
 */
export async function callTool(
  deps: ToolCallDeps,
  loaded: LoadedCatalog,
  principal: Principal,
  name: string,
  args: Record<string, unknown> | undefined,
): Promise<ToolResultPayload> {
  const tool = loaded.tools.get(name);
  if (!tool) throw new UnknownToolError(name);
  const input = args ?? {};
  if (!tool.validate(input)) {
    return errorResult(`Invalid arguments for tool "${name}": ${describeArgumentErrors(tool.validate.errors)}. Input schema: ${JSON.stringify(tool.def.inputSchema)}`);
  }
  const invocationId = randomUUID();
  try {
    const result = await deps.invocations.invoke({
      v: 1,
      invocationId,
      serverId: loaded.catalog.serverId,
      catalogVersion: loaded.catalog.version,
      tool: name,
      arguments: input,
      principal,
      deadlineAt: Date.now() + deps.timeoutMs,
      replyTo: deps.invocations.edgeId,
    });
    if (result.ok) return result.result;
    return errorResult(result.error.message);
  } catch (err) {
    const e: AppError = toAppError(err);
    deps.log.warn({ invocationId, tool: name, code: e.code }, 'tool call failed');
    return errorResult(e.kind === 'internal' ? 'The tool failed because of an internal error.' : e.message);
  }
}
