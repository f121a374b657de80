import { randomUUID } from 'node:crypto';
import {
  classifyInboundRequest,
  CLIENT_CAPABILITIES_META_KEY,
  createMcpHandler,
  INVALID_PARAMS,
  ProtocolError,
  Server,
  type AuthInfo,
  type CallToolResult,
  type ListToolsResult,
  type ServerContext,
} from '@modelcontextprotocol/server';
import { toolResultValue } from '@toolplane/contracts';
import { NodeStreamableHTTPServerTransport, toNodeHandler } from '@modelcontextprotocol/node';
import type { Request, Response } from 'express';
import { callContext, clientIdOf, type EdgeCallContext } from './call-context.ts';
import { observedCall } from './call-span.ts';
import { isProxiedTool } from './catalogs.ts';
import { fastToolsCall, plainLegacyRequest, plainToolsCall } from './fast-path.ts';
import { ServerScopedEventBus } from './listen-bus.ts';
import { liveCall } from './live-call.ts';
import { checkParamHeaders, HEADER_MISMATCH } from './param-headers.ts';
import {
  CancelRegistry,
  declaresUrlElicitation,
  isLogLevel,
  sessionScope,
  sessionUrlElicitation,
} from './protocol-state.ts';
import { UnknownToolError, type ToolCall, type ToolCallDeps } from './tool-calls.ts';

/** A light low-level `Server` bound to the caller's cached catalog (one per HTTP request, ~µs). */
export function buildServer(
  call: EdgeCallContext,
  deps: ToolCallDeps,
  version: string,
  toolsListTtlMs = 0,
  connection?: AbortSignal,
): Server {
  const { loaded } = call;
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
    const c = current(ctx);
    const live = await liveCall(c, deps, ctx, name);
    const call: ToolCall = {
      loaded: c.loaded,
      principal: c.principal,
      name,
      arguments: args ?? {},
      // The request's signal aborts when the client cancels or disconnects: the worker is told to stop.
      signal: connection ? AbortSignal.any([ctx.mcpReq.signal, connection]) : ctx.mcpReq.signal,
      live,
      request: c.request,
    };
    // 2026-07-28 (SEP-2322): an external MCP tool may answer `input_required`; the caller's retry
    // carries `inputResponses` and the opaque `requestState`, relayed as they are (nothing is kept).
    const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
    if (envelope && isProxiedTool(c.loaded, name)) {
      // The SDK lifts both out of the params into the context.
      const inputResponses = ctx.mcpReq.inputResponses;
      const requestState = ctx.mcpReq.requestState();
      const declared = envelope[CLIENT_CAPABILITIES_META_KEY];
      call.multiRound = {
        ...(inputResponses !== undefined ? { inputResponses } : {}),
        ...(requestState !== undefined ? { requestState } : {}),
        ...(declared && typeof declared === 'object'
          ? { clientCapabilities: declared as Record<string, unknown> }
          : {}),
      };
    }
    // A person's connect link goes to callers that declared URL-mode elicitation as such (ADR 0027): on 2026-07-28
    // per request (the envelope; not again after they declined or cancelled it), on 2025-11-25 per session (this
    // server's own initialize on a legacy HTTP+SSE stream, else what the session's initialize left in Redis).
    if (envelope) {
      const declined = (ctx.mcpReq.inputResponses as Record<string, { action?: unknown }> | undefined)?.connect;
      if (declaresUrlElicitation(envelope[CLIENT_CAPABILITIES_META_KEY]) && (!declined || declined.action === 'accept'))
        call.urlElicitation = () => Promise.resolve('input_required');
    } else if (declaresUrlElicitation(server.getClientCapabilities())) {
      call.urlElicitation = () => Promise.resolve('error');
    } else {
      const sessionId = ctx.sessionId ?? c.sessionId;
      if (deps.urlElicitations && sessionId)
        call.urlElicitation = sessionUrlElicitation(deps.urlElicitations, () =>
          sessionScope(clientIdOf(c), c.loaded.catalog.serverId, sessionId),
        );
    }
    try {
      const result = toolResultValue(await observedCall(deps, call, ctx.mcpReq.id, ctx.mcpReq._meta, c));
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

type AuthedRequest = Request & { auth?: AuthInfo };

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
      // A session id without server state: any edge accepts it. It scopes logging/setLevel,
      // notifications/cancelled and the client's URL-mode elicitation to one client connection instead of to its
      // credentials.
      const issued = randomUUID();
      res.setHeader('mcp-session-id', issued);
      const capabilities = (body.params as { capabilities?: unknown } | undefined)?.capabilities;
      if (deps.urlElicitations && declaresUrlElicitation(capabilities)) {
        // Not remembered (Redis unreachable): the session's calls get tool errors carrying the link.
        await deps.urlElicitations
          .declare(sessionScope(clientIdOf(ctx), ctx.loaded.catalog.serverId, issued))
          .catch((err: unknown) => deps.log.warn({ err }, 'URL-mode elicitation of a session not remembered'));
      }
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
      return fastToolsCall(deps, res, ctx, plain, connection.signal);
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
      !plainLegacyRequest(req.body, req.get('mcp-protocol-version')) &&
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
