import { Catalog, redisKeys, type CatalogTool } from '@toolplane/contracts';
import type { Redis } from 'ioredis';

/**
 * Execution plans by `(serverId, catalogVersion)`, loaded from Redis on first use (the versioned key,
 * so a call enqueued just before an update runs on the version it was validated against). Versions
 * are immutable, so entries never go stale; a few recent versions are kept per server.
 */
export class PlanCache {
  private readonly byVersion = new Map<string, Map<string, CatalogTool>>();
  private static readonly maxEntries = 1000;
  private readonly keys;

  private readonly redis: Redis;
  constructor(redis: Redis, prefix: string) {
    this.redis = redis;
    this.keys = redisKeys(prefix);
  }

  async get(serverId: string, version: number, tool: string): Promise<CatalogTool | undefined> {
    const id = `${serverId}:${version}`;
    let tools = this.byVersion.get(id);
    if (!tools) {
      const raw = await this.redis.get(this.keys.catalogVersion(serverId, version));
      if (!raw) return undefined;
      const catalog = Catalog.parse(JSON.parse(raw));
      tools = new Map(catalog.tools.map((t) => [t.tool.name, t]));
      if (this.byVersion.size >= PlanCache.maxEntries) this.byVersion.delete(this.byVersion.keys().next().value!);
      this.byVersion.set(id, tools);
    }
    return tools.get(tool);
  }
}
