import type { Principal, ToolResultPayload } from '@toolplane/contracts';
import { attr, EXECUTE_TOOL, extractContext, metricsEnabled, recordMcpOperation, SpanKind, tracingEnabled, withSpan } from '@toolplane/telemetry';
import {
  classifyInboundRequest,
  createMcpHandler,
  INTERNAL_ERROR,
  INVALID_PARAMS,
  ProtocolError,
  Server,
  type AuthInfo,
  type CallToolResult,
  type ListToolsResult,
} from '@modelcontextprotocol/server';
import { NodeStreamableHTTPServerTransport, toNodeHandler } from '@modelcontextprotocol/node';
import type { Request, Response } from 'express';
import type { LoadedCatalog } from './catalogs.ts';
import { callTool, UnknownToolError, type ToolCallDeps } from './tool-calls.ts';

/** What the HTTP layer resolved before MCP handling: who calls, and which catalog they reach. */
export interface EdgeCallContext {
  principal: Principal;
  loaded: LoadedCatalog;
  /** The HTTP request's W3C trace context and MCP protocol version (set only while tracing is on). */
  traceparent?: string | undefined;
  tracestate?: string | undefined;
  protocolVersion?: string | undefined;
}

export function toAuthInfo(ctx: EdgeCallContext, clientId: string): AuthInfo {
  return { token: 'x-api-key', clientId, scopes: [], extra: { toolplane: ctx } };
}

function callContext(authInfo: AuthInfo | undefined): EdgeCallContext {
  const c = authInfo?.extra?.toolplane as EdgeCallContext | undefined;
  if (!c) throw new Error('MCP request reached the handler without an authenticated context');
  return c;
}

/** A light low-level `Server` bound to the caller's cached catalog (one per HTTP request, ~µs). */
export function buildServer({ principal, loaded, traceparent, tracestate, protocolVersion }: EdgeCallContext, deps: ToolCallDeps, version: string, toolsListTtlMs = 0, connection?: AbortSignal): Server {
  const server = new Server(
    { name: loaded.catalog.name, version },
    {
      capabilities: { tools: { listChanged: true } },
      ...(loaded.catalog.description ? { instructions: loaded.catalog.description } : {}),
      // 2026-07-28 list caching hint: clients may reuse tools/list this long (private: per caller).
      cacheHints: { 'tools/list': { ttlMs: toolsListTtlMs, cacheScope: 'private' } },
    },
  );
  // Catalog tools are JSON Schema objects with an object root, checked when the catalog is compiled.
  const listResult = { tools: loaded.list } as ListToolsResult;
  server.setRequestHandler('tools/list', () => listResult);
  server.setRequestHandler('tools/call', async (request, ctx) => {
    const { name, arguments: args } = request.params;
    try {
      // The request's signal aborts when the client cancels or disconnects: the worker is told to stop.
      const signal = connection ? AbortSignal.any([ctx.mcpReq.signal, connection]) : ctx.mcpReq.signal;
      if (tracingEnabled() || metricsEnabled()) {
        const call = () => callTool(deps, loaded, principal, name, args, signal);
        return (await observeToolCall(call, name, ctx.mcpReq.id, ctx.mcpReq._meta, { traceparent, tracestate, protocolVersion }, loaded.catalog.serverId)) as CallToolResult;
      }
      return (await callTool(deps, loaded, principal, name, args, signal)) as CallToolResult;
    } catch (err) {
      if (err instanceof UnknownToolError) throw new ProtocolError(INVALID_PARAMS, err.message);
      throw err;
    }
  });
  return server;
}

/**
 * The edge's MCP server span for one `tools/call` (OTel MCP / GenAI semantic conventions), continuing
 * the agent's trace (`params._meta.traceparent`, else the HTTP `traceparent` header), and the
 * `mcp.server.operation.duration` metric. The upstream work (enqueue, worker) nests under it.
 */
async function observeToolCall(
  call: () => Promise<ToolResultPayload>,
  tool: string,
  requestId: string | number,
  meta: Record<string, unknown> | undefined,
  http: { traceparent?: string | undefined; tracestate?: string | undefined; protocolVersion?: string | undefined },
  serverId: string,
): Promise<ToolResultPayload> {
  const started = performance.now();
  let errorType: string | undefined;
  const fromMeta = typeof meta?.traceparent === 'string';
  const parent = extractContext(fromMeta ? { traceparent: meta!.traceparent as string, tracestate: typeof meta!.tracestate === 'string' ? meta!.tracestate : undefined } : http);
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
    return await withSpan(`tools/call ${tool}`, attributes, async (span) => {
      const result = await call();
      if (result.isError) span.setAttribute(attr.errorType, (errorType = 'tool_error'));
      return result;
    }, { kind: SpanKind.SERVER, parent, errorType: (err) => (errorType = err instanceof UnknownToolError ? String(INVALID_PARAMS) : String(INTERNAL_ERROR)) });
  } finally {
    recordMcpOperation('tools/call', tool, performance.now() - started, errorType);
  }
}

type AuthedRequest = Request & { auth?: AuthInfo };

/**
 * The MCP protocol layer, stateless (no sessions: any edge serves any request). 2026-07-28 requests go
 * to the SDK's `createMcpHandler`; 2025-era requests to a per-request 2025 transport with JSON
 * responses (the SDK's documented hybrid routing: its own 2025 fallback always answers SSE, which
 * costs more per call). Both use the same server builder, so the eras cannot drift apart.
 * Expects `req.auth` set by the authentication step and `req.body` parsed as JSON.
 */
export function createEdgeMcpHandler(deps: ToolCallDeps, opts: { version: string; toolsListTtlMs: number; onerror: (err: Error) => void }) {
  const modern = toNodeHandler(
    createMcpHandler((ctx) => buildServer(callContext(ctx.authInfo), deps, opts.version, opts.toolsListTtlMs), { legacy: 'reject', responseMode: 'json', onerror: opts.onerror }),
    { onerror: opts.onerror },
  );

  async function legacy(req: AuthedRequest, res: Response): Promise<void> {
    // The 2025 transport does not abort handlers when the client disconnects; this does.
    const connection = new AbortController();
    const server = buildServer(callContext(req.auth), deps, opts.version, opts.toolsListTtlMs, connection.signal);
    const transport = new NodeStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      if (!res.writableFinished) connection.abort();
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  }

  return async function handle(req: AuthedRequest, res: Response): Promise<void> {
    const isModern =
      req.method === 'POST' &&
      req.body !== undefined &&
      classifyInboundRequest({
        httpMethod: 'POST',
        protocolVersionHeader: req.get('mcp-protocol-version'),
        mcpMethodHeader: req.get('mcp-method'),
        mcpNameHeader: req.get('mcp-name'),
        body: req.body,
      }).kind !== 'legacy';
    if (isModern) return modern(req, res, req.body);
    if (req.method !== 'POST') {
      // No sessions and no server-initiated stream in stateless serving.
      res.status(405).set('allow', 'POST').json({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null });
      return;
    }
    return legacy(req, res);
  };
}
