/**
 * Attribute names from the OpenTelemetry semantic conventions used by Toolplane's spans and metrics.
 * The incubating (experimental) ones are copied here rather than imported from
 * `@opentelemetry/semantic-conventions/incubating` (a very large module loaded at start); a test
 * checks that every value still matches the package.
 */
export const attr = {
  // HTTP (stable)
  httpRequestMethod: 'http.request.method',
  httpResponseStatusCode: 'http.response.status_code',
  urlFull: 'url.full',
  urlTemplate: 'url.template',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  errorType: 'error.type',
  networkProtocolName: 'network.protocol.name',
  networkTransport: 'network.transport',
  // Messaging
  messagingSystem: 'messaging.system',
  messagingOperationName: 'messaging.operation.name',
  messagingOperationType: 'messaging.operation.type',
  messagingDestinationName: 'messaging.destination.name',
  messagingMessageId: 'messaging.message.id',
  // MCP and GenAI (tool execution)
  mcpMethodName: 'mcp.method.name',
  mcpProtocolVersion: 'mcp.protocol.version',
  jsonrpcRequestId: 'jsonrpc.request.id',
  rpcResponseStatusCode: 'rpc.response.status_code',
  genAiOperationName: 'gen_ai.operation.name',
  genAiToolName: 'gen_ai.tool.name',
  genAiToolCallId: 'gen_ai.tool.call.id',
  // Toolplane's own (no convention exists)
  serverId: 'toolplane.server.id',
  catalogVersion: 'toolplane.catalog.version',
  invocationId: 'toolplane.invocation.id',
  outcome: 'toolplane.outcome',
  errorCode: 'toolplane.error.code',
  workflowId: 'toolplane.workflow.id',
  workflowStep: 'toolplane.workflow.step',
  /** Who a call authenticated as, whom it acts for and why it may (ADR 0013 amendment). */
  callerKeyId: 'toolplane.caller.key_id',
  callerSubject: 'toolplane.caller.subject',
  actingUser: 'toolplane.caller.username',
  actingVia: 'toolplane.caller.acting_via',
  /** A `tools/call` the edge answered from the result cache (ADR 0067). */
  cacheHit: 'toolplane.cache.hit',
  /** What guardrails found in a call (ADR 0050): counts, detectors, paths, actions; never a value. */
  guardrailFindings: 'toolplane.guardrail.findings',
  guardrailDetectors: 'toolplane.guardrail.detectors',
  guardrailPaths: 'toolplane.guardrail.paths',
  guardrailActions: 'toolplane.guardrail.actions',
  guardrailNames: 'toolplane.guardrail.names',
} as const;

/** At most this many distinct paths go on a span (findings are capped at 100 per scan). */
const MAX_SPAN_PATHS = 20;

/**
 * The span attributes of what guardrails found: their number, and the distinct guardrails, detectors, actions and
 * JSON paths (a path names a key something was found in by its redaction: never a value). None for no finding.
 */
export function guardrailAttributes(
  findings: readonly { guardrail: string; detector: string; path: string; action: string }[],
): Record<string, number | string[]> {
  if (findings.length === 0) return {};
  const distinct = (pick: (f: (typeof findings)[number]) => string) => [...new Set(findings.map(pick))];
  return {
    [attr.guardrailFindings]: findings.length,
    [attr.guardrailNames]: distinct((f) => f.guardrail),
    [attr.guardrailDetectors]: distinct((f) => f.detector),
    [attr.guardrailActions]: distinct((f) => f.action),
    [attr.guardrailPaths]: distinct((f) => f.path).slice(0, MAX_SPAN_PATHS),
  };
}

/** `gen_ai.operation.name` of a tool call. */
export const EXECUTE_TOOL = 'execute_tool';
/** `messaging.system` of our BullMQ queues (no registered value exists for BullMQ). */
export const MESSAGING_SYSTEM_BULLMQ = 'bullmq';
