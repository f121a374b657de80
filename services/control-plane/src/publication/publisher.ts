import type { ApiKeyRecord, Catalog, WorkspaceAccess } from '@toolplane/contracts';
import {
  eventSourcesKey,
  externalEventServersKey,
  redisKeys,
  type EventSource,
  type RedisKeys,
} from '@toolplane/contracts';
import type { RedisClient } from '@toolplane/redis';
import type { Cluster, Redis } from 'ioredis';
import { PublicationLock, type PublicationLockOptions } from './publication-lock.ts';

/** SET the live catalog unless Redis holds a higher version (KEYS[1] = live key, ARGV = json, version). */
const LIVE_IF_NOT_OLDER = `
local current = redis.call('GET', KEYS[1])
if current then
  local ok, decoded = pcall(cjson.decode, current)
  if ok and type(decoded) == 'table' and tonumber(decoded.version) and tonumber(decoded.version) > tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
`;

/** The resources publications lock (ADR 0017): one per catalog, per workspace's policies, all API keys. */
export const publicationResources = {
  catalog: (serverId: string) => `catalog:${serverId}`,
  access: (workspaceId: string) => `access:${workspaceId}`,
  apiKeys: 'apikeys',
} as const;

/**
 * Publishes what edges and workers read from Redis: compiled catalogs and API key records (hashes
 * only). Every write is followed by a pub/sub message so caches drop stale entries at once.
 * Whoever reads PostgreSQL to publish does so inside `exclusive()` on the resource, so that an older
 * read never overwrites a newer publication (ADR 0017).
 */
export class RuntimePublisher {
  private readonly keys: RedisKeys;
  private readonly externalEventServers: string;
  private readonly redis: RedisClient;
  private readonly onFailure: (err: unknown) => void;
  private readonly lock: PublicationLock;
  /** `onFailure`: a write failed (Redis unreachable); the caller's change may be in PostgreSQL only. */
  constructor(
    redis: RedisClient,
    prefix: string,
    onFailure: (err: unknown) => void = () => undefined,
    lockOptions: PublicationLockOptions = {},
  ) {
    this.redis = redis;
    this.keys = redisKeys(prefix);
    this.externalEventServers = externalEventServersKey(prefix);
    this.onFailure = onFailure;
    this.lock = new PublicationLock(redis, this.keys.publicationLock, lockOptions);
  }

  /** Runs `fn` (read PostgreSQL, then publish) holding the lock on `resource` across replicas. */
  exclusive<T>(resource: string, fn: () => Promise<T>): Promise<T> {
    return this.write(() => this.lock.run(resource, fn));
  }

  private async write<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      this.onFailure(err);
      throw err;
    }
  }

  /** `force`: replace the live copy even when Redis holds a higher version (PostgreSQL is the truth: republish all). */
  publishCatalog(catalog: Catalog, opts: { force?: boolean } = {}): Promise<void> {
    return this.write(() => this.writeCatalog(catalog, opts));
  }

  private async writeCatalog(catalog: Catalog, opts: { force?: boolean }): Promise<void> {
    const json = JSON.stringify(catalog);
    // The versioned copy outlives the switch long enough for calls already queued against it.
    await this.redis.set(this.keys.catalogVersion(catalog.serverId, catalog.version), json, 'EX', 24 * 3600);
    // Never replaces a newer version: two changes committed in one order may publish in the other.
    if (opts.force) await this.redis.set(this.keys.catalog(catalog.serverId), json);
    else
      await this.redis.eval(LIVE_IF_NOT_OLDER, 1, this.keys.catalog(catalog.serverId), json, String(catalog.version));
    await this.publishEventSources(catalog);
    await this.redis.publish(this.keys.catalogChanged, catalog.serverId);
  }

  /**
   * Which connector instances' deliveries this server's event types take (MCP Events): the edge's inbound URL finds
   * an instance's workspace there. An entry whose server no longer has the instance's events stays (the worker finds
   * no event type and drops the delivery).
   */
  private async publishEventSources(catalog: Catalog): Promise<void> {
    const providers = new Map<string, EventSource['provider']>();
    let external = false;
    for (const e of catalog.events ?? [])
      if (e.match.provider === 'mcp') external = true;
      else providers.set(e.source.instanceId, e.match.provider);
    for (const [instanceId, provider] of providers) {
      const source: EventSource = { workspaceId: catalog.workspaceId, provider };
      await this.redis.hset(eventSourcesKey(instanceId), catalog.serverId, JSON.stringify(source));
    }
    // External MCP servers' event types: the worker's poller finds the server here (none: it forgets it).
    if (external) await this.redis.sadd(this.externalEventServers, catalog.serverId);
    else await this.redis.srem(this.externalEventServers, catalog.serverId);
  }

  /** The version of the server's catalog that Redis holds now (undefined: none). */
  async publishedCatalogVersion(serverId: string): Promise<number | undefined> {
    const json = await this.redis.get(this.keys.catalog(serverId));
    if (!json) return undefined;
    const version = (JSON.parse(json) as { version?: unknown }).version;
    return typeof version === 'number' ? version : undefined;
  }

  /** The servers whose live catalog Redis holds (SCAN; not the versioned copies). */
  async publishedCatalogServerIds(): Promise<string[]> {
    const prefix = this.keys.catalog('');
    // SCAN visits one node: in a cluster, every master's keys.
    const nodes = this.redis.isCluster ? (this.redis as Cluster).nodes('master') : [this.redis as Redis];
    const ids: string[] = [];
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
        cursor = next;
        for (const k of keys) {
          const id = k.slice(prefix.length);
          if (id && !id.includes(':')) ids.push(id);
        }
      } while (cursor !== '0');
    }
    return ids;
  }

  removeCatalog(serverId: string): Promise<void> {
    return this.write(async () => {
      await this.redis.del(this.keys.catalog(serverId));
      await this.redis.publish(this.keys.catalogChanged, serverId);
    });
  }

  /**
   * Tells workers that secret values under `namePrefix` changed, so cached values are dropped now; first bumps the
   * credentials epoch of its workspace (every secret name starts `ws/<workspace>/`), so that no result cached with the
   * earlier values is served again (ADR 0067).
   */
  async secretsChanged(namePrefix: string): Promise<void> {
    const workspaceId = /^ws\/([^/]+)\//.exec(namePrefix)?.[1];
    if (workspaceId) await this.redis.incr(this.keys.credentialsEpoch(workspaceId));
    await this.redis.publish(this.keys.secretsChanged, namePrefix);
  }

  /** One key's record (`undefined`: revoked or gone, removed). Inside `exclusive(publicationResources.apiKeys)`. */
  setApiKey(hash: string, record: ApiKeyRecord | undefined): Promise<void> {
    return this.write(async () => {
      if (record) await this.redis.hset(this.keys.apiKeys, hash, JSON.stringify(record));
      else await this.redis.hdel(this.keys.apiKeys, hash);
      await this.redis.publish(this.keys.apiKeyChanged, hash);
    });
  }

  /**
   * Makes the key records exactly `records` (every active key): writes them and removes every other
   * hash, so a revocation whose removal failed cannot survive a republication. Inside `exclusive()`.
   */
  replaceApiKeys(records: Map<string, ApiKeyRecord>): Promise<void> {
    return this.write(async () => {
      const stale = (await this.redis.hkeys(this.keys.apiKeys)).filter((h) => !records.has(h));
      const tx = this.redis.multi();
      if (records.size > 0)
        tx.hset(this.keys.apiKeys, ...[...records].flatMap(([hash, r]) => [hash, JSON.stringify(r)]));
      if (stale.length > 0) tx.hdel(this.keys.apiKeys, ...stale);
      for (const hash of [...stale, ...records.keys()]) tx.publish(this.keys.apiKeyChanged, hash);
      const results = await tx.exec();
      const failed = results?.find(([err]) => err);
      if (!results || failed) throw failed?.[0] ?? new Error('the API key transaction was discarded');
    });
  }

  /** A workspace's access policies (ADR 0013), replaced as a whole; edges drop their copy on the message. */
  publishAccess(access: WorkspaceAccess): Promise<void> {
    return this.write(async () => {
      await this.redis.set(this.keys.access(access.workspaceId), JSON.stringify(access));
      await this.redis.publish(this.keys.accessChanged, access.workspaceId);
    });
  }

  /** Last use per key id (epoch ms) as recorded by edges and the control plane. */
  async apiKeysLastUsed(keyIds: string[]): Promise<(number | undefined)[]> {
    if (keyIds.length === 0) return [];
    const values = await this.redis.hmget(this.keys.apiKeyLastUsed, ...keyIds);
    return values.map((v) => (v ? Number(v) : undefined));
  }
}
