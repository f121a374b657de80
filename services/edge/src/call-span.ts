import { SerializedToolResult, type ToolOutcome } from '@toolplane/contracts';
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
import type { EdgeCallContext } from './call-context.ts';
import { callTool, UnknownToolError, type ToolCall, type ToolCallDeps } from './tool-calls.ts';

/** `callTool`, observed (span and metric) while tracing or metrics are on. */
export function observedCall(
  deps: ToolCallDeps,
  call: ToolCall,
  requestId: string | number,
  meta: Record<string, unknown> | undefined,
  http: Pick<EdgeCallContext, 'traceparent' | 'tracestate' | 'protocolVersion'>,
): Promise<ToolOutcome> {
  if (!tracingEnabled() && !metricsEnabled()) return callTool(deps, call);
  return observeToolCall(() => callTool(deps, call), call.name, requestId, meta, http, call.loaded.catalog.serverId);
}

/**
 * The edge's MCP server span for one `tools/call` (OTel MCP / GenAI semantic conventions), continuing
 * the agent's trace (`params._meta.traceparent`, else the HTTP `traceparent` header), and the
 * `mcp.server.operation.duration` metric. The upstream work (enqueue, worker) nests under it.
 */
async function observeToolCall(
  call: () => Promise<ToolOutcome>,
  tool: string,
  requestId: string | number,
  meta: Record<string, unknown> | undefined,
  http: { traceparent?: string | undefined; tracestate?: string | undefined; protocolVersion?: string | undefined },
  serverId: string,
): Promise<ToolOutcome> {
  const started = performance.now();
  let errorType: string | undefined;
  const fromMeta = typeof meta?.traceparent === 'string';
  const parent = extractContext(
    fromMeta
      ? {
          traceparent: meta!.traceparent as string,
          tracestate: typeof meta!.tracestate === 'string' ? meta!.tracestate : undefined,
        }
      : http,
  );
  const attributes = {
    [attr.mcpMethodName]: 'tools/call',
    [attr.genAiOperationName]: EXECUTE_TOOL,
    [attr.genAiToolName]: tool,
    [attr.jsonrpcRequestId]: String(requestId),
    [attr.networkTransport]: 'tcp',
    [attr.networkProtocolName]: 'http',
    [attr.serverId]: serverId,
    ...(http.protocolVersion ? { [attr.mcpProtocolVersion]: http.protocolVersion } : {}),
  };
  try {
    return await withSpan(
      `tools/call ${tool}`,
      attributes,
      async (span) => {
        const result = await call();
        if (result.isError) span.setAttribute(attr.errorType, (errorType = 'tool_error'));
        else if (!(result instanceof SerializedToolResult) && result.protocolError)
          span.setAttribute(attr.errorType, (errorType = String(result.protocolError.code)));
        return result;
      },
      {
        kind: SpanKind.SERVER,
        parent,
        errorType: (err) =>
          (errorType = err instanceof UnknownToolError ? String(INVALID_PARAMS) : String(INTERNAL_ERROR)),
      },
    );
  } finally {
    recordMcpOperation('tools/call', tool, performance.now() - started, errorType);
  }
}
