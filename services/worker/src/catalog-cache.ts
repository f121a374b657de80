import { Catalog, redisKeys, type CatalogTool } from '@toolplane/contracts';
import type { Redis } from 'ioredis';

/**
 * Execution plans by `(serverId, catalogVersion)`, loaded from Redis on first use. Catalog versions
 * are immutable, so an entry never goes stale; old versions are dropped when a newer one is loaded.
 */
export class PlanCache {
  private readonly byServer = new Map<string, { version: number; tools: Map<string, CatalogTool> }>();
  private readonly keys;

  private readonly redis: Redis;
  constructor(redis: Redis, prefix: string) {
    this.redis = redis;
    this.keys = redisKeys(prefix);
  }

  async get(serverId: string, version: number, tool: string): Promise<CatalogTool | undefined> {
    let entry = this.byServer.get(serverId);
    if (!entry || entry.version !== version) {
      const raw = await this.redis.get(this.keys.catalog(serverId));
      if (!raw) return undefined;
      const catalog = Catalog.parse(JSON.parse(raw));
      if (catalog.version !== version) return undefined;
      entry = { version: catalog.version, tools: new Map(catalog.tools.map((t) => [t.tool.name, t])) };
      this.byServer.set(serverId, entry);
    }
    return entry.tools.get(tool);
  }
}
