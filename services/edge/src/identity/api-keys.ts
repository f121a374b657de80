import { hash } from 'node:crypto';
import { ApiKeyRecord, redisKeys, type RedisKeys } from '@toolplane/contracts';
import type { RedisClient } from '@toolplane/redis';
import { LRUCache } from 'lru-cache';
import { readState, type RuntimeStateProbe } from '../state/runtime-state.ts';
import { TtlCache } from '../state/ttl-cache.ts';

export function hashApiKey(key: string): string {
  return hash('sha256', key, 'hex');
}

/**
 * The hashes of the API keys seen in the last minute or so, by key (cost per call: a SHA-256 per call was 2 % of the
 * edge's CPU). The raw key stays in memory no longer than this: two generations of at most `max` keys each, the older
 * dropped every `periodMs` (a key is gone at most `2 × periodMs` after its last use) or when
 * the newer one is full (a flood of made-up keys costs at most `2 × max` entries, then hashes as before). A key's hash
 * never changes, so nothing here can be stale: revocation and expiry are the record cache's (by hash), as before.
 * The timer runs only while a key is held. docs/security.md, "API keys in the edge's memory".
 */
export class RecentKeyHashes {
  private current = new Map<string, string>();
  private previous = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private readonly max: number;
  private readonly periodMs: number;

  constructor(max: number, periodMs: number) {
    this.max = max;
    this.periodMs = periodMs;
  }

  hash(key: string): string {
    const held = this.current.get(key);
    if (held !== undefined) return held;
    const hashed = this.previous.get(key) ?? hashApiKey(key);
    if (this.current.size >= this.max) this.rotate();
    this.current.set(key, hashed);
    this.timer ??= setInterval(() => this.rotate(), this.periodMs).unref();
    return hashed;
  }

  /** Keys held now (both generations). */
  get size(): number {
    return this.current.size + this.previous.size;
  }

  private rotate(): void {
    this.previous = this.current;
    this.current = new Map();
    if (this.previous.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

const recentKeys = new RecentKeyHashes(1_000, 30_000);

/** `hashApiKey` of a key seen recently, from memory (`RecentKeyHashes`: at most 2,000 keys, none kept past 60 s). */
export function keyHashOf(key: string): string {
  return recentKeys.hash(key);
}

/**
 * Authenticates `x-api-key` values against the key records the control plane publishes to Redis
 * (hashes only). Lookups are cached; a change published on the key channel drops the entry.
 */
export class ApiKeyCache {
  private readonly cache: TtlCache<ApiKeyRecord | null>;
  private readonly keys: RedisKeys;
  private readonly redis: RedisClient;
  /** Keys whose last use was written in the last minute (bounded like the caches). */
  private readonly lastWritten: LRUCache<string, true>;
  private readonly state: RuntimeStateProbe;

  constructor(
    redis: RedisClient,
    prefix: string,
    limits: { ttlMs: number; max: number; negativeTtlMs: number },
    state: RuntimeStateProbe,
  ) {
    this.redis = redis;
    this.state = state;
    // Unknown keys are cached too (negative entries: one Redis lookup per key and TTL), bounded by `max`.
    this.cache = new TtlCache({
      max: limits.max,
      ttlMs: limits.ttlMs,
      negative: { is: (r) => r === null, ttlMs: Math.min(limits.negativeTtlMs, limits.ttlMs) },
    });
    this.lastWritten = new LRUCache({ max: limits.max, ttl: 60_000 });
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
    if (this.lastWritten.has(keyId)) return;
    const now = Date.now();
    this.lastWritten.set(keyId, true);
    this.redis.hset(this.keys.apiKeyLastUsed, keyId, String(now)).catch(() => this.lastWritten.delete(keyId));
  }

  /**
   * The key's record, or null for an unknown or revoked key (cached like a record). An unknown key is
   * only "invalid" while the published state is complete; otherwise this throws `state.unavailable`
   * and nothing is cached, so keys work again as soon as the control plane has republished them.
   */
  authenticate(key: string): Promise<ApiKeyRecord | null> {
    return this.authenticateHash(keyHashOf(key));
  }

  /** `authenticate` of a key already hashed. */
  authenticateHash(hash: string): Promise<ApiKeyRecord | null> {
    return this.cache.get(hash, () => this.read(hash));
  }

  /**
   * The record Redis holds now for a key hash, past the cache (open streams check their key again when its
   * change is announced): null for an unknown or revoked key; throws `state.unavailable` as `authenticate`.
   */
  async read(hash: string): Promise<ApiKeyRecord | null> {
    const raw = await readState(() => this.redis.hget(this.keys.apiKeys, hash));
    if (!raw) {
      await this.state.assertComplete();
      return null;
    }
    const parsed = ApiKeyRecord.safeParse(JSON.parse(raw));
    return parsed.success && !parsed.data.revoked ? parsed.data : null;
  }
}
