import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import {
  EventOccurrence,
  EventSubscription,
  subscriptionsKey,
  subscriptionStreamKey,
  type EventPrincipal,
} from '@toolplane/contracts';

/**
 * MCP Events subscriptions in Redis (ADR 0081, docs/events.md "Subscriptions in Redis"): one hash per connector
 * instance (`subscriptionsKey`, field = subscription id, value = its JSON), written by the edge and read by the
 * worker's fan-out, and one stream per subscription (`subscriptionStreamKey`): what it was given, appended by the
 * worker (`XADD … MAXLEN ~ n * occurrence <json>`), read here from a cursor (an entry id). Every key of one instance
 * shares the hash tag `{ev:<instanceId>}`, so a `MULTI` over them holds on a Redis Cluster too.
 */

type Client = Redis | Cluster;

/** The one field of a subscription stream's entry: the occurrence's JSON. */
export const OCCURRENCE_FIELD = 'occurrence';

/** The cursor of an empty stream: before every entry. */
const STREAM_START = '0-0';

/** What makes a subscription: the same parts make the same id (docs/events.md). */
export interface SubscriptionKeyParts {
  workspaceId: string;
  serverId: string;
  principal: EventPrincipal;
  name: string;
  arguments: Readonly<Record<string, unknown>>;
  delivery: EventSubscription['delivery'];
  callbackUrl?: string | undefined;
}

/** JSON with object keys sorted at every level (arguments compared by canonical-JSON equality). */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** `sub_` and 32 hex digits of SHA-256 over the subscription's key parts. */
export function subscriptionIdOf(p: SubscriptionKeyParts): string {
  const principal = [p.principal.keyId ?? null, p.principal.subject ?? null, p.principal.username ?? null];
  // A narrowed token's subscriptions are its own (ids made without one are unchanged).
  if (p.principal.tokenId !== undefined) principal.push(p.principal.tokenId);
  const parts = [p.workspaceId, p.serverId, principal, p.name, p.arguments, p.delivery, p.callbackUrl ?? null];
  return `sub_${createHash('sha256').update(canonicalJson(parts)).digest('hex').slice(0, 32)}`;
}

/** A stream entry id (`<ms>-<seq>`), the only cursor form there is. */
export const CURSOR_PATTERN = /^\d{1,20}-\d{1,20}$/;

/** Compares two entry ids as Redis orders them. */
function compareEntryIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1;
}

export async function readSubscription(
  redis: Client,
  instanceId: string,
  id: string,
): Promise<EventSubscription | undefined> {
  const raw = await redis.hget(subscriptionsKey(instanceId), id);
  if (raw === null) return undefined;
  const parsed = EventSubscription.safeParse(JSON.parse(raw));
  return parsed.success ? parsed.data : undefined;
}

/** The outcome of a registration: whether it is new (a lapsed one counts as new), and the one it replaced. */
export interface Registration {
  created: boolean;
  previous?: EventSubscription | undefined;
}

/**
 * Raised when an instance already has its most subscriptions, or the caller its most of the instance's (`scope`:
 * `caller`); `ResourceExhausted` on the wire.
 */
export class SubscriptionLimitError extends Error {
  readonly max: number;
  readonly scope: 'instance' | 'caller';
  constructor(max: number, scope: 'instance' | 'caller' = 'instance') {
    super(
      scope === 'caller'
        ? `You already have your most subscriptions to this event source (${max}); unsubscribe, or let one lapse, first.`
        : `This event source already has its most subscriptions (${max}).`,
    );
    this.max = max;
    this.scope = scope;
  }
}

/**
 * Registers a subscription, or refreshes it (same id: its fields replaced, `createdAt` kept). A new one first sweeps
 * the instance's expired subscriptions (and their streams) and is refused past `max`, or when its `owner` already has
 * `perOwner` live ones of the instance (one caller cannot take the instance's share from everyone). A
 * lapsed subscription (expired but not yet swept) is registered anew with an empty stream: what it was given before
 * its lapse is gone.
 */
export async function registerSubscription(
  redis: Client,
  sub: EventSubscription,
  opts: { max: number; perOwner?: number | undefined; now: number },
): Promise<Registration> {
  const previous = await readSubscription(redis, sub.instanceId, sub.id);
  const live = previous !== undefined && previous.expiresAt > opts.now;
  if (!live) {
    const others = await sweepExpired(redis, sub.instanceId, opts.now);
    if (others.length >= opts.max) throw new SubscriptionLimitError(opts.max);
    const owned = sub.owner === undefined ? 0 : others.filter((o) => o.owner === sub.owner).length;
    if (opts.perOwner !== undefined && owned >= opts.perOwner)
      throw new SubscriptionLimitError(opts.perOwner, 'caller');
  }
  const stored: EventSubscription = live ? { ...sub, createdAt: previous.createdAt } : sub;
  await redis.hset(subscriptionsKey(sub.instanceId), sub.id, JSON.stringify(stored));
  return { created: !live, previous };
}

/** Moves a live subscription's `expiresAt` on; false when it is gone or lapsed (the caller registers it again). */
export async function refreshSubscription(
  redis: Client,
  instanceId: string,
  id: string,
  opts: { expiresAt: number; now: number },
): Promise<boolean> {
  const sub = await readSubscription(redis, instanceId, id);
  if (!sub || sub.expiresAt <= opts.now) return false;
  await redis.hset(subscriptionsKey(instanceId), id, JSON.stringify({ ...sub, expiresAt: opts.expiresAt }));
  return true;
}

/** Removes a subscription and its stream; false when there was none. */
export async function removeSubscription(redis: Client, instanceId: string, id: string): Promise<boolean> {
  const [[, removed]] = (await redis
    .multi()
    .hdel(subscriptionsKey(instanceId), id)
    .del(subscriptionStreamKey(instanceId, id))
    .exec()) as [[Error | null, number], [Error | null, number]];
  return removed === 1;
}

/** Drops an instance's expired subscriptions and their streams; returns the live ones. */
async function sweepExpired(redis: Client, instanceId: string, now: number): Promise<EventSubscription[]> {
  const all = await redis.hgetall(subscriptionsKey(instanceId));
  const live: EventSubscription[] = [];
  for (const [id, raw] of Object.entries(all)) {
    const parsed = EventSubscription.safeParse(safeJson(raw));
    if (parsed.success && parsed.data.expiresAt > now) live.push(parsed.data);
    else await removeSubscription(redis, instanceId, id);
  }
  return live;
}

const safeJson = (raw: string): unknown => {
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
};

/** The id of a stream's last entry (`0-0` for an empty or absent stream): "now", as a cursor. */
export async function streamTail(redis: Client, instanceId: string, id: string): Promise<string> {
  const last = (await redis.xrevrange(subscriptionStreamKey(instanceId, id), '+', '-', 'COUNT', 1)) as [
    string,
    string[],
  ][];
  return last[0]?.[0] ?? STREAM_START;
}

/** One entry of a subscription's stream: its id (the cursor after it) and the occurrence. */
interface StreamEntry {
  cursor: string;
  occurrence: EventOccurrence;
}

/** A read of a subscription's stream from a cursor. */
export interface StreamRead {
  entries: StreamEntry[];
  /** The cursor after the last entry read (the given cursor when none). */
  cursor: string;
  /** Entries after the cursor were dropped (retention, `minId`): the read starts later than asked. */
  truncated: boolean;
  /** More entries follow the ones read. */
  hasMore: boolean;
}

/**
 * Reads up to `count` entries after `cursor`. `minId` (a `maxAgeMs` floor as an entry id): entries before it are
 * skipped, and their existence sets `truncated`; so does a trim past the cursor (`XINFO STREAM`'s
 * `max-deleted-entry-id` at or after it). Entries that are not occurrences are skipped.
 */
export async function readStream(
  redis: Client,
  where: { instanceId: string; id: string },
  opts: { cursor: string; count: number; minId?: string | undefined },
): Promise<StreamRead> {
  const key = subscriptionStreamKey(where.instanceId, where.id);
  let truncated = await trimmedAfter(redis, key, opts.cursor);
  let start = `(${opts.cursor}`;
  if (opts.minId !== undefined && compareEntryIds(opts.minId, opts.cursor) > 0) {
    const skipped = await redis.xrange(key, `(${opts.cursor}`, `(${opts.minId}`, 'COUNT', 1);
    if (skipped.length > 0) truncated = true;
    start = opts.minId;
  }
  const raw = (await redis.xrange(key, start, '+', 'COUNT', opts.count + 1)) as [string, string[]][];
  const hasMore = raw.length > opts.count;
  const page = raw.slice(0, opts.count);
  return {
    entries: entriesOf(page),
    cursor: page.at(-1)?.[0] ?? opts.cursor,
    truncated,
    hasMore,
  };
}

/**
 * Whether entries after `cursor` were trimmed (or deleted) from the stream: something was removed (`entries-added` >
 * `length`) and the cursor is before the oldest entry left (all before it were removed), or an `XDEL` removed one
 * after it (`max-deleted-entry-id`). A cursor that is exactly the last trimmed entry reads as truncated too (the
 * counts cannot tell it): "a possible gap", as the specification words it.
 */
async function trimmedAfter(redis: Client, key: string, cursor: string): Promise<boolean> {
  let info: unknown[];
  try {
    info = (await redis.xinfo('STREAM', key)) as unknown[];
  } catch {
    return false; // no stream: nothing was given, nothing dropped
  }
  const field = (name: string): unknown => {
    const at = info.indexOf(name);
    return at >= 0 ? info[at + 1] : undefined;
  };
  const maxDeleted = String(field('max-deleted-entry-id') ?? STREAM_START);
  if (maxDeleted !== STREAM_START && compareEntryIds(maxDeleted, cursor) > 0) return true;
  if (Number(field('entries-added') ?? 0) <= Number(field('length') ?? 0)) return false;
  const first = field('first-entry') as [string, string[]] | null | undefined;
  const oldest = first ? first[0] : String(field('last-generated-id') ?? STREAM_START);
  return compareEntryIds(cursor, oldest) < 0;
}

/** Stream entries as occurrences (an entry without a valid `occurrence` field is skipped). */
function entriesOf(raw: readonly [string, string[]][]): StreamEntry[] {
  const out: StreamEntry[] = [];
  for (const [cursor, fields] of raw) {
    const at = fields.indexOf(OCCURRENCE_FIELD);
    if (at < 0 || at % 2 !== 0) continue;
    const parsed = EventOccurrence.safeParse(safeJson(fields[at + 1] ?? ''));
    if (parsed.success) out.push({ cursor, occurrence: parsed.data });
  }
  return out;
}

/**
 * Waits up to `blockMs` for entries after `cursor` (`XREAD BLOCK`), on a connection of the caller's own: a blocking
 * read holds its connection. Returns what arrived (possibly nothing).
 */
export async function waitForEntries(
  blocking: Client,
  where: { instanceId: string; id: string },
  opts: { cursor: string; blockMs: number; count: number },
): Promise<{ raw: [string, string[]][] }> {
  const key = subscriptionStreamKey(where.instanceId, where.id);
  const answer = (await blocking.xread('COUNT', opts.count, 'BLOCK', opts.blockMs, 'STREAMS', key, opts.cursor)) as
    [string, [string, string[]][]][] | null;
  return { raw: answer?.[0]?.[1] ?? [] };
}
