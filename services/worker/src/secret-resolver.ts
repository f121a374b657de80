import type { SecretsReader } from '@toolplane/secrets';
import { LRUCache } from 'lru-cache';

/**
 * Resolves secret names to values with a short in-memory TTL cache of at most `max` names (least
 * recently used evicted; per-user secrets make the set of names grow with users). Values never
 * leave the worker.
 */
export class SecretResolver {
  private readonly cache: LRUCache<string, { value: string | undefined; expires: number }>;

  private readonly reader: SecretsReader;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(reader: SecretsReader, ttlMs: number, now: () => number = Date.now, max = 10_000) {
    this.cache = new LRUCache({ max });
    this.reader = reader;
    this.ttlMs = ttlMs;
    this.now = now;
  }

  /** Drops cached values whose names start with `prefix` (all of them when undefined). */
  invalidate(prefix: string | undefined): void {
    if (prefix === undefined) return this.cache.clear();
    for (const name of [...this.cache.keys()]) if (name.startsWith(prefix)) this.cache.delete(name);
  }

  /**
   * `fresh`: read the store, never the cache (a call with a user-specific credential gets a
   * credential context built for that request). The value read still refreshes the cache entry.
   */
  async resolve(name: string, opts: { fresh?: boolean } = {}): Promise<string | undefined> {
    const hit = opts.fresh ? undefined : this.cache.get(name);
    const t = this.now();
    if (hit && hit.expires > t) return hit.value;
    const value = await this.reader.get(name);
    if (this.ttlMs > 0) this.cache.set(name, { value, expires: t + this.ttlMs });
    return value;
  }
}
