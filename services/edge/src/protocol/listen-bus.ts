import { AsyncLocalStorage } from 'node:async_hooks';
import type { ServerEvent, ServerEventBus } from '@modelcontextprotocol/server';

/**
 * The change-event bus of the 2026-07-28 `subscriptions/listen` streams, scoped per MCP server: the
 * SDK's handler serves every server of this edge, and its own bus would tell every open stream about
 * any server's change. A listen request runs inside `scope(serverId, …)`; the stream the SDK opens
 * there subscribes under that server, and `publishTo(serverId, …)` reaches only its streams.
 * Only `subscriptions/listen` requests enter a scope: other calls pay nothing.
 */
export class ServerScopedEventBus implements ServerEventBus {
  private readonly current = new AsyncLocalStorage<string>();
  private readonly listeners = new Map<string, Set<(event: ServerEvent) => void>>();

  scope<T>(serverId: string, fn: () => T): T {
    return this.current.run(serverId, fn);
  }

  /** Unscoped publishing (the SDK's `notify` sugar) reaches every stream. */
  publish(event: ServerEvent): void {
    for (const set of this.listeners.values()) for (const l of [...set]) this.deliver(l, event);
  }

  publishTo(serverId: string, event: ServerEvent): number {
    const set = this.listeners.get(serverId);
    if (!set) return 0;
    for (const l of [...set]) this.deliver(l, event);
    return set.size;
  }

  subscribe(listener: (event: ServerEvent) => void): () => void {
    const serverId = this.current.getStore();
    // A stream opened outside a scope cannot be attributed to a server: it gets no events.
    if (serverId === undefined) return () => undefined;
    let set = this.listeners.get(serverId);
    if (!set) this.listeners.set(serverId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(serverId) === set) this.listeners.delete(serverId);
    };
  }

  /** Open streams (tests). */
  count(serverId: string): number {
    return this.listeners.get(serverId)?.size ?? 0;
  }

  private deliver(listener: (event: ServerEvent) => void, event: ServerEvent): void {
    try {
      listener(event);
    } catch {
      // One broken stream does not stop the others.
    }
  }
}
