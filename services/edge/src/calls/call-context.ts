import type { AuthInfo } from '@modelcontextprotocol/server';
import { tracingEnabled } from '@toolplane/telemetry';
import type { Caller } from '../identity/authenticate.ts';
import {
  sessionScope,
  sessionUrlElicitation,
  type LogLevel,
  type SessionUrlElicitation,
  type UrlElicitationMode,
} from '../protocol/protocol-state.ts';
import { upstreamAuthorizationOf } from '../identity/upstream-auth.ts';

/**
 * One MCP request as the HTTP layer resolved it before MCP handling, made whole once (`edgeCallContext`) and never
 * changed after: who calls and which catalog they reach, what a call may take from the request, its trace context,
 * and its 2025-era session. Calls are built from it (`toolCall` in tool-calls.ts).
 */
export interface EdgeCallContext extends TraceFacts {
  readonly caller: Caller;
  /** What a call may take from the HTTP request (`Config-*` values, OAuth token, upstream credential), read once. */
  readonly request: RequestFacts;
  /** 2025-era Streamable HTTP: the request's `Mcp-Session-Id` (one the edge issued; a correlation id, no server state). */
  readonly sessionId: string | undefined;
  /** 2025-era: the session's `logging/setLevel`, looked up once for calls that may log. */
  readonly logLevel: LogLevel | undefined;
  /** The HTTP request, read only for audit events (its client address and user agent): nothing is copied from it. */
  readonly source: SourceRequest;
}

/** What an audit event reads of the HTTP request a call came with (an express `Request` is one). */
export interface SourceRequest {
  /** The client's address as the HTTP layer resolved it (`trust proxy`). */
  readonly ip?: string | undefined;
  header(name: string): string | undefined;
}

/** The HTTP request's W3C trace context and MCP protocol version, for spans (read only while tracing is on). */
export interface TraceFacts {
  readonly traceparent: string | undefined;
  readonly tracestate: string | undefined;
  readonly protocolVersion: string | undefined;
}

/**
 * What a call may take from the caller's HTTP request, read once in the edge's HTTP layer: `Config-*`
 * values (workflow tools only read them), the verified OAuth access token (only workflows of servers that
 * opted in receive it), and an `X-Upstream-Authorization` value (sealed for the workers when a tool takes it).
 */
export interface RequestFacts {
  /** `Config-<Name>` headers as `{ name: value }`: lower-case names without the prefix (the job's `config`). */
  readonly config?: Readonly<Record<string, string>> | undefined;
  /** The verified OAuth access token (never an API key); absent for key and anonymous callers. */
  readonly accessToken?: string | undefined;
  /** The caller's own upstream credential, in clear: never enqueued as it is (see `upstreamRefusal`). */
  readonly upstreamAuthorization?: string | undefined;
}

type HeaderBag = Record<string, string | string[] | undefined>;

/** What `edgeCallContext` reads of a request (an express `Request` is one). */
interface ContextRequest extends SourceRequest {
  readonly headers: HeaderBag;
}

/** The context of one request of `caller`, complete; a 2025-era request's session and its log level when it has them. */
export function edgeCallContext(
  req: ContextRequest,
  caller: Caller,
  sessionId?: string,
  logLevel?: LogLevel,
): EdgeCallContext {
  // The agent's trace context (an MCP `_meta.traceparent` wins over it) and protocol version, for spans.
  const traced = tracingEnabled();
  return {
    caller,
    request: requestFacts(req.headers, caller.accessToken),
    traceparent: traced ? req.header('traceparent') : undefined,
    tracestate: traced ? req.header('tracestate') : undefined,
    protocolVersion: traced ? req.header('mcp-protocol-version') : undefined,
    sessionId,
    logLevel,
    source: req,
  };
}

/**
 * The context travels to the SDK's handlers in `AuthInfo.extra` (the SDK's one way to hand per-request
 * facts to a handler); `callContext` takes it back out, typed. The fast path needs neither.
 */
export function toAuthInfo(ctx: EdgeCallContext): AuthInfo {
  return { token: 'x-api-key', clientId: ctx.caller.clientId, scopes: [], extra: { toolplane: ctx } };
}

export function callContext(authInfo: AuthInfo | undefined): EdgeCallContext {
  const c = authInfo?.extra?.toolplane as EdgeCallContext | undefined;
  if (!c) throw new Error('MCP request reached the handler without an authenticated context');
  return c;
}

/** The scope of a caller's 2025-era session on its server (`sessionScope`): its log level, elicitation, cancellations. */
export function callerSessionScope(caller: Caller, sessionId: string): string {
  return sessionScope(caller.clientId, caller.loaded.catalog.serverId, sessionId);
}

/**
 * Whether a 2025-era session declared URL-mode elicitation, as a call asks for it (`ToolCall.urlElicitation`);
 * undefined without a session, or when the edge does not remember sessions' declarations.
 */
export function sessionElicitation(
  store: SessionUrlElicitation | undefined,
  caller: Caller,
  sessionId: string | undefined,
): (() => Promise<UrlElicitationMode | undefined>) | undefined {
  if (!store || !sessionId) return undefined;
  return sessionUrlElicitation(store, () => callerSessionScope(caller, sessionId));
}

const configPrefix = /^config-/i;

/** The request's `Config-<Name>` headers as `{ name: value }` (lower-case names without the prefix), or undefined if none. */
export function configHeaders(headers: HeaderBag | undefined): Record<string, string> | undefined {
  if (!headers) return undefined;
  let config: Record<string, string> | undefined;
  for (const name of Object.keys(headers)) {
    if (!configPrefix.test(name) || name.length <= 7) continue;
    const value = headers[name];
    if (value === undefined) continue;
    (config ??= {})[name.slice(7).toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return config;
}

/** The request facts of an HTTP request (headers as Node gives them: lower-case names). */
export function requestFacts(headers: HeaderBag, accessToken?: string): RequestFacts {
  const facts: { -readonly [K in keyof RequestFacts]: RequestFacts[K] } = {};
  const config = configHeaders(headers);
  if (config) facts.config = config;
  if (accessToken) facts.accessToken = accessToken;
  const upstream = upstreamAuthorizationOf(headers);
  if (upstream !== undefined) facts.upstreamAuthorization = upstream;
  return facts;
}
