import { Catalog, redisKeys, type CatalogTool, type ExternalFeatures } from '@toolplane/contracts';
import { compileGuardrails, type CompiledGuardrail } from '@toolplane/guardrails';
import type { RedisClient } from '@toolplane/redis';
import { LRUCache } from 'lru-cache';

/**
 * Execution plans by `(serverId, catalogVersion)`, loaded from Redis on first use (the versioned key,
 * so a call enqueued just before an update runs on the version it was validated against). Versions
 * are immutable while the database lives, so entries go stale only when a restored database reuses a number
 * (`clear`, on the control plane's republication); at most `maxEntries` versions are kept, the least
 * recently used evicted first (lru-cache, ADR 0014).
 */
export class PlanCache {
  private readonly byVersion: LRUCache<string, VersionPlans>;
  private readonly keys;

  private readonly redis: RedisClient;
  constructor(redis: RedisClient, prefix: string, maxEntries = 1000) {
    this.redis = redis;
    this.keys = redisKeys(prefix);
    this.byVersion = new LRUCache({ max: maxEntries });
  }

  /** Drops every version (the state was published again, possibly from a restored database). */
  clear(): void {
    this.byVersion.clear();
  }

  get(serverId: string, version: number, tool: string): Promise<CatalogTool | undefined> {
    // The hot path: a cached version answers without another async step.
    const hit = this.byVersion.get(`${serverId}:${version}`);
    if (hit) return Promise.resolve(hit.tools.get(tool));
    return this.load(serverId, version).then((plans) => plans?.tools.get(tool));
  }

  /** Every tool of one catalog version (the staging twin reads a create's sibling operations, ADR 0112). */
  async tools(serverId: string, version: number): Promise<CatalogTool[]> {
    return [...((await this.load(serverId, version))?.tools.values() ?? [])];
  }

  /** The server's name in one catalog version (what access conditions read as `server.name`). */
  async serverName(serverId: string, version: number): Promise<string | undefined> {
    return (await this.load(serverId, version))?.name;
  }

  /** An attached external MCP server's features (where it is, its header secrets) in one catalog version. */
  async external(serverId: string, version: number, server: string): Promise<ExternalFeatures | undefined> {
    return (await this.load(serverId, version))?.external.get(server);
  }

  /**
   * The guardrails of one catalog version, compiled once with its plans (none: an empty list, nothing to scan). Read
   * after `get` or `external` loaded the version: a cache hit, answered without a promise (the hot path pays none).
   */
  guardrails(serverId: string, version: number): Guardrails | Promise<Guardrails> {
    const hit = this.byVersion.get(`${serverId}:${version}`);
    return hit ? hit.guardrails : this.load(serverId, version).then((plans) => plans?.guardrails ?? []);
  }

  private async load(serverId: string, version: number): Promise<VersionPlans | undefined> {
    const id = `${serverId}:${version}`;
    let plans = this.byVersion.get(id);
    if (!plans) {
      const raw = await this.redis.get(this.keys.catalogVersion(serverId, version));
      if (!raw) return undefined;
      const catalog = Catalog.parse(JSON.parse(raw));
      plans = {
        name: catalog.name,
        tools: new Map(catalog.tools.map((t) => [t.tool.name, t])),
        external: new Map((catalog.external ?? []).map((e) => [e.server, e])),
        guardrails: catalog.guardrails ? compileGuardrails(catalog.guardrails) : [],
      };
      this.byVersion.set(id, plans);
    }
    return plans;
  }
}

type Guardrails = readonly CompiledGuardrail[];

/** One catalog version's plans: its tools by name, its external servers' features by server name, its guardrails. */
interface VersionPlans {
  name: string;
  tools: Map<string, CatalogTool>;
  external: Map<string, ExternalFeatures>;
  guardrails: CompiledGuardrail[];
}
