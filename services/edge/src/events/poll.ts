import { CURSOR_PATTERN, readStream, refreshSubscription, type StreamRead } from '@toolplane/queue';
import type { EventOccurrence, EventSubscription } from '@toolplane/contracts';
import type { Caller } from '../identity/authenticate.ts';
import { resolveEventType } from './event-types.ts';
import { nowOf, storeSubscription, subscriptionOf, type EventRequest, type EventsDeps } from './subscriptions.ts';
import { invalidParams, type PollParams, type StreamParams } from './wire.ts';

/** The default and the most events one poll answers with. */
const DEFAULT_MAX_EVENTS = 50;
export const MAX_EVENTS = 100;

/** An occurrence as the wire carries it (poll: without a cursor; push and webhook add theirs). */
export function occurrenceOnWire(o: EventOccurrence): Record<string, unknown> {
  const data = o.data !== null && typeof o.data === 'object' && !Array.isArray(o.data) ? o.data : { value: o.data };
  return { eventId: o.eventId, name: o.name, timestamp: o.timestamp, data };
}

/** Where a poll or a stream starts: its subscription, the cursor, and whether events before it were lost. */
export interface Start {
  sub: EventSubscription;
  cursor: string;
  /** The subscription was just registered (or again, after a lapse): nothing to read yet. */
  fresh: boolean;
  truncated: boolean;
}

/**
 * Registers or refreshes the caller's poll or push subscription. A `null` (or absent) cursor starts from now (the
 * stream's tail); a cursor of a subscription that lapsed meanwhile starts from now too, with `truncated: true`
 * (nothing was collected while it was gone).
 */
export async function startSubscription(
  deps: EventsDeps,
  caller: Caller,
  params: PollParams | StreamParams,
  opts: { delivery: 'poll' | 'push'; request: EventRequest },
): Promise<Start> {
  const args = params.arguments ?? {};
  const cursor = params.cursor ?? null;
  if (cursor !== null && !CURSOR_PATTERN.test(cursor)) throw invalidParams('Unknown cursor: not one of this server.');
  const type = resolveEventType(
    caller,
    { name: params.name, arguments: args, delivery: opts.delivery },
    { sink: deps.audit, requestId: opts.request.id },
  );
  const now = nowOf(deps);
  const expiresAt = now + deps.settings.idleTtlMs;
  const { owner } = opts.request;
  const sub = subscriptionOf(caller, type, { arguments: args, delivery: opts.delivery, expiresAt, now, owner });
  const live = cursor !== null && (await refreshSubscription(deps.redis, sub.instanceId, sub.id, { expiresAt, now }));
  if (live) return { sub, cursor, fresh: false, truncated: false };
  const { tail } = await storeSubscription(deps, caller, sub, opts.request.id);
  return { sub, cursor: tail, fresh: true, truncated: cursor !== null };
}

/** Reads a started subscription's stream from its cursor (`maxAgeMs`: entries older than that are skipped). */
export function readFrom(
  deps: EventsDeps,
  start: Start,
  opts: { count: number; maxAgeMs?: number | null | undefined },
): Promise<StreamRead> {
  const minId = opts.maxAgeMs != null ? `${Math.max(0, nowOf(deps) - opts.maxAgeMs)}-0` : undefined;
  return readStream(deps.redis, start.sub, { cursor: start.cursor, count: opts.count, minId });
}

/** `events/poll` (docs/events.md E3-E6): the first poll registers and answers no events and a cursor. */
export async function pollEvents(
  deps: EventsDeps,
  caller: Caller,
  params: PollParams,
  request: EventRequest,
): Promise<Record<string, unknown>> {
  const start = await startSubscription(deps, caller, params, { delivery: 'poll', request });
  const nextPollMs = deps.settings.nextPollMs;
  if (start.fresh)
    return {
      resultType: 'complete',
      events: [],
      cursor: start.cursor,
      truncated: start.truncated,
      hasMore: false,
      nextPollMs,
    };
  const count = Math.min(params.maxEvents ?? DEFAULT_MAX_EVENTS, MAX_EVENTS);
  const read = await readFrom(deps, start, { count, maxAgeMs: params.maxAgeMs });
  return {
    resultType: 'complete',
    events: read.entries.map((e) => occurrenceOnWire(e.occurrence)),
    cursor: read.cursor,
    truncated: read.truncated,
    hasMore: read.hasMore,
    nextPollMs,
  };
}
