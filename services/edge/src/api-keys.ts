import { createHash } from 'node:crypto';
import { ApiKeyRecord, redisKeys, type RedisKeys } from '@toolplane/contracts';
import type { Redis } from 'ioredis';
import { TtlCache } from './ttl-cache.ts';

function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/**
 * Authenticates `x-api-key` values against the key records the control plane publishes to Redis
 * (hashes only). Lookups are cached; a change published on the key channel drops the entry.
 */
export class ApiKeyCache {
  private readonly cache: TtlCache<ApiKeyRecord | null>;
  private readonly keys: RedisKeys;
  private readonly redis: Redis;
  private readonly lastWritten = new Map<string, number>();

  constructor(redis: Redis, prefix: string, ttlMs: number) {
    this.redis = redis;
    this.cache = new TtlCache(ttlMs);
    this.keys = redisKeys(prefix);
  }

  invalidate(hash: string | undefined): void {
    this.cache.invalidate(hash);
  }

  /**
   * Records the key's last use for `GET /api_keys`: one HSET per key and edge process per minute at
   * most (fire and forget; last use is informative, never worth a failed call).
   */
  touch(keyId: string): void {
    const now = Date.now();
    if ((this.lastWritten.get(keyId) ?? 0) > now - 60_000) return;
    if (this.lastWritten.size > 100_000) this.lastWritten.clear();
    this.lastWritten.set(keyId, now);
    this.redis.hset(this.keys.apiKeyLastUsed, keyId, String(now)).catch(() => this.lastWritten.delete(keyId));
  }

  authenticate(key: string): Promise<ApiKeyRecord | null> {
    const hash = hashApiKey(key);
    return this.cache.get(hash, async () => {
      const raw = await this.redis.hget(this.keys.apiKeys, hash);
      if (!raw) return null;
      const parsed = ApiKeyRecord.safeParse(JSON.parse(raw));
      return parsed.success && !parsed.data.revoked ? parsed.data : null;
    });
  }
}
