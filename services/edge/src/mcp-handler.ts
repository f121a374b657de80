import { randomUUID } from 'node:crypto';
import type { Principal, ToolInvokeEvent, ToolResultPayload } from '@toolplane/contracts';
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
import {
  classifyInboundRequest,
  createMcpHandler,
  INTERNAL_ERROR,
  INVALID_PARAMS,
  ProtocolError,
  Server,
  SUPPORTED_PROTOCOL_VERSIONS,
  type AuthInfo,
  type CallToolResult,
  type ListToolsResult,
  type ServerContext,
} from '@modelcontextprotocol/server';
import { NodeStreamableHTTPServerTransport, toNodeHandler } from '@modelcontextprotocol/node';
import type { Request, Response } from 'express';
import type { LoadedCatalog } from './catalogs.ts';
import { CancelRegistry, isLogLevel, logPasses, sessionScope, type LogLevel } from './protocol-state.ts';
import { ServerScopedEventBus } from './listen-bus.ts';
import { checkParamHeaders, HEADER_MISMATCH } from './param-headers.ts';
import { callTool, UnknownToolError, type CallerRequest, type LiveCall, type ToolCallDeps } from './tool-calls.ts';

/** What the HTTP layer resolved before MCP handling: who calls, and which catalog they reach. */
export interface EdgeCallContext {
  principal: Principal;
  loaded: LoadedCatalog;
  /** The HTTP request's W3C trace context and MCP protocol version (set only while tracing is on). */
  traceparent?: string | undefined;
  tracestate?: string | undefined;
  protocolVersion?: string | undefined;
  /** Who calls, as the HTTP layer names it (key id or `oauth:<sub>`): scopes session state. */
  clientId?: string | undefined;
  /** 2025-era Streamable HTTP: the `Mcp-Session-Id` the edge issued at initialize (a correlation id, no server state). */
  sessionId?: string | undefined;
  /** 2025-era: the session's `logging/setLevel`, looked up once for calls that may log. */
  logLevel?: LogLevel | undefined;
  /** The HTTP request's headers (a reference): workflow tools read `Config-*` from it. */
  headers?: CallerRequest['headers'];
  /** The verified OAuth access token of the request (OAuth callers only). */
  accessToken?: string | undefined;
  /** 2026-07-28 calls of external MCP tools: the multi-round-trip fields (set per call). */
  multiRound?: CallerRequest['multiRound'];
}

/** Names of a catalog's tools proxied to external MCP servers (the only tools that can relay log messages or their own progress). */
const proxiedTools = new WeakMap<LoadedCatalog, Set<string>>();
function isProxiedTool(loaded: LoadedCatalog, name: string): boolean {
  let names = proxiedTools.get(loaded);
  if (!names) {
    names = new Set(loaded.catalog.tools.filter((t) => t.plan.kind === 'mcp').map((t) => t.tool.name));
    proxiedTools.set(loaded, names);
  }
  return names.has(name);
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
export function buildServer(
  call: EdgeCallContext,
  deps: ToolCallDeps,
  version: string,
  toolsListTtlMs = 0,
  connection?: AbortSignal,
): Server {
  const { loaded, traceparent, tracestate, protocolVersion } = call;
  const server = new Server(
    { name: loaded.catalog.serverInfo?.name ?? loaded.catalog.name, version },
    {
      // logging: log messages of external MCP servers are relayed during their calls.
      capabilities: { tools: { listChanged: true }, logging: {} },
      ...(loaded.catalog.description ? { instructions: loaded.catalog.description } : {}),
      // 2026-07-28 list caching hint: clients may reuse tools/list this long (private: per caller).
      cacheHints: { 'tools/list': { ttlMs: toolsListTtlMs, cacheScope: 'private' } },
    },
  );
  // Catalog tools are JSON Schema objects with an object root, checked when the catalog is compiled.
  const listResult = { tools: loaded.list } as ListToolsResult;
  // A legacy HTTP+SSE session lives across requests: each POST brings its own authenticated context
  // (fresh catalog after a change, its own headers) in the message's authInfo. Otherwise it is `call`.
  const current = (ctx: ServerContext): EdgeCallContext =>
    (ctx.http?.authInfo?.extra?.toolplane as EdgeCallContext | undefined) ?? call;
  server.setRequestHandler('tools/list', (_request, ctx) => {
    const c = current(ctx);
    return c === call || c.loaded === loaded ? listResult : ({ tools: c.loaded.list } as ListToolsResult);
  });
  // 2025 era: remembered per issued session id (in Redis, so any edge sees it). Stateless requests
  // without a session have nothing to remember it for: accepted, and no log messages are relayed.
  server.setRequestHandler('logging/setLevel', async (request, ctx) => {
    const sessionId = ctx.sessionId ?? call.sessionId;
    if (sessionId && deps.logLevels && isLogLevel(request.params.level)) {
      await deps.logLevels.set(
        sessionScope(clientIdOf(call), loaded.catalog.serverId, sessionId),
        request.params.level,
      );
    }
    return {};
  });
  server.setRequestHandler('tools/call', async (request, ctx) => {
    const { name, arguments: args } = request.params;
    let c = current(ctx);
    const live = await liveCall(c, deps, ctx, name);
    // 2026-07-28 (SEP-2322): an external MCP tool may answer `input_required`; the caller's retry
    // carries `inputResponses` and the opaque `requestState`, relayed as they are (nothing is kept).
    const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
    if (envelope && isProxiedTool(c.loaded, name)) {
      // The SDK lifts both out of the params into the context.
      const inputResponses = ctx.mcpReq.inputResponses;
      const requestState = ctx.mcpReq.requestState();
      const declared = envelope['io.modelcontextprotocol/clientCapabilities'];
      c = {
        ...c,
        multiRound: {
          ...(inputResponses !== undefined ? { inputResponses } : {}),
          ...(requestState !== undefined ? { requestState } : {}),
          ...(declared && typeof declared === 'object'
            ? { clientCapabilities: declared as Record<string, unknown> }
            : {}),
        },
      };
    }
    try {
      // The request's signal aborts when the client cancels or disconnects: the worker is told to stop.
      const signal = connection ? AbortSignal.any([ctx.mcpReq.signal, connection]) : ctx.mcpReq.signal;
      let result: ToolResultPayload;
      if (tracingEnabled() || metricsEnabled()) {
        const run = () => callTool(deps, c.loaded, c.principal, name, args, signal, live, c);
        result = await observeToolCall(
          run,
          name,
          ctx.mcpReq.id,
          ctx.mcpReq._meta,
          { traceparent, tracestate, protocolVersion },
          c.loaded.catalog.serverId,
        );
      } else {
        result = await callTool(deps, c.loaded, c.principal, name, args, signal, live, c);
      }
      // Notifications of the call go out before its result (clients drop progress after the result).
      if (live) await live.flush();
      if (result.protocolError)
        throw new ProtocolError(result.protocolError.code, result.protocolError.message, result.protocolError.data);
      if (result.resultType === 'input_required') {
        return {
          resultType: 'input_required',
          ...(result.inputRequests ? { inputRequests: result.inputRequests } : {}),
          ...(result.requestState !== undefined ? { requestState: result.requestState } : {}),
        } as unknown as CallToolResult;
      }
      return result as CallToolResult;
    } catch (err) {
      if (err instanceof UnknownToolError) throw new ProtocolError(INVALID_PARAMS, err.message);
      throw err;
    } finally {
      live?.stop();
    }
  });
  return server;
}

function clientIdOf(call: EdgeCallContext): string {
  return call.clientId ?? call.principal.keyId ?? `oauth:${call.principal.subject ?? ''}`;
}

/**
 * What the caller wants to hear while the call runs: progress (it sent `_meta.progressToken`) and the
 * log messages of a proxied external MCP server (at its log level: 2026-07-28 `_meta`, or the 2025
 * session's `logging/setLevel`). Undefined, and no cost, for a plain call.
 * Progress values: a proxied server's own, passed on; otherwise the edge counts one per event (a
 * workflow step ended, or `progressIntervalMs` passed while waiting), with a message saying which.
 */
async function liveCall(
  call: EdgeCallContext,
  deps: ToolCallDeps,
  ctx: ServerContext,
  name: string,
): Promise<(LiveCall & { stop(): void; flush(): Promise<unknown> }) | undefined> {
  const token = ctx.mcpReq._meta?.progressToken;
  const proxied = isProxiedTool(call.loaded, name);
  let logLevel: LogLevel | undefined;
  if (proxied) {
    const modern = (ctx.mcpReq.envelope as Record<string, unknown> | undefined)?.['io.modelcontextprotocol/logLevel'];
    logLevel = isLogLevel(modern) ? modern : call.logLevel;
    // A legacy SSE session (stateful transport): its level was not looked up before the request.
    if (logLevel === undefined && ctx.sessionId && deps.logLevels)
      logLevel = await deps.logLevels.get(sessionScope(clientIdOf(call), call.loaded.catalog.serverId, ctx.sessionId));
  }
  if (token === undefined && logLevel === undefined) return undefined;
  const sending = new Set<Promise<void>>();
  const notify = (method: string, params: Record<string, unknown>) => {
    const p = ctx.mcpReq.notify({ method, params }).catch(() => undefined);
    sending.add(p);
    void p.then(() => sending.delete(p));
  };
  let count = 0;
  const progress = (value: number | undefined, total?: number, message?: string) => {
    if (token === undefined) return;
    const p = proxied && value !== undefined ? value : ++count;
    notify('notifications/progress', {
      progressToken: token,
      progress: p,
      ...(total !== undefined ? { total } : {}),
      ...(message !== undefined ? { message } : {}),
    });
  };
  let timer: NodeJS.Timeout | undefined;
  const interval = deps.progressIntervalMs ?? 0;
  if (token !== undefined && !proxied && interval > 0) {
    const started = Date.now();
    timer = setInterval(
      () => progress(undefined, undefined, `Still running (${Math.round((Date.now() - started) / 1000)} s)`),
      interval,
    );
    timer.unref();
  }
  return {
    progress: token !== undefined,
    ...(logLevel ? { logLevel } : {}),
    onEvent(event: ToolInvokeEvent['event']) {
      if (event.kind === 'progress')
        progress(proxied ? event.progress : undefined, proxied ? event.total : undefined, event.message);
      else if (logLevel && logPasses(event.level, logLevel))
        notify('notifications/message', {
          level: event.level,
          data: event.data,
          ...(event.logger !== undefined ? { logger: event.logger } : {}),
        });
    },
    stop() {
      if (timer) clearInterval(timer);
    },
    flush: () => Promise.all(sending),
  };
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

type AuthedRequest = Request & { auth?: AuthInfo };

const plainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const onlyKeys = (o: Record<string, unknown>, allowed: readonly string[]) =>
  Object.keys(o).every((k) => allowed.includes(k));

/**
 * The common 2025-era call (fast path): one JSON-RPC `tools/call` request, valid as the SDK
 * would find it, of a tool of a NORMAL server that this caller sees and that is not proxied to an
 * external MCP server (only those may answer with protocol errors, `input_required` or log messages),
 * without `_meta` (no progress token, no trace context in the message), and headers the SDK's transport
 * accepts. Anything else (or anything unusual) goes through the SDK. Returns the call's parts, or undefined.
 */
/** As the SDK normalizes a result without content (`content: []` added last). */
function contentful(result: ToolResultPayload): ToolResultPayload {
  return result.content === undefined ? { ...result, content: [] } : result;
}

function plainToolsCall(
  req: Pick<Request, 'get'>,
  body: unknown,
  loaded: LoadedCatalog,
): { id: string | number; name: string; args: Record<string, unknown> | undefined } | undefined {
  if (!plainObject(body) || !onlyKeys(body, ['jsonrpc', 'id', 'method', 'params'])) return undefined;
  if (body.jsonrpc !== '2.0' || body.method !== 'tools/call') return undefined;
  const id = body.id;
  if (!(typeof id === 'string' || (typeof id === 'number' && Number.isSafeInteger(id)))) return undefined;
  const params = body.params;
  if (!plainObject(params) || !onlyKeys(params, ['name', 'arguments'])) return undefined;
  const { name, arguments: args } = params;
  if (typeof name !== 'string' || (args !== undefined && !plainObject(args))) return undefined;
  if (loaded.catalog.mode !== 'NORMAL' || !loaded.tools.has(name) || isProxiedTool(loaded, name)) return undefined;
  const accept = req.get('accept') ?? '';
  if (!accept.includes('application/json') || !accept.includes('text/event-stream')) return undefined;
  if (!/^application\/json\s*(;|$)/i.test(req.get('content-type') ?? '')) return undefined;
  const version = req.get('mcp-protocol-version');
  if (version !== undefined && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) return undefined;
  return { id, name, args };
}

/**
 * The MCP protocol layer, stateless (no sessions: any edge serves any request). 2026-07-28 requests go
 * to the SDK's `createMcpHandler`; plain 2025-era tools/call requests to the fast path (`plainToolsCall`);
 * other 2025-era requests to a per-request 2025 transport with JSON
 * responses (the SDK's documented hybrid routing: its own 2025 fallback always answers SSE, which
 * costs more per call). Both use the same server builder, so the eras cannot drift apart.
 * Expects `req.auth` set by the authentication step and `req.body` parsed as JSON.
 */
export function createEdgeMcpHandler(
  deps: ToolCallDeps,
  opts: {
    version: string;
    toolsListTtlMs: number;
    onerror: (err: Error) => void;
    /** Plain 2025-era tools/call requests skip the SDK (see `plainToolsCall`); default on. */
    fastPath?: boolean;
    /** Told of each call the fast path served (debug logs; the comparison test counts them). */
    onFastPath?: (tool: string) => void;
  },
) {
  // 2026-07-28 `subscriptions/listen` streams, per server (tools/list_changed after a catalog change).
  const bus = new ServerScopedEventBus();
  // `auto`: a JSON body, upgraded to an SSE stream only when the call sends progress or log messages.
  const handler = createMcpHandler(
    (ctx) => buildServer(callContext(ctx.authInfo), deps, opts.version, opts.toolsListTtlMs),
    { legacy: 'reject', responseMode: 'auto', onerror: opts.onerror, bus },
  );
  const modern = toNodeHandler(handler, { onerror: opts.onerror });
  /** Responses carrying open `subscriptions/listen` streams. */
  const listening = new Set<Response>();

  async function legacy(req: AuthedRequest, res: Response): Promise<void> {
    const body = req.body as
      { method?: unknown; id?: unknown; params?: { name?: unknown; _meta?: { progressToken?: unknown } } } | undefined;
    const ctx = callContext(req.auth);
    const sessionId = req.get('mcp-session-id');
    if (body?.method === 'initialize') {
      // A session id without server state: any edge accepts it. It scopes logging/setLevel and
      // notifications/cancelled to one client connection instead of to its credentials.
      res.setHeader('mcp-session-id', randomUUID());
    } else if (sessionId) {
      ctx.sessionId = sessionId;
    }
    // JSON answers unless the call may send notifications before its result (progress asked for, or
    // a proxied MCP server's log messages at the session's level): then an SSE stream.
    let stream = false;
    if (body?.method === 'tools/call') {
      stream = body.params?._meta?.progressToken !== undefined;
      if (
        sessionId &&
        deps.logLevels &&
        typeof body.params?.name === 'string' &&
        isProxiedTool(ctx.loaded, body.params.name)
      ) {
        ctx.logLevel = await deps.logLevels
          .get(sessionScope(clientIdOf(ctx), ctx.loaded.catalog.serverId, sessionId))
          .catch(() => undefined);
        stream ||= ctx.logLevel !== undefined;
      }
    }
    // The 2025 transport does not abort handlers when the client disconnects; this does, as does a
    // notifications/cancelled naming this request (on any edge). Only within a session: JSON-RPC ids
    // are unique per connection, and one key (or the anonymous caller of a public server) may be
    // shared by many clients.
    const connection = new AbortController();
    const untrack =
      sessionId &&
      body?.method === 'tools/call' &&
      deps.cancels &&
      (typeof body.id === 'string' || typeof body.id === 'number')
        ? deps.cancels.track(
            CancelRegistry.key(clientIdOf(ctx), ctx.loaded.catalog.serverId, sessionId, body.id),
            connection,
          )
        : undefined;
    res.on('close', () => {
      if (untrack) untrack();
      if (!res.writableFinished) connection.abort();
    });
    const plain = stream || opts.fastPath === false ? undefined : plainToolsCall(req, body, ctx.loaded);
    if (plain) {
      opts.onFastPath?.(plain.name);
      return fastToolsCall(res, ctx, plain, connection.signal);
    }
    const server = buildServer(ctx, deps, opts.version, opts.toolsListTtlMs, connection.signal);
    const transport = new NodeStreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: !stream,
    });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  }

  /**
   * The plain call without the SDK's generic dispatch (a per-request server and transport, message and
   * params schemas, web Request/Response conversion): the same tool call (`callTool`, observed the same
   * way) and the same bytes the SDK writes for it (`{"result":…,"jsonrpc":"2.0","id":…}`, 200,
   * application/json; tests/e2e/fast-path.test.ts compares both on a corpus). The worker's results are
   * already in the SDK's output shape (content, structuredContent, isError).
   */
  async function fastToolsCall(
    res: Response,
    ctx: EdgeCallContext,
    call: { id: string | number; name: string; args: Record<string, unknown> | undefined },
    signal: AbortSignal,
  ): Promise<void> {
    const { loaded, principal, traceparent, tracestate, protocolVersion } = ctx;
    const run = () => callTool(deps, loaded, principal, call.name, call.args, signal, undefined, ctx);
    const result =
      tracingEnabled() || metricsEnabled()
        ? await observeToolCall(
            run,
            call.name,
            call.id,
            undefined,
            { traceparent, tracestate, protocolVersion },
            loaded.catalog.serverId,
          )
        : await run();
    if (res.destroyed) return; // the caller went away (the call was cancelled)
    const json = JSON.stringify({ result: contentful(result), jsonrpc: '2.0', id: call.id });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) }).end(json);
  }

  /** A 2025-era `notifications/cancelled` (in a session): published to every edge; answered 202 like any notification. */
  async function cancelled(
    req: AuthedRequest,
    res: Response,
    params: { requestId?: unknown } | undefined,
  ): Promise<void> {
    const requestId = params?.requestId;
    const sessionId = req.get('mcp-session-id');
    if (deps.cancels && sessionId && (typeof requestId === 'string' || typeof requestId === 'number')) {
      const ctx = callContext(req.auth);
      await deps.cancels.cancel(CancelRegistry.key(clientIdOf(ctx), ctx.loaded.catalog.serverId, sessionId, requestId));
    }
    res.status(202).end();
  }

  async function handle(req: AuthedRequest, res: Response): Promise<void> {
    const message = req.body as
      { jsonrpc?: unknown; method?: unknown; id?: unknown; params?: { requestId?: unknown } } | undefined;
    if (
      req.method === 'POST' &&
      message?.method === 'notifications/cancelled' &&
      message.id === undefined &&
      message.jsonrpc === '2.0'
    ) {
      return cancelled(req, res, message.params);
    }
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
    if (isModern) {
      // A listen stream subscribes under its server (only these requests enter a scope).
      if (message?.method === 'subscriptions/listen') {
        listening.add(res);
        res.once('close', () => listening.delete(res));
        return bus.scope(callContext(req.auth).loaded.catalog.serverId, () => modern(req, res, req.body));
      }
      // SEP-2243: `Mcp-Param-*` headers of a tool's `x-mcp-header` arguments must agree with the body.
      const params = message?.params as { name?: unknown; arguments?: unknown } | undefined;
      if (message?.method === 'tools/call' && typeof params?.name === 'string') {
        const mismatch = checkParamHeaders(callContext(req.auth).loaded, params.name, params.arguments, (h) =>
          req.get(h),
        );
        if (mismatch) {
          const id = typeof message.id === 'string' || typeof message.id === 'number' ? message.id : null;
          res.status(400).json({
            jsonrpc: '2.0',
            id,
            error: {
              code: HEADER_MISMATCH,
              message: `Bad Request: the request headers and body disagree: ${mismatch.message}`,
              data: { mismatch: { header: mismatch.header, body: mismatch.message } },
            },
          });
          return;
        }
      }
      return modern(req, res, req.body);
    }
    if (req.method !== 'POST') {
      // No sessions and no server-initiated stream in stateless serving.
      res
        .status(405)
        .set('allow', 'POST')
        .json({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null });
      return;
    }
    return legacy(req, res);
  }

  return Object.assign(handle, {
    /** The server's catalog changed: its open 2026-07-28 listen streams get `notifications/tools/list_changed`. */
    toolsChanged: (serverId: string): number => bus.publishTo(serverId, { kind: 'tools_list_changed' }),
    /**
     * Ends open listen streams (graceful stop: they never finish on their own and would keep the HTTP
     * server open). Calls in flight are left to finish (`handler.close()` would abort them).
     */
    close: () => {
      for (const res of listening) res.destroy();
      listening.clear();
    },
  });
}
