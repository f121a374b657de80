import type { Response } from 'express';
import type { Logger } from '@toolplane/logger';
import type { Caller } from '../identity/authenticate.ts';
import { subscribableOwner } from './mcp-features.ts';
import { RESOURCE_WISH_MS, type ResourceSubscriptions } from './protocol-state.ts';

/** One open stream that carries resource updates: a 2025-era session's GET stream, or a 2026-07-28 listen stream. */
interface OpenStream {
  serverId: string;
  /** 2025-era sessions only: the session's scope (its subscriptions are kept in Redis). */
  scope?: string;
  timer: NodeJS.Timeout;
}

/**
 * The edge's side of resource subscriptions (ADR 0041): while a subscriber's stream is open here, the resources it
 * subscribed to are wanted (renewed in `resourceWatches`, where a worker watches them); an update a worker publishes
 * reaches the 2025-era session streams subscribed to it (2026-07-28 listen streams get it through the SDK's listen
 * router, which filters by each stream's `resourceSubscriptions`).
 */
export class ResourceStreams {
  private readonly open = new Map<Response, OpenStream>();
  private readonly subscriptions: ResourceSubscriptions;
  private readonly log: Logger;

  constructor(subscriptions: ResourceSubscriptions, log: Logger) {
    this.subscriptions = subscriptions;
    this.log = log;
  }

  /**
   * A 2025-era session's GET stream (`text/event-stream`): held open for server-initiated notifications, its
   * subscriptions renewed while it is.
   */
  session(res: Response, caller: Caller, scope: string): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.flushHeaders();
    const renew = async () => {
      const uris = await this.subscriptions.subscribed(scope);
      await this.want(caller, uris);
    };
    this.track(res, caller.loaded.catalog.serverId, renew, scope);
  }

  /** A 2026-07-28 listen stream asking for `uris`: wanted while it is open. */
  listen(res: Response, caller: Caller, uris: readonly string[]): void {
    if (uris.length === 0) return;
    this.track(res, caller.loaded.catalog.serverId, () => this.want(caller, uris));
  }

  /** An update of `uri` at an attached server of `serverId`: written to the session streams subscribed to it. */
  async updated(serverId: string, uri: string): Promise<number> {
    let sent = 0;
    const data = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri } });
    for (const [res, s] of this.open) {
      if (s.serverId !== serverId || !s.scope || !(await this.subscriptions.isSubscribed(s.scope, uri))) continue;
      res.write(`event: message\ndata: ${data}\n\n`);
      sent++;
    }
    return sent;
  }

  /** Ends every stream (graceful stop: they never finish on their own). */
  close(): void {
    for (const res of this.open.keys()) res.destroy();
    this.open.clear();
  }

  private track(res: Response, serverId: string, renew: () => Promise<void>, scope?: string): void {
    const run = () =>
      void renew().catch((err: unknown) => this.log.warn({ err }, 'resource subscriptions not renewed'));
    run();
    const timer = setInterval(run, RESOURCE_WISH_MS / 3);
    timer.unref();
    this.open.set(res, { serverId, timer, ...(scope ? { scope } : {}) });
    res.once('close', () => {
      clearInterval(timer);
      this.open.delete(res);
    });
  }

  private want(caller: Caller, uris: readonly string[]): Promise<void> {
    const targets = uris.flatMap((uri) => {
      const server = subscribableOwner(caller.loaded, uri);
      return server ? [{ server, uri }] : [];
    });
    return this.subscriptions.want(caller.loaded.catalog.serverId, targets);
  }
}
