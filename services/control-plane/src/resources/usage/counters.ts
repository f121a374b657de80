import { quotaCounterKey, quotaPeriod, type QuotaWindow } from '@toolplane/contracts';
import { TransientError } from '@toolplane/errors';
import { nodeHolding } from '@toolplane/queue';
import type { RedisClient } from '@toolplane/redis';

/** The most counters one answer lists (a `per` quota has one per key, person or subject that called). */
export const QUOTA_COUNTERS_MAX = 1000;

/** A quota as its usage is read: what the edges count it under (ADR 0048). */
export interface MeteredQuota {
  id: string;
  workspaceId: string;
  counts: string;
  limit: number;
  window: string | null;
  timeZone: string | null;
  per: string | null;
}

/** `*`, `?`, `[`, `]` and `\` stand for themselves in a `SCAN … MATCH` pattern. */
const literal = (text: string) => text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);

/** A `per` counter's caller, from its key's last part (`p:alice`); null for callers without one (`p`, no colon). */
const perValueOf = (part: string) => (part[1] === ':' ? part.slice(2) : null);

/**
 * The keys of a `per` quota's counters in one window: `SCAN` on the node that holds the workspace's hash-tag slot (all
 * of a workspace's counters are there, also on a Redis Cluster), up to `max`.
 */
async function perCounterKeys(redis: RedisClient, stem: string, max: number): Promise<string[]> {
  const node = nodeHolding(redis, stem);
  const pattern = `${literal(stem)}*`;
  if (!node)
    throw new TransientError('state.unavailable', 'the Redis node holding the quota counters is not known yet');
  const keys = new Set<string>();
  let cursor = '0';
  do {
    const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    for (const k of batch) keys.add(k);
  } while (cursor !== '0' && keys.size < max);
  return [...keys];
}

/**
 * How much of a quota is used and left in its current window (calls in flight: now), read from the counters the edges
 * charge in Redis: one counter, or one per `per` value (the busiest first, at most `QUOTA_COUNTERS_MAX`).
 */
export async function quotaUsage(redis: RedisClient, prefix: string, q: MeteredQuota, now = Date.now()) {
  const period = q.window ? quotaPeriod(q.window as QuotaWindow, q.timeZone ?? 'UTC', now) : undefined;
  const key = (per: string) =>
    quotaCounterKey(prefix, q.workspaceId, { quotaId: q.id, period: period?.id ?? 'now', per });
  const counter = (used: number) => ({ used, left: Math.max(0, q.limit - used) });
  const window = period ? { id: period.id, resetsAt: new Date(period.endsAt).toISOString() } : null;
  const head = { quotaId: q.id, counts: q.counts, limit: q.limit, per: q.per, window };
  if (!q.per) return { ...head, counters: [counter(Number((await redis.get(key('*'))) ?? 0))], truncated: false };
  const stem = key('');
  const keys = await perCounterKeys(redis, stem, QUOTA_COUNTERS_MAX + 1);
  const truncated = keys.length > QUOTA_COUNTERS_MAX;
  const listed = keys.slice(0, QUOTA_COUNTERS_MAX);
  // One slot (the workspace's hash tag): one MGET reads them all, also on a cluster. A key gone since (its window
  // ended) is left out.
  const values = listed.length > 0 ? await redis.mget(...listed) : [];
  const counters = listed
    .flatMap((k, i) =>
      values[i] === null ? [] : [{ value: perValueOf(k.slice(stem.length)), ...counter(Number(values[i])) }],
    )
    .sort((a, b) => b.used - a.used || String(a.value).localeCompare(String(b.value)));
  return { ...head, counters, truncated };
}
