import type { Server, ServerCapabilities, ServerContext } from '@modelcontextprotocol/server';
import type { EdgeCallContext } from '../calls/call-context.ts';
import type { LoadedCatalog } from '../state/catalogs.ts';
import { eventTypesOf, grantsEvent, hasEvents } from './event-types.ts';
import { pollEvents } from './poll.ts';
import { streamEvents } from './stream.ts';
import { subscriptionOwner, type EventRequest, type EventsDeps } from './subscriptions.ts';
import { subscribeWebhook, unsubscribeWebhook } from './webhook.ts';
import {
  EVENTS_CAPABILITIES,
  ListParams,
  PollParams,
  StreamParams,
  SubscribeParams,
  UnsubscribeParams,
} from './wire.ts';

/**
 * MCP Events on a server of the edge (ADR 0081, docs/events.md): declared and served only where the catalog has event
 * types (elsewhere `events/*` is the SDK's "Method not found").
 */

/** The capabilities with the extension's added where the catalog has event types (`extensions` merged). */
export function withEventCapabilities(
  caps: Partial<ServerCapabilities> & { extensions?: Record<string, unknown> },
  loaded: LoadedCatalog,
): Partial<ServerCapabilities> {
  if (!hasEvents(loaded)) return caps;
  return {
    ...caps,
    events: EVENTS_CAPABILITIES.events,
    extensions: { ...caps.extensions, ...EVENTS_CAPABILITIES.extensions },
  } as Partial<ServerCapabilities>;
}

/** `events/list`: the event types the caller's policies grant (one page). */
function listEvents(loaded: LoadedCatalog): Record<string, unknown> {
  const events = [...eventTypesOf(loaded).values()]
    .filter((t) => grantsEvent(loaded, t.entry.event.name))
    .map(({ entry: { event } }) => ({
      name: event.name,
      ...(event.title !== undefined ? { title: event.title } : {}),
      ...(event.description !== undefined ? { description: event.description } : {}),
      delivery: event.delivery,
      inputSchema: event.inputSchema,
      payloadSchema: event.payloadSchema ?? { type: 'object' },
    }));
  return { resultType: 'complete', events };
}

/**
 * Registers the methods on a request's server (`current`: the request's context; `connection`: a 2025-era HTTP
 * connection's signal, which the SDK's does not follow).
 */
export function registerEvents(
  server: Server,
  loaded: LoadedCatalog,
  opts: {
    deps: EventsDeps | undefined;
    current: (ctx: ServerContext) => EdgeCallContext;
    connection?: AbortSignal | undefined;
  },
): void {
  const { deps, current, connection } = opts;
  if (!deps || !hasEvents(loaded)) return;
  const caller = (ctx: ServerContext) => current(ctx).caller;
  const request = (ctx: ServerContext): EventRequest => {
    const c = current(ctx);
    return { id: ctx.mcpReq.id, owner: subscriptionOwner(c.caller, c.source.ip) };
  };
  server.setRequestHandler('events/list', { params: ListParams }, (_params, ctx) => listEvents(caller(ctx).loaded));
  server.setRequestHandler('events/poll', { params: PollParams }, (params, ctx) =>
    pollEvents(deps, caller(ctx), params, request(ctx)),
  );
  server.setRequestHandler('events/stream', { params: StreamParams }, (params, ctx) =>
    streamEvents(deps, caller(ctx), params, {
      request: request(ctx),
      notify: (n) => ctx.mcpReq.notify(n as Parameters<typeof ctx.mcpReq.notify>[0]),
      // 2026-07-28: the SDK's signal follows the request's stream; 2025: the edge's connection signal (its close, or a
      // notifications/cancelled naming the request).
      signal: connection ? AbortSignal.any([ctx.mcpReq.signal, connection]) : ctx.mcpReq.signal,
    }),
  );
  server.setRequestHandler('events/subscribe', { params: SubscribeParams }, (params, ctx) =>
    subscribeWebhook(deps, caller(ctx), params, request(ctx)),
  );
  server.setRequestHandler('events/unsubscribe', { params: UnsubscribeParams }, (params, ctx) =>
    unsubscribeWebhook(deps, caller(ctx), params, ctx.mcpReq.id),
  );
}
