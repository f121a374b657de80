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
  SUPPORTED_PROTOCOL_VERSIONS,
} from '@modelcontextprotocol/server';
import { toolResultValue, type ToolInvokeJob } from '@toolplane/contracts';
import { NodeStreamableHTTPServerTransport, toNodeHandler } from '@modelcontextprotocol/node';
import type { Request, Response } from 'express';
import type { Caller } from '../identity/authenticate.ts';
import {
  callContext,
  callerSessionScope,
  edgeCallContext,
  sessionElicitation,
  toAuthInfo,
  type EdgeCallContext,
  type TraceFacts,
} from '../calls/call-context.ts';
import { observedCall } from '../calls/call-span.ts';
import { isProxiedTool } from '../state/catalogs.ts';
import { legacyConfirmation, modernConfirmation, type AskingRound } from '../confirmation/confirmation-askers.ts';
import {
  callNeedsConfirmation,
  isRunCode,
  ELICITATION_ID_PREFIX,
  principalBinding,
  upstreamInputResponses,
  upstreamRequestState,
} from '../confirmation/confirmation.ts';
import { fastToolsCall, FIRST_MODERN_VERSION, plainLegacyRequest, plainToolsCall } from './fast-path.ts';
import { ServerScopedEventBus } from './listen-bus.ts';
import { liveCall } from './live-call.ts';
import { featureCapabilities, registerFeatures } from './mcp-features.ts';
import { registerEvents, withEventCapabilities } from '../events/register.ts';
import { checkParamHeaders, HEADER_MISMATCH } from './param-headers.ts';
import {
  CancelRegistry,
  declaresFormElicitation,
  declaresUrlElicitation,
  ElicitationReplies,
  isLogLevel,
  relayCapabilitiesOf,
  type LogLevel,
  type RelayCapabilities,
} from './protocol-state.ts';
import { relayRequests, sessionRelayRequests } from './relay.ts';
import { ResourceStreams } from './resource-streams.ts';
import { missingTasksExtension, type EdgeTasks } from '../tasks/edge-tasks.ts';
import { isLegacyTaskRequest, serveLegacyTask } from '../tasks/legacy.ts';
import { declaresTasks, TASK_CAPABILITIES } from '../tasks/wire.ts';
import { confirmSealing, toolCall, type CodeRounds, type ToolCall, type ToolCallDeps } from '../calls/call-types.ts';
import { UnknownToolError } from '../calls/tool-calls.ts';

/** How the edge's MCP servers present themselves. */
export interface ServerOptions {
  version: string;
  /** The 2026-07-28 `tools/list` caching hint (ms). */
  toolsListTtlMs: number;
  /** The HTTP connection's signal (2025-era requests): a call aborts when the client goes away. */
  connection?: AbortSignal | undefined;
  /** 2025-era requests answered on an SSE stream: a call may send a request (a confirmation) before its result. */
  streamed?: boolean | undefined;
  /** 2025-era calls of proxied tools: the sampling / elicitation the session declared, relayed on the call's stream. */
  relay?: RelayCapabilities | undefined;
  /** Durable tasks (ADR 0040): declared and served when set (not on legacy HTTP+SSE sessions). */
  tasks?: EdgeTasks | undefined;
}

/** What a server's `tools/call` handler works with. */
interface ServerBinding {
  readonly deps: ToolCallDeps;
  readonly server: Server;
  readonly connection: AbortSignal | undefined;
  readonly streamed: boolean;
  readonly relay: RelayCapabilities | undefined;
}

/** A light low-level `Server` bound to the caller's cached catalog (one per HTTP request, ~µs). */
export function buildServer(call: EdgeCallContext, deps: ToolCallDeps, opts: ServerOptions): Server {
  const { loaded } = call.caller;
  const server = new Server(
    { name: loaded.catalog.serverInfo?.name ?? loaded.catalog.name, version: opts.version },
    {
      // logging: log messages of external MCP servers are relayed during their calls; resources, prompts and
      // completions only when attached external servers offer them (mcp-features.ts).
      capabilities: withEventCapabilities(
        {
          tools: { listChanged: true },
          logging: {},
          ...featureCapabilities(loaded),
          ...(opts.tasks ? TASK_CAPABILITIES : {}),
        },
        loaded,
      ),
      ...(loaded.catalog.description ? { instructions: loaded.catalog.description } : {}),
      // 2026-07-28 list caching hint: clients may reuse tools/list this long (private: per caller).
      cacheHints: { 'tools/list': { ttlMs: opts.toolsListTtlMs, cacheScope: 'private' } },
    },
  );
  // Catalog tools are JSON Schema objects with an object root, checked when the catalog is compiled.
  const listResult = { tools: opts.tasks ? opts.tasks.toolsList(loaded) : loaded.list } as ListToolsResult;
  // A legacy HTTP+SSE session lives across requests: each POST brings its own authenticated context
  // (fresh catalog after a change, its own headers) in the message's authInfo. Otherwise it is `call`.
  const current = (ctx: ServerContext): EdgeCallContext =>
    (ctx.http?.authInfo?.extra?.toolplane as EdgeCallContext | undefined) ?? call;
  server.setRequestHandler('tools/list', (_request, ctx) => {
    const c = current(ctx);
    return c === call || c.caller.loaded === loaded ? listResult : ({ tools: c.caller.loaded.list } as ListToolsResult);
  });
  // 2025 era: remembered per issued session id (in Redis, so any edge sees it). Stateless requests
  // without a session have nothing to remember it for: accepted, and no log messages are relayed.
  server.setRequestHandler('logging/setLevel', async (request, ctx) => {
    const sessionId = ctx.sessionId ?? call.sessionId;
    if (sessionId && deps.logLevels && isLogLevel(request.params.level)) {
      await deps.logLevels.set(callerSessionScope(call.caller, sessionId), request.params.level);
    }
    return {};
  });
  const binding: ServerBinding = {
    deps,
    server,
    connection: opts.connection,
    streamed: opts.streamed === true,
    relay: opts.relay,
  };
  opts.tasks?.register(server, current);
  registerEvents(server, loaded, { deps: deps.events, current, connection: opts.connection });
  registerFeatures(server, loaded, {
    deps,
    current,
    multiRound: (ctx) => {
      const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
      return envelope ? multiRoundOf(ctx, envelope) : undefined;
    },
  });
  server.setRequestHandler(
    'tools/call',
    (request, ctx) =>
      modernTaskCall(opts.tasks, current(ctx), request.params, ctx) ??
      sdkToolsCall(binding, current(ctx), request.params, ctx),
  );
  return server;
}

/**
 * 2026-07-28: the server decides whether a call runs as a task (ADR 0040): one of a request that declared the Tasks
 * extension, of a tool that may (`EdgeTasks.eligible`). Undefined for every other call, which pays two property reads.
 */
function modernTaskCall(
  tasks: EdgeTasks | undefined,
  c: EdgeCallContext,
  params: { name: string; arguments?: Record<string, unknown> | undefined },
  ctx: ServerContext,
): Promise<CallToolResult> | undefined {
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  if (!tasks || !envelope) return undefined;
  const { loaded } = c.caller;
  if (!declaresTasks(envelope[CLIENT_CAPABILITIES_META_KEY])) {
    // SEP-2663: a tool that runs only as a task cannot serve a client that cannot make one.
    if (tasks.requiresTask(loaded, params.name)) throw missingTasksExtension();
    return undefined;
  }
  if (!tasks.eligible(loaded, params.name)) return undefined;
  const multiRound = isProxiedTool(loaded, params.name) ? multiRoundOf(ctx, envelope) : undefined;
  const message = { id: ctx.mcpReq.id, name: params.name, args: params.arguments };
  return tasks.modernCall(c, message, { multiRound, trace: metaTrace(ctx.mcpReq._meta, c) });
}

/** A `tools/call` the SDK dispatched: the call built once from what the request and its envelope carry, then run. */
async function sdkToolsCall(
  b: ServerBinding,
  c: EdgeCallContext,
  params: { name: string; arguments?: Record<string, unknown> | undefined },
  ctx: ServerContext,
): Promise<CallToolResult> {
  const { name, arguments: args } = params;
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  // The request's signal aborts when the client cancels or disconnects: the worker is told to stop.
  const signal = b.connection ? AbortSignal.any([ctx.mcpReq.signal, b.connection]) : ctx.mcpReq.signal;
  const proxied = isProxiedTool(c.caller.loaded, name);
  // A legacy HTTP+SSE session's server knows its client's capabilities itself (the stateless transports do not).
  const sessionCaps =
    !envelope && proxied && !b.relay ? relayCapabilitiesOf(b.server.getClientCapabilities()) : undefined;
  const relayCaps = b.relay ?? sessionCaps;
  const relay =
    envelope || !proxied || !relayCaps
      ? undefined
      : sessionCaps
        ? sessionRelayRequests(b.server, b.deps, signal)
        : relayRequests({ deps: b.deps, server: b.server, context: c, ctx, signal });
  const live = await liveCall(c, b.deps, ctx, { name, relay });
  const call = toolCall(c, { id: ctx.mcpReq.id, name, args }, signal, {
    live,
    multiRound: envelope && proxied ? multiRoundOf(ctx, envelope) : undefined,
    relay: relay ? relayCaps : undefined,
    urlElicitation: urlElicitationOf(b, c, ctx, envelope),
    confirmation: envelope
      ? modernConfirmation({
          ctx,
          envelope,
          sealing: confirmSealing(b.deps),
          caller: principalBinding(c.caller.principal),
        })
      : legacyConfirmation({ deps: b.deps, server: b.server, context: c, ctx, signal, streamed: b.streamed }),
    trace: metaTrace(ctx.mcpReq._meta, c),
    codeRounds: envelope && isRunCode(c.caller.loaded, name) ? codeRoundsOf(b, c, ctx, envelope) : undefined,
  });
  try {
    const result = toolResultValue(await observedCall(b.deps, call));
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
}

/**
 * 2026-07-28 (SEP-2322): an external MCP tool may answer `input_required`; the caller's retry carries
 * `inputResponses` and the opaque `requestState`, relayed as they are (nothing is kept).
 */
function multiRoundOf(ctx: AskingRound, envelope: Record<string, unknown>): ToolInvokeJob['multiRound'] {
  // The SDK lifts both out of the params into the context; a confirmation's own (confirmation/confirmation.ts) stay here.
  const inputResponses = upstreamInputResponses(ctx.mcpReq.inputResponses);
  const requestState = upstreamRequestState(ctx.mcpReq.requestState());
  const declared = envelope[CLIENT_CAPABILITIES_META_KEY];
  return {
    ...(inputResponses !== undefined ? { inputResponses } : {}),
    ...(requestState !== undefined ? { requestState } : {}),
    ...(declared && typeof declared === 'object' ? { clientCapabilities: declared as Record<string, unknown> } : {}),
  };
}

/**
 * A 2026-07-28 `run_code` call's round (code-mode/code-rounds.ts): its inner calls are asked as direct calls of their tools
 * would be, each with the request state and input responses the program's state gives it (none on a first call).
 */
function codeRoundsOf(
  b: ServerBinding,
  c: EdgeCallContext,
  ctx: ServerContext,
  envelope: Record<string, unknown>,
): CodeRounds {
  const { inputResponses } = ctx.mcpReq;
  return {
    requestState: ctx.mcpReq.requestState(),
    inputResponses,
    inner: (tool, answers) => {
      const round = {
        mcpReq: answers
          ? { requestState: () => answers.requestState, inputResponses }
          : { requestState: () => undefined, inputResponses: undefined },
      };
      const confirmation = modernConfirmation({
        ctx: round,
        envelope,
        sealing: confirmSealing(b.deps),
        caller: principalBinding(c.caller.principal),
      });
      return {
        confirmation,
        multiRound: isProxiedTool(c.caller.loaded, tool) ? multiRoundOf(round, envelope) : undefined,
      };
    },
  };
}

const askInputRequired = () => Promise.resolve('input_required' as const);
const askError = () => Promise.resolve('error' as const);

/**
 * A person's connect link goes to callers that declared URL-mode elicitation as such (ADR 0027): on 2026-07-28
 * per request (the envelope; not again after they declined or cancelled it), on 2025-11-25 per session (this
 * server's own initialize on a legacy HTTP+SSE stream, else what the session's initialize left in Redis).
 */
function urlElicitationOf(
  b: ServerBinding,
  c: EdgeCallContext,
  ctx: ServerContext,
  envelope: Record<string, unknown> | undefined,
): ToolCall['urlElicitation'] {
  if (envelope) {
    const declined = (ctx.mcpReq.inputResponses as Record<string, { action?: unknown }> | undefined)?.connect;
    const declared = declaresUrlElicitation(envelope[CLIENT_CAPABILITIES_META_KEY]);
    return declared && (!declined || declined.action === 'accept') ? askInputRequired : undefined;
  }
  if (declaresUrlElicitation(b.server.getClientCapabilities())) return askError;
  return sessionElicitation(b.deps.urlElicitations, c.caller, ctx.sessionId ?? c.sessionId);
}

/** The MCP message's own trace context (`_meta.traceparent`), which wins over the HTTP request's; undefined if none. */
function metaTrace(meta: Record<string, unknown> | undefined, http: TraceFacts): TraceFacts | undefined {
  if (typeof meta?.traceparent !== 'string') return undefined;
  return {
    traceparent: meta.traceparent,
    tracestate: typeof meta.tracestate === 'string' ? meta.tracestate : undefined,
    protocolVersion: http.protocolVersion,
  };
}

type AuthedRequest = Request & { auth?: AuthInfo };

/** The JSON-RPC envelope of a request body, as the routing reads it. */
type RequestMessage =
  | {
      jsonrpc?: unknown;
      method?: unknown;
      id?: unknown;
      params?: { name?: unknown; arguments?: unknown; requestId?: unknown; _meta?: { progressToken?: unknown } };
    }
  | undefined;

export interface EdgeMcpHandlerOptions extends ServerOptions {
  onerror: (err: Error) => void;
  /** Plain 2025-era tools/call requests skip the SDK (see `plainToolsCall`); default on. */
  fastPath?: boolean;
  /** Told of each call the fast path served (debug logs; the comparison test counts them). */
  onFastPath?: (tool: string) => void;
}

/**
 * The MCP protocol layer, stateless (no sessions: any edge serves any request). 2026-07-28 requests go
 * to the SDK's `createMcpHandler`; plain 2025-era tools/call requests to the fast path (`plainToolsCall`);
 * other 2025-era requests to a per-request 2025 transport with JSON
 * responses (the SDK's documented hybrid routing: its own 2025 fallback always answers SSE, which
 * costs more per call). Both use the same server builder, so the eras cannot drift apart.
 * `handle` takes an authenticated request (`req.body` parsed as JSON) and its `Caller`.
 */
export class EdgeMcpHandler {
  private readonly deps: ToolCallDeps;
  private readonly opts: EdgeMcpHandlerOptions;
  private readonly serverOptions: ServerOptions;
  /** 2026-07-28 `subscriptions/listen` streams, per server (tools/list_changed after a catalog change). */
  private readonly bus = new ServerScopedEventBus();
  private readonly modern: ReturnType<typeof toNodeHandler>;
  /** Responses carrying open `subscriptions/listen` streams. */
  private readonly listening = new Set<Response>();
  /** Open streams that carry resource updates (absent: subscriptions are not offered). */
  private readonly resources: ResourceStreams | undefined;

  constructor(deps: ToolCallDeps, opts: EdgeMcpHandlerOptions) {
    this.deps = deps;
    this.opts = opts;
    this.resources = deps.subscriptions ? new ResourceStreams(deps.subscriptions, deps.log) : undefined;
    this.serverOptions = { version: opts.version, toolsListTtlMs: opts.toolsListTtlMs, tasks: opts.tasks };
    // `auto`: a JSON body, upgraded to an SSE stream only when the call sends progress or log messages.
    const handler = createMcpHandler((ctx) => buildServer(callContext(ctx.authInfo), deps, this.serverOptions), {
      legacy: 'reject',
      responseMode: 'auto',
      onerror: opts.onerror,
      bus: this.bus,
    });
    this.modern = toNodeHandler(handler, { onerror: opts.onerror });
  }

  handle(req: AuthedRequest, res: Response, caller: Caller): Promise<void> {
    const message = req.body as RequestMessage;
    if (
      req.method === 'POST' &&
      message?.method === 'notifications/cancelled' &&
      message.id === undefined &&
      message.jsonrpc === '2.0'
    ) {
      return this.cancelled(req, res, caller);
    }
    if (req.method === 'POST' && isElicitationAnswer(message)) return this.elicitationAnswer(req, res, caller);
    if (unsupportedVersion(req, res)) return Promise.resolve();
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
    if (isModern) return this.serveModern(req, res, caller);
    if (req.method === 'GET' && this.resourceStream(req, res, caller)) return Promise.resolve();
    if (req.method !== 'POST') {
      // No server-initiated stream in stateless serving, but for resource updates (resourceStream).
      res
        .status(405)
        .set('allow', 'POST')
        .json({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null });
      return Promise.resolve();
    }
    return this.serveLegacy(req, res, caller);
  }

  /** The server's catalog changed: its open 2026-07-28 listen streams get `notifications/tools/list_changed`. */
  toolsChanged(serverId: string): number {
    // A new catalog version may change any list an attached external server feeds (its prompts, its resources):
    // each stream hears the kinds it listens for, and a client re-lists on a change that changed nothing.
    const sent = this.bus.publishTo(serverId, { kind: 'tools_list_changed' });
    this.bus.publishTo(serverId, { kind: 'prompts_list_changed' });
    this.bus.publishTo(serverId, { kind: 'resources_list_changed' });
    return sent;
  }

  /**
   * Ends open listen streams (graceful stop: they never finish on their own and would keep the HTTP
   * server open). Calls in flight are left to finish (`handler.close()` would abort them).
   */
  close(): void {
    for (const res of this.listening) res.destroy();
    this.listening.clear();
    this.resources?.close();
  }

  /**
   * An attached external server's resource changed (`[serverId, uri]` from the worker watching it): 2026-07-28 listen
   * streams subscribed to it and 2025-era session streams whose session subscribed to it hear it.
   */
  resourceUpdated(message: string): number {
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      return 0;
    }
    if (!Array.isArray(parsed) || typeof parsed[0] !== 'string' || typeof parsed[1] !== 'string') return 0;
    const [serverId, uri] = parsed as [string, string];
    const sent = this.bus.publishTo(serverId, { kind: 'resource_updated', uri, params: { uri } });
    void this.resources?.updated(serverId, uri).catch(() => undefined);
    return sent;
  }

  /**
   * A 2025-era session's GET stream, held open only where it carries something: resource updates of a server whose
   * attached external servers take subscriptions. False when the request is not one (it gets 405 as before).
   */
  private resourceStream(req: AuthedRequest, res: Response, caller: Caller): boolean {
    const sessionId = req.get('mcp-session-id');
    if (!this.resources || !sessionId || !featureCapabilities(caller.loaded).resources?.subscribe) return false;
    if (!(req.get('accept') ?? '').includes('text/event-stream')) return false;
    this.resources.session(res, caller, callerSessionScope(caller, sessionId));
    return true;
  }

  /** A 2026-07-28 request: the SDK's handler, with the context in `req.auth`. */
  private async serveModern(req: AuthedRequest, res: Response, caller: Caller): Promise<void> {
    const message = req.body as RequestMessage;
    req.auth = toAuthInfo(edgeCallContext(req, caller));
    // A listen stream subscribes under its server (only these requests enter a scope).
    if (message?.method === 'subscriptions/listen') {
      this.listening.add(res);
      res.once('close', () => this.listening.delete(res));
      const wanted = (message.params as { notifications?: { resourceSubscriptions?: unknown } } | undefined)
        ?.notifications?.resourceSubscriptions;
      if (this.resources && Array.isArray(wanted))
        this.resources.listen(
          res,
          caller,
          wanted.filter((u): u is string => typeof u === 'string'),
        );
      return this.bus.scope(caller.loaded.catalog.serverId, () => this.modern(req, res, req.body));
    }
    // SEP-2243: `Mcp-Param-*` headers of a tool's `x-mcp-header` arguments must agree with the body.
    const params = message?.params;
    if (message?.method === 'tools/call' && typeof params?.name === 'string') {
      const mismatch = checkParamHeaders(caller.loaded, params.name, params.arguments, (h) => req.get(h));
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
    return this.modern(req, res, req.body);
  }

  /** A 2025-era request: the fast path for a plain `tools/call`, else a per-request 2025 transport. */
  private async serveLegacy(req: AuthedRequest, res: Response, caller: Caller): Promise<void> {
    const body = req.body as RequestMessage;
    const sessionId = req.get('mcp-session-id');
    // Durable tasks (ADR 0040): Tasks methods and a tools/call asking for a task, answered by the edge itself.
    if (this.opts.tasks && isLegacyTaskRequest(body))
      return serveLegacyTask(this.opts.tasks, res, edgeCallContext(req, caller, sessionId), body!);
    const initialize = body?.method === 'initialize';
    if (initialize) await this.initialize(req, res, caller);
    // JSON answers unless the call may send notifications before its result (progress asked for, or
    // a proxied MCP server's log messages at the session's level): then an SSE stream.
    const isCall = body?.method === 'tools/call';
    const { logLevel, relay } =
      isCall && sessionId ? await this.sessionCallState(caller, sessionId, body.params?.name) : {};
    const stream = (isCall && body.params?._meta?.progressToken !== undefined) || logLevel !== undefined || !!relay;
    const ctx = edgeCallContext(req, caller, initialize ? undefined : sessionId, logLevel);
    const connection = this.connectionSignal(res, ctx, body);
    const plain = stream || this.opts.fastPath === false ? undefined : plainToolsCall(req, body, caller.loaded);
    if (plain) {
      this.opts.onFastPath?.(plain.name);
      const elicitation = sessionElicitation(this.deps.urlElicitations, caller, ctx.sessionId);
      const extras = elicitation ? { urlElicitation: elicitation } : undefined;
      return fastToolsCall(this.deps, res, toolCall(ctx, plain, connection, extras));
    }
    // A call of a tool marked `confirm` may send its person's confirmation request first: an SSE stream too.
    const streamed =
      stream ||
      body?.method === 'events/stream' ||
      (isCall && callNeedsConfirmation(caller.loaded, body.params?.name, body.params?.arguments));
    const server = buildServer(ctx, this.deps, { ...this.serverOptions, connection, streamed, relay });
    const transport = new NodeStreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: !streamed,
    });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    req.auth = toAuthInfo(ctx);
    await transport.handleRequest(req, res, req.body);
  }

  /**
   * `initialize`: a session id without server state (any edge accepts it). It scopes logging/setLevel,
   * notifications/cancelled and the client's URL-mode elicitation to one client connection instead of to its
   * credentials.
   */
  private async initialize(req: AuthedRequest, res: Response, caller: Caller): Promise<void> {
    const issued = randomUUID();
    res.setHeader('mcp-session-id', issued);
    const capabilities = (req.body as { params?: { capabilities?: unknown } }).params?.capabilities;
    if (this.deps.urlElicitations && declaresUrlElicitation(capabilities)) {
      // Not remembered (Redis unreachable): the session's calls get tool errors carrying the link.
      await this.deps.urlElicitations
        .declare(callerSessionScope(caller, issued))
        .catch((err: unknown) => this.deps.log.warn({ err }, 'URL-mode elicitation of a session not remembered'));
    }
    const relayed = relayCapabilitiesOf(capabilities);
    if (this.deps.relayCapabilities && relayed) {
      // Not remembered: external servers' requests during this session's calls are not relayed (they get an error).
      await this.deps.relayCapabilities
        .declare(callerSessionScope(caller, issued), relayed)
        .catch((err: unknown) => this.deps.log.warn({ err }, 'sampling / elicitation of a session not remembered'));
    }
    if (this.deps.formElicitations && declaresFormElicitation(capabilities)) {
      // Not remembered: calls of tools marked `confirm` are refused (this client cannot be asked).
      await this.deps.formElicitations
        .declare(callerSessionScope(caller, issued))
        .catch((err: unknown) => this.deps.log.warn({ err }, 'form-mode elicitation of a session not remembered'));
    }
  }

  /**
   * A session's log level and declared sampling / elicitation, for a call of a proxied tool (the only tools that relay
   * log messages and requests): two GETs in parallel, never for other tools.
   */
  private async sessionCallState(
    caller: Caller,
    sessionId: string,
    tool: unknown,
  ): Promise<{ logLevel?: LogLevel | undefined; relay?: RelayCapabilities | undefined }> {
    if (typeof tool !== 'string' || !isProxiedTool(caller.loaded, tool)) return {};
    const scope = callerSessionScope(caller, sessionId);
    const [logLevel, relay] = await Promise.all([
      this.deps.logLevels?.get(scope).catch(() => undefined),
      this.deps.relayCapabilities?.get(scope).catch(() => undefined),
    ]);
    return { logLevel, relay };
  }

  /**
   * The 2025 transport does not abort handlers when the client disconnects; this signal does, as does a
   * notifications/cancelled naming this request (on any edge): a call, or a held-open `events/stream`. Only within a session: JSON-RPC ids
   * are unique per connection, and one key (or the anonymous caller of a public server) may be
   * shared by many clients.
   */
  private connectionSignal(res: Response, ctx: EdgeCallContext, body: RequestMessage): AbortSignal {
    const connection = new AbortController();
    const { sessionId, caller } = ctx;
    const id = body?.id;
    const untrack =
      sessionId &&
      (body?.method === 'tools/call' || body?.method === 'events/stream') &&
      this.deps.cancels &&
      (typeof id === 'string' || typeof id === 'number')
        ? this.deps.cancels.track(
            CancelRegistry.key(caller.clientId, caller.loaded.catalog.serverId, sessionId, id),
            connection,
          )
        : undefined;
    res.on('close', () => {
      if (untrack) untrack();
      if (!res.writableFinished) connection.abort();
    });
    return connection.signal;
  }

  /**
   * A 2025-era client's answer to an `elicitation/create` the edge sent on a call's stream (a person's confirmation):
   * published to every edge, the one whose call waits for it resumes; answered 202 like any response. Only the
   * session that was asked can answer (the key names the caller and the session).
   */
  private async elicitationAnswer(req: AuthedRequest, res: Response, caller: Caller): Promise<void> {
    const message = req.body as { id: string; result?: unknown; error?: unknown };
    const sessionId = req.get('mcp-session-id');
    const replies = this.deps.elicitationReplies;
    if (replies && sessionId) {
      const key = ElicitationReplies.key(caller.clientId, caller.loaded.catalog.serverId, sessionId, message.id);
      await replies.reply(key, 'error' in message ? { error: message.error } : { result: message.result });
    }
    res.status(202).end();
  }

  /** A 2025-era `notifications/cancelled` (in a session): published to every edge; answered 202 like any notification. */
  private async cancelled(req: AuthedRequest, res: Response, caller: Caller): Promise<void> {
    const requestId = (req.body as RequestMessage)?.params?.requestId;
    const sessionId = req.get('mcp-session-id');
    if (this.deps.cancels && sessionId && (typeof requestId === 'string' || typeof requestId === 'number')) {
      await this.deps.cancels.cancel(
        CancelRegistry.key(caller.clientId, caller.loaded.catalog.serverId, sessionId, requestId),
      );
    }
    res.status(202).end();
  }
}

/** A JSON-RPC response to one of the edge's own `elicitation/create` requests (a person's confirmation). */
function isElicitationAnswer(message: RequestMessage): boolean {
  const m = message as { jsonrpc?: unknown; id?: unknown; method?: unknown; result?: unknown; error?: unknown };
  return (
    m?.method === undefined &&
    m.jsonrpc === '2.0' &&
    typeof m.id === 'string' &&
    m.id.startsWith(ELICITATION_ID_PREFIX) &&
    ('result' in m || 'error' in m)
  );
}

/** Every protocol revision this edge serves: the 2026-07-28 era's and the 2025 era's (the SDK's list), newest first. */
const SERVED_PROTOCOL_VERSIONS: readonly string[] = [FIRST_MODERN_VERSION, ...SUPPORTED_PROTOCOL_VERSIONS];

/** The revisions `server/discover` names (the SDK's answer): an UnsupportedProtocolVersion error lists these. */
const DISCOVERED_VERSIONS: readonly string[] = [FIRST_MODERN_VERSION];

/**
 * A request whose `MCP-Protocol-Version` header names a revision this edge serves in neither era: 400 with the
 * UnsupportedProtocolVersion error (-32022, 2026-07-28), echoing what was asked and naming the revisions
 * `server/discover` names (the error's list must be among them), so a client can retry with one; a 2025-era client
 * reads the 400 and negotiates with `initialize` as before. Answered before the era is judged: a revision nobody
 * serves has no envelope to check (the SDK answered -32602 for the envelope). Returns whether it answered.
 */
function unsupportedVersion(req: AuthedRequest, res: Response): boolean {
  const requested = req.get('mcp-protocol-version');
  if (requested === undefined || SERVED_PROTOCOL_VERSIONS.includes(requested)) return false;
  const id = (req.body as { id?: unknown } | undefined)?.id;
  res.status(400).json({
    jsonrpc: '2.0',
    id: typeof id === 'string' || typeof id === 'number' ? id : null,
    error: {
      code: -32022,
      message:
        `Unsupported protocol version: ${requested} ` +
        `(supported: ${DISCOVERED_VERSIONS.join(', ')}; 2025-era clients: initialize)`,
      data: { requested, supported: DISCOVERED_VERSIONS },
    },
  });
  return true;
}
