import { LRUCache } from 'lru-cache';

export interface TtlCacheOptions<V> {
  /** Most entries kept; past it the least recently used entry is evicted. */
  max: number;
  /** How long an entry is served; undefined: until evicted or invalidated; 0: nothing is cached. */
  ttlMs?: number | undefined;
  /**
   * "Not found" answers (negative entries) are kept this much shorter, so that a flood of unknown
   * ids or keys ages out quickly and cannot crowd out real entries for long.
   */
  negative?: { is: (value: V) => boolean; ttlMs: number } | undefined;
}

/** Expired entries are swept after this many insertions (lru-cache only drops them when read or evicted). */
const SWEEP_EVERY = 1000;

/**
 * Values loaded from Redis and kept for a bounded time and count (lru-cache: ADR 0014), dropped
 * early when the control plane says they changed (API keys, access policies, catalogs). Concurrent
 * misses share one load; a failed load is not kept.
 */
export class TtlCache<V> {
  private readonly entries: LRUCache<string, Promise<V>>;
  private readonly ttlMs: number | undefined;
  private readonly negative: TtlCacheOptions<V>['negative'];
  private inserts = 0;

  constructor(opts: TtlCacheOptions<V>) {
    this.ttlMs = opts.ttlMs;
    this.negative = opts.negative;
    this.entries = new LRUCache<string, Promise<V>>({
      max: opts.max,
      ...(opts.ttlMs ? { ttl: opts.ttlMs } : {}),
    });
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string, load: () => Promise<V>): Promise<V> {
    if (this.ttlMs === 0) return load();
    const hit = this.entries.get(key);
    if (hit) return hit;
    const value = load();
    this.entries.set(key, value);
    if (++this.inserts % SWEEP_EVERY === 0) this.entries.purgeStale();
    value.then(
      (v) => {
        if (!this.negative?.is(v) || this.entries.peek(key) !== value) return;
        if (this.negative.ttlMs > 0) this.entries.set(key, value, { ttl: this.negative.ttlMs });
        else this.entries.delete(key);
      },
      () => {
        if (this.entries.peek(key) === value) this.entries.delete(key);
      },
    );
    return value;
  }

  /** Drops one entry, or every entry when `key` is undefined (after a missed invalidation). */
  invalidate(key: string | undefined): void {
    if (key === undefined) this.entries.clear();
    else this.entries.delete(key);
  }
}
