import type { JSONRPCMessage } from '@modelcontextprotocol/server';
import type { Request, Response } from 'express';
import type { AuthRequest, Caller } from '../identity/authenticate.ts';
import { edgeCallContext, toAuthInfo } from '../calls/call-context.ts';
import { answerRefusal, jsonRpcError, unavailable } from './http-errors.ts';
import type { LegacySseSessions } from './legacy-sse.ts';
import { buildServer, type EdgeMcpHandler, type ServerOptions } from './mcp-handler.ts';
import type { OpenStreams, StreamPrincipal } from './open-streams.ts';
import { stateMessages } from '../state/runtime-state.ts';
import type { ToolCallDeps } from '../calls/call-types.ts';

export interface McpEndpointDeps {
  authenticate: (req: AuthRequest) => Promise<Caller>;
  mcp: EdgeMcpHandler;
  toolDeps: ToolCallDeps;
  serverOptions: ServerOptions;
  legacySessions: LegacySseSessions;
  /** Long-lived answers end with their credential (docs/security.md, "Long-lived answers"). */
  openStreams: OpenStreams;
  /** Whether key changes can be heard (the pub/sub connection is up): no long-lived answer opens otherwise. */
  streamsHeard: () => boolean;
}

/** Whom a long-lived answer acts for besides its credential: a narrowed token's chain, the person; none: undefined. */
function streamPrincipal(caller: Caller): StreamPrincipal | undefined {
  const tokenChain = caller.facts.delegation?.token.chain;
  const { username, userId } = caller.principal;
  if (!tokenChain && username === undefined) return undefined;
  return {
    workspaceId: caller.loaded.catalog.workspaceId,
    ...(tokenChain ? { tokenChain: [...tokenChain] } : {}),
    ...(username !== undefined ? { username, userId } : {}),
  };
}

/**
 * The MCP endpoints of one server: each request authenticated first (its refusal answered here, mapped once), then
 * Streamable HTTP (`serve`, both eras) or the legacy HTTP+SSE transport (`openLegacyStream`, `postLegacyMessage`).
 */
export class McpEndpoints {
  private readonly deps: McpEndpointDeps;

  constructor(deps: McpEndpointDeps) {
    this.deps = deps;
  }

  /** The caller of an MCP request; undefined when the request was refused (and answered). */
  private async callerOf(req: Request, res: Response): Promise<Caller | undefined> {
    try {
      return await this.deps.authenticate(req);
    } catch (err) {
      if (answerRefusal(req, res, err)) return undefined;
      throw err;
    }
  }

  /** Streamable HTTP: `POST` (and any other method, refused by the MCP layer) on `/mcp/:serverId`. */
  async serve(req: Request, res: Response): Promise<void> {
    const caller = await this.callerOf(req, res);
    if (!caller) return;
    // A 2026-07-28 listen stream and a 2025-era session's GET stream (resource updates) stay open: they end with their
    // credential, like a legacy stream.
    const listen =
      req.method === 'POST' && (req.body as { method?: unknown } | undefined)?.method === 'subscriptions/listen';
    if (listen || req.method === 'GET') {
      if (!this.deps.streamsHeard()) return void unavailable(req, res, stateMessages.unreachable);
      const forget = this.deps.openStreams.add({
        serverId: caller.loaded.catalog.serverId,
        credential: caller.credential,
        principal: streamPrincipal(caller),
        end: () => res.destroy(),
      });
      res.once('close', forget);
    }
    await this.deps.mcp.handle(req, res, caller);
  }

  /** Legacy HTTP+SSE transport: GET opens the event stream, POSTs to …/messages feed it. */
  async openLegacyStream(req: Request, res: Response): Promise<void> {
    const caller = await this.callerOf(req, res);
    if (!caller) return;
    const { streamsHeard, legacySessions, openStreams } = this.deps;
    if (!streamsHeard()) return void unavailable(req, res, stateMessages.unreachable);
    const serverId = String(req.params.serverId);
    let gone = false;
    res.once('close', () => (gone = true));
    const session = await legacySessions.open(res, {
      serverId,
      owner: caller.clientId,
      messagesUrl: `/api/v1/mcp/${serverId}/messages`,
      server: buildServer(edgeCallContext(req, caller), this.deps.toolDeps, this.deps.serverOptions),
    });
    if (gone) return;
    const forget = openStreams.add({
      serverId,
      credential: caller.credential,
      principal: streamPrincipal(caller),
      end: () => void session.transport.close(),
    });
    res.once('close', forget);
  }

  async postLegacyMessage(req: Request, res: Response): Promise<void> {
    const caller = await this.callerOf(req, res);
    if (!caller) return;
    const session = this.deps.legacySessions.get(String(req.query.sessionId ?? ''));
    if (!session || session.serverId !== String(req.params.serverId) || session.owner !== caller.clientId) {
      return jsonRpcError(res, 404, { code: -32001, message: 'Unknown or expired session: open a new event stream.' });
    }
    res.status(202).end();
    // This POST's context (fresh catalog, its own Config-* headers) rides with the message.
    session.transport.deliver(req.body as JSONRPCMessage, toAuthInfo(edgeCallContext(req, caller)));
  }
}
