/**
 * Values loaded from Redis and kept for a short time, dropped early when the control plane says
 * they changed (API keys, access policies). Concurrent misses share one load; a failed load is not
 * kept.
 */
export class TtlCache<V> {
  private readonly entries = new Map<string, { value: Promise<V>; expires: number }>();
  private readonly ttlMs: number;

  constructor(ttlMs: number) {
    this.ttlMs = ttlMs;
  }

  get(key: string, load: () => Promise<V>): Promise<V> {
    const now = Date.now();
    const hit = this.entries.get(key);
    if (hit && hit.expires > now) return hit.value;
    const value = load();
    this.entries.set(key, { value, expires: now + this.ttlMs });
    value.catch(() => {
      if (this.entries.get(key)?.value === value) this.entries.delete(key);
    });
    return value;
  }

  /** Drops one entry, or every entry when `key` is undefined (after a missed invalidation). */
  invalidate(key: string | undefined): void {
    if (key === undefined) this.entries.clear();
    else this.entries.delete(key);
  }
}
