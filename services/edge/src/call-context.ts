import type { Principal } from '@toolplane/contracts';
import type { AuthInfo } from '@modelcontextprotocol/server';
import type { LoadedCatalog } from './catalogs.ts';
import type { LogLevel } from './protocol-state.ts';
import type { RequestFacts } from './tool-calls.ts';

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
  /** What a call may take from the HTTP request (`Config-*` values, OAuth token, upstream credential), read once. */
  request: RequestFacts;
}

/**
 * The context travels to the SDK's handlers in `AuthInfo.extra` (the SDK's one way to hand per-request
 * facts to a handler); `callContext` takes it back out, typed, and calls are built from it (`ToolCall`).
 */
export function toAuthInfo(ctx: EdgeCallContext, clientId: string): AuthInfo {
  return { token: 'x-api-key', clientId, scopes: [], extra: { toolplane: ctx } };
}

export function callContext(authInfo: AuthInfo | undefined): EdgeCallContext {
  const c = authInfo?.extra?.toolplane as EdgeCallContext | undefined;
  if (!c) throw new Error('MCP request reached the handler without an authenticated context');
  return c;
}

/** Who calls, for scoping session state: the HTTP layer's client id, else the key id or `oauth:<sub>`. */
export function clientIdOf(call: EdgeCallContext): string {
  return call.clientId ?? call.principal.keyId ?? `oauth:${call.principal.subject ?? ''}`;
}
