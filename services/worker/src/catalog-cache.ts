import { Catalog, redisKeys, type CatalogTool } from '@toolplane/contracts';
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';

/**
 * Execution plans by `(serverId, catalogVersion)`, loaded from Redis on first use (the versioned key,
 * so a call enqueued just before an update runs on the version it was validated against). Versions
 * are immutable, so entries never go stale; at most `maxEntries` versions are kept, the least
 * recently used evicted first (lru-cache, ADR 0014).
 */
export class PlanCache {
  private readonly byVersion: LRUCache<string, Map<string, CatalogTool>>;
  private readonly keys;

  private readonly redis: Redis;
  constructor(redis: Redis, prefix: string, maxEntries = 1000) {
    this.redis = redis;
    this.keys = redisKeys(prefix);
    this.byVersion = new LRUCache({ max: maxEntries });
  }

  async get(serverId: string, version: number, tool: string): Promise<CatalogTool | undefined> {
    const id = `${serverId}:${version}`;
    let tools = this.byVersion.get(id);
    if (!tools) {
      const raw = await this.redis.get(this.keys.catalogVersion(serverId, version));
      if (!raw) return undefined;
      const catalog = Catalog.parse(JSON.parse(raw));
      tools = new Map(catalog.tools.map((t) => [t.tool.name, t]));
      this.byVersion.set(id, tools);
    }
    return tools.get(tool);
  }
}
