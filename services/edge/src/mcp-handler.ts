import type { Principal } from '@toolplane/contracts';
import { createMcpHandler, INVALID_PARAMS, ProtocolError, Server, type AuthInfo, type CallToolResult, type ListToolsResult, type McpRequestContext } from '@modelcontextprotocol/server';
import type { LoadedCatalog } from './catalogs.ts';
import { callTool, UnknownToolError, type ToolCallDeps } from './tool-calls.ts';

/** What the HTTP layer resolved before MCP handling: who calls, and which catalog they reach. */
export interface EdgeCallContext {
  principal: Principal;
  loaded: LoadedCatalog;
}

export function toAuthInfo(ctx: EdgeCallContext, clientId: string): AuthInfo {
  return { token: 'x-api-key', clientId, scopes: [], extra: { toolplane: ctx } };
}

function callContext(ctx: McpRequestContext): EdgeCallContext {
  const c = ctx.authInfo?.extra?.toolplane as EdgeCallContext | undefined;
  if (!c) throw new Error('MCP request reached the handler without an authenticated context');
  return c;
}

/**
 * The MCP protocol layer: one stateless handler serving 2026-07-28 and, through the SDK's stateless
 * fallback, 2025-era clients. Each request gets a light low-level `Server` bound to the caller's
 * catalog (the SDK's per-request factory model); the catalog itself, with its compiled validators,
 * is cached and shared.
 */
export function createEdgeMcpHandler(deps: ToolCallDeps, opts: { maxBodyBytes: number; version: string }) {
  return createMcpHandler(
    (ctx) => {
      const { principal, loaded } = callContext(ctx);
      const server = new Server(
        { name: loaded.catalog.name, version: opts.version },
        { capabilities: { tools: { listChanged: true } }, ...(loaded.catalog.description ? { instructions: loaded.catalog.description } : {}) },
      );
      // Catalog tools are validated JSON Schema objects (object root) when the catalog is compiled.
      const listResult = { tools: loaded.list } as ListToolsResult;
      server.setRequestHandler('tools/list', () => listResult);
      server.setRequestHandler('tools/call', async (request) => {
        const { name, arguments: args } = request.params;
        try {
          return (await callTool(deps, loaded, principal, name, args)) as CallToolResult;
        } catch (err) {
          if (err instanceof UnknownToolError) throw new ProtocolError(INVALID_PARAMS, err.message);
          throw err;
        }
      });
      return server;
    },
    { legacy: 'stateless', responseMode: 'json', maxRequestBodySize: opts.maxBodyBytes },
  );
}
