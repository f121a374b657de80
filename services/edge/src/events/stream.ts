import {
  duplicateConnection,
  refreshSubscription,
  registerSubscription,
  removeSubscription,
  subscriberRefusal,
  waitForEntries,
} from '@toolplane/queue';
import type { RedisClient } from '@toolplane/redis';
import type { Caller } from '../identity/authenticate.ts';
import { MAX_EVENTS, occurrenceOnWire, readFrom, startSubscription, type Start } from './poll.ts';
import { nowOf, type EventRequest, type EventsDeps } from './subscriptions.ts';
import { forbidden, SUBSCRIPTION_ID_META, type StreamParams } from './wire.ts';

/** How a stream's handler talks to its client: the request's related notifications and its end. */
export interface StreamChannel {
  request: EventRequest;
  notify: (notification: { method: string; params: Record<string, unknown> }) => Promise<void>;
  /** Aborts when the client cancels or goes away. */
  signal: AbortSignal;
}

/**
 * `events/stream` (docs/events.md E16-E17): `notifications/events/active` first (with `truncated`), then what the
 * subscription's stream holds after the cursor, then each new entry as it is appended (a blocking read on a
 * connection of the stream's own), a heartbeat with the cursor whenever nothing came for `heartbeatMs` (which also
 * moves the subscription's idle limit on). Ends when the client goes away: the connection is closed at once; the
 * subscription stays until its idle limit, so a reconnect with the last cursor loses nothing. Ends too, after
 * `notifications/events/terminated`, when its event type was removed or its access revoked (checked each round).
 */
export async function streamEvents(
  deps: EventsDeps,
  caller: Caller,
  params: StreamParams,
  channel: StreamChannel,
): Promise<Record<string, unknown>> {
  const start = await startSubscription(deps, caller, params, { delivery: 'push', request: channel.request });
  const meta = { [SUBSCRIPTION_ID_META]: channel.request.id };
  const send = (method: string, p: Record<string, unknown>) =>
    channel.notify({ method: `notifications/events/${method}`, params: { ...p, _meta: meta } });
  const first = start.fresh ? undefined : await readFrom(deps, start, { count: MAX_EVENTS, maxAgeMs: params.maxAgeMs });
  await send('active', { cursor: start.cursor, truncated: start.truncated || (first?.truncated ?? false) });
  let cursor = start.cursor;
  if (first) cursor = await deliver(first.entries, send, cursor);
  const blocking: RedisClient = duplicateConnection(deps.redis, { connectionName: 'edge-events-stream' });
  blocking.on('error', () => undefined);
  const stop = () => blocking.disconnect();
  channel.signal.addEventListener('abort', stop, { once: true });
  try {
    const stands = async () => !(await terminated(deps, caller, { name: params.name, start, send }));
    while (!channel.signal.aborted) {
      if (!(await stands())) break;
      const next = await nextRound(deps, { start, cursor, blocking, send, stands });
      if (next === undefined) break;
      cursor = next;
    }
  } catch (err) {
    if (!channel.signal.aborted) throw err;
  } finally {
    channel.signal.removeEventListener('abort', stop);
    stop();
  }
  return { resultType: 'complete', _meta: meta };
}

type Send = (method: string, p: Record<string, unknown>) => Promise<void>;

/**
 * Before each round, and again before what a round woke for is delivered: a stream whose event type left the server,
 * whose caller's policies no longer grant it, or whose subscriber's credential no longer holds (key deleted or
 * limited to other servers, narrowed token revoked, token expired, person gone: `subscriberRefusal`, from Redis as it
 * is now, or as it stood at an earlier round when nothing that may end it was announced since: `standings`, ADR 0103)
 * is told so (`notifications/events/terminated {error}`: `NotFound` / `Forbidden`) and ends; a
 * refused subscriber's subscription is removed. A check that cannot be made (Redis unavailable) ends nothing and
 * delivers nothing: the next round checks again.
 */
async function terminated(
  deps: EventsDeps,
  caller: Caller,
  stream: { name: string; start: Start; send: Send },
): Promise<boolean> {
  const error = await standingError(deps, caller, stream).catch((err: unknown) => {
    deps.log.warn({ err }, 'events/stream: its standing could not be checked');
    return 'unknown' as const;
  });
  if (error === 'unknown') return false;
  if (!error) return false;
  await stream.send('terminated', {
    error: { code: error.code, message: error.message, ...(error.data !== undefined ? { data: error.data } : {}) },
  });
  deps.log.debug({ name: stream.name, code: error.code }, 'events/stream terminated');
  return true;
}

/** Why the stream may not go on (its type, its grant, its subscriber's credential), if so. */
async function standingError(deps: EventsDeps, caller: Caller, stream: { name: string; start: Start }) {
  const { sub } = stream.start;
  const now = nowOf(deps);
  const refused = deps.standings
    ? await deps.standings.refusal(deps.redis, deps.prefix, sub, now)
    : await subscriberRefusal(deps.redis, deps.prefix, sub, now);
  if (refused !== undefined) {
    await removeSubscription(deps.redis, sub.instanceId, sub.id);
    return forbidden(`Access revoked: ${refused}.`);
  }
  return deps.standing ? deps.standing(caller, stream.name) : undefined;
}

async function deliver(
  entries: { cursor: string; occurrence: Parameters<typeof occurrenceOnWire>[0] }[],
  send: Send,
  cursor: string,
): Promise<string> {
  let at = cursor;
  for (const e of entries) {
    await send('event', { ...occurrenceOnWire(e.occurrence), cursor: e.cursor });
    at = e.cursor;
  }
  return at;
}

/**
 * One round: wait for an entry (at most a heartbeat's time), then deliver everything after the cursor (a trim past
 * it: a fresh `active` with `truncated: true` first), or a heartbeat. Returns the cursor after the round.
 */
async function nextRound(
  deps: EventsDeps,
  round: { start: Start; cursor: string; blocking: RedisClient; send: Send; stands: () => Promise<boolean> },
): Promise<string | undefined> {
  const { start, blocking, send } = round;
  const woke = await waitForEntries(blocking, start.sub, {
    cursor: round.cursor,
    blockMs: deps.settings.heartbeatMs,
    count: 1,
  });
  if (woke.raw.length === 0) {
    await keepAlive(deps, start);
    await send('heartbeat', { cursor: round.cursor });
    return round.cursor;
  }
  // What woke it is delivered only to a subscriber that still stands (judged now, not at the round's start).
  if (!(await round.stands())) return undefined;
  let cursor = round.cursor;
  for (;;) {
    const read = await readFrom(deps, { ...start, cursor }, { count: MAX_EVENTS });
    if (read.truncated) await send('active', { cursor, truncated: true });
    cursor = await deliver(read.entries, send, cursor);
    if (!read.hasMore) return cursor;
  }
}

/** Moves the subscription's idle limit on; registers it again if it lapsed or was removed meanwhile. */
async function keepAlive(deps: EventsDeps, start: Start): Promise<void> {
  const now = nowOf(deps);
  const expiresAt = now + deps.settings.idleTtlMs;
  if (await refreshSubscription(deps.redis, start.sub.instanceId, start.sub.id, { expiresAt, now })) return;
  const { maxSubscriptions: max, maxSubscriptionsPerCaller: perOwner } = deps.settings;
  await registerSubscription(deps.redis, { ...start.sub, expiresAt }, { max, perOwner, now });
}
