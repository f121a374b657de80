import { randomUUID } from 'node:crypto';
import type { AuthInfo, JSONRPCMessage, MessageExtraInfo, Server, Transport } from '@modelcontextprotocol/server';
import type { Response } from 'express';

/**
 * The legacy HTTP+SSE transport (MCP 2024-11-05, seed 002 `GET /api/v1/mcp/{serverId}`): the client
 * opens an event stream, receives an `endpoint` event naming the URL to POST its JSON-RPC messages
 * to, and gets every response on the stream. Sessions live in this edge process (clients of this
 * transport need sticky routing; Streamable HTTP does not).
 */
class SseSessionTransport implements Transport {
  onclose?: (() => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  onmessage?: (<T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void) | undefined;
  readonly sessionId: string;
  private readonly res: Response;
  private readonly endpoint: string;
  private keepAlive: NodeJS.Timeout | undefined;

  constructor(res: Response, endpoint: string) {
    this.res = res;
    this.sessionId = randomUUID();
    this.endpoint = `${endpoint}?sessionId=${this.sessionId}`;
  }

  async start(): Promise<void> {
    this.res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
    });
    this.res.write(`event: endpoint\ndata: ${this.endpoint}\n\n`);
    this.keepAlive = setInterval(() => this.res.write(': keep-alive\n\n'), 15_000);
    this.res.on('close', () => void this.close());
  }

  async send(message: JSONRPCMessage): Promise<void> {
    this.res.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
  }

  /** `authInfo`: the POST's own authenticated context; handlers read it as `ctx.http.authInfo`. */
  deliver(message: JSONRPCMessage, authInfo?: AuthInfo): void {
    this.onmessage?.(message, authInfo ? { authInfo } : undefined);
  }

  async close(): Promise<void> {
    if (!this.keepAlive) return;
    clearInterval(this.keepAlive);
    this.keepAlive = undefined;
    this.res.end();
    this.onclose?.();
  }
}

export interface LegacySession {
  transport: SseSessionTransport;
  /** Who opened the stream: messages must come from the same credentials. */
  owner: string;
  serverId: string;
  server: Server;
}

export class LegacySseSessions {
  private readonly sessions = new Map<string, LegacySession>();

  /**
   * Opens the event stream on `res` for `server`, telling the client to POST its messages to `messagesUrl`; the
   * session's `transport.close()` ends it.
   */
  async open(
    res: Response,
    opened: { serverId: string; owner: string; messagesUrl: string; server: Server },
  ): Promise<LegacySession> {
    const { serverId, owner, server } = opened;
    const transport = new SseSessionTransport(res, opened.messagesUrl);
    const session = { transport, owner, serverId, server };
    this.sessions.set(transport.sessionId, session);
    transport.onclose = () => {
      this.sessions.delete(transport.sessionId);
      void server.close();
    };
    await server.connect(transport);
    return session;
  }

  get(sessionId: string): LegacySession | undefined {
    return this.sessions.get(sessionId);
  }

  /**
   * The server's catalog changed (a deployment, an update): every open stream of it gets
   * `notifications/tools/list_changed` (issue #4); the client's next tools/list reads the new catalog.
   */
  toolsChanged(serverId: string): number {
    let sent = 0;
    for (const s of this.sessions.values()) {
      if (s.serverId !== serverId) continue;
      void s.server.sendToolListChanged().catch(() => undefined);
      sent++;
    }
    return sent;
  }

  get size(): number {
    return this.sessions.size;
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.sessions.values()].map((s) => s.transport.close()));
  }
}
