import { createHash } from 'node:crypto';
import { ApiKeyRecord, redisKeys, type RedisKeys } from '@toolplane/contracts';
import type { Redis } from 'ioredis';

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/**
 * Authenticates `x-api-key` values against the key records the control plane publishes to Redis
 * (hashes only). Lookups are cached; a change published on the key channel drops the entry.
 */
export class ApiKeyCache {
  private readonly cache = new Map<string, { record: ApiKeyRecord | null; expires: number }>();
  private readonly keys: RedisKeys;

  private readonly redis: Redis;
  private readonly ttlMs: number;
  constructor(redis: Redis, prefix: string, ttlMs: number) {
    this.redis = redis;
    this.ttlMs = ttlMs;
    this.keys = redisKeys(prefix);
  }

  invalidate(hash: string | undefined): void {
    if (hash) this.cache.delete(hash);
    else this.cache.clear();
  }

  private readonly lastWritten = new Map<string, number>();

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

  async authenticate(key: string): Promise<ApiKeyRecord | null> {
    const hash = hashApiKey(key);
    const hit = this.cache.get(hash);
    const now = Date.now();
    if (hit && hit.expires > now) return hit.record;
    const raw = await this.redis.hget(this.keys.apiKeys, hash);
    let record: ApiKeyRecord | null = null;
    if (raw) {
      const parsed = ApiKeyRecord.safeParse(JSON.parse(raw));
      if (parsed.success && !parsed.data.revoked) record = parsed.data;
    }
    this.cache.set(hash, { record, expires: now + this.ttlMs });
    return record;
  }
}
