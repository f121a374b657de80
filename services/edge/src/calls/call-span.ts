import { SerializedToolResult, type ToolOutcome, type ToolResultPayload } from '@toolplane/contracts';
import {
  attr,
  EXECUTE_TOOL,
  extractContext,
  metricsEnabled,
  recordMcpOperation,
  SpanKind,
  tracingEnabled,
  withSpan,
} from '@toolplane/telemetry';
import { INTERNAL_ERROR, INVALID_PARAMS } from '@modelcontextprotocol/server';
import { CACHE_META } from './result-cache.ts';
import { callTool, UnknownToolError } from './tool-calls.ts';
import type { ToolCall, ToolCallDeps } from './call-types.ts';

/**
 * `callTool`, observed while tracing or metrics are on: the edge's MCP server span for one `tools/call` (OTel MCP /
 * GenAI semantic conventions), continuing the agent's trace (`call.trace`: `params._meta.traceparent`, else the HTTP
 * `traceparent` header), and the `mcp.server.operation.duration` metric. The upstream work (enqueue, worker) nests
 * under it.
 */
export function observedCall(deps: ToolCallDeps, call: ToolCall): Promise<ToolOutcome> {
  if (!tracingEnabled() && !metricsEnabled()) return callTool(deps, call);
  const started = performance.now();
  const { name: tool, trace } = call;
  let errorType: string | undefined;
  const attributes = {
    [attr.mcpMethodName]: 'tools/call',
    [attr.genAiOperationName]: EXECUTE_TOOL,
    [attr.genAiToolName]: tool,
    [attr.jsonrpcRequestId]: String(call.requestId),
    [attr.networkTransport]: 'tcp',
    [attr.networkProtocolName]: 'http',
    [attr.serverId]: call.loaded.catalog.serverId,
    ...(trace.protocolVersion ? { [attr.mcpProtocolVersion]: trace.protocolVersion } : {}),
  };
  return withSpan(
    `tools/call ${tool}`,
    attributes,
    async (span) => {
      const result = await callTool(deps, call);
      if (!(result instanceof SerializedToolResult) && cacheHit(result)) span.setAttribute(attr.cacheHit, true);
      if (result.isError) span.setAttribute(attr.errorType, (errorType = 'tool_error'));
      else if (!(result instanceof SerializedToolResult) && result.protocolError)
        span.setAttribute(attr.errorType, (errorType = String(result.protocolError.code)));
      return result;
    },
    {
      kind: SpanKind.SERVER,
      parent: extractContext(trace),
      errorType: (err) =>
        (errorType = err instanceof UnknownToolError ? String(INVALID_PARAMS) : String(INTERNAL_ERROR)),
    },
  ).finally(() => recordMcpOperation('tools/call', tool, performance.now() - started, errorType));
}

/** The result came from the result cache (its `_meta` says so). */
const cacheHit = (result: ToolResultPayload) => (result._meta?.[CACHE_META] as { hit?: boolean } | undefined)?.hit;
