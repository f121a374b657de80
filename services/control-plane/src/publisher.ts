import type { ApiKeyRecord, Catalog, WorkspaceAccess } from '@toolplane/contracts';
import { redisKeys, type RedisKeys } from '@toolplane/contracts';
import type { Redis } from 'ioredis';

/**
 * Publishes what edges and workers read from Redis: compiled catalogs and API key records (hashes
 * only). Every write is followed by a pub/sub message so caches drop stale entries at once.
 */
export class RuntimePublisher {
  private readonly keys: RedisKeys;
  private readonly redis: Redis;
  private readonly onFailure: (err: unknown) => void;
  /** `onFailure`: a write failed (Redis unreachable); the caller's change may be in PostgreSQL only. */
  constructor(redis: Redis, prefix: string, onFailure: (err: unknown) => void = () => undefined) {
    this.redis = redis;
    this.keys = redisKeys(prefix);
    this.onFailure = onFailure;
  }

  private async write(op: () => Promise<unknown>): Promise<void> {
    try {
      await op();
    } catch (err) {
      this.onFailure(err);
      throw err;
    }
  }

  publishCatalog(catalog: Catalog): Promise<void> {
    return this.write(() => this.writeCatalog(catalog));
  }

  private async writeCatalog(catalog: Catalog): Promise<void> {
    const json = JSON.stringify(catalog);
    // The versioned copy outlives the switch long enough for calls already queued against it.
    await this.redis.set(this.keys.catalogVersion(catalog.serverId, catalog.version), json, 'EX', 24 * 3600);
    await this.redis.set(this.keys.catalog(catalog.serverId), json);
    await this.redis.publish(this.keys.catalogChanged, catalog.serverId);
  }

  removeCatalog(serverId: string): Promise<void> {
    return this.write(async () => {
      await this.redis.del(this.keys.catalog(serverId));
      await this.redis.publish(this.keys.catalogChanged, serverId);
    });
  }

  /** Tells workers that secret values under `namePrefix` changed, so cached values are dropped now. */
  async secretsChanged(namePrefix: string): Promise<void> {
    await this.redis.publish(this.keys.secretsChanged, namePrefix);
  }

  publishApiKey(hash: string, record: ApiKeyRecord): Promise<void> {
    return this.write(async () => {
      await this.redis.hset(this.keys.apiKeys, hash, JSON.stringify(record));
      await this.redis.publish(this.keys.apiKeyChanged, hash);
    });
  }

  removeApiKey(hash: string): Promise<void> {
    return this.write(async () => {
      await this.redis.hdel(this.keys.apiKeys, hash);
      await this.redis.publish(this.keys.apiKeyChanged, hash);
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
