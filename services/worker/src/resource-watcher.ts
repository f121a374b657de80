import { createHash } from 'node:crypto';
import { Client, StreamableHTTPClientTransport, type McpSubscription } from '@modelcontextprotocol/client';
import { Catalog, redisKeys, type RedisKeys } from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import type { RedisClient } from '@toolplane/redis';
import { createGuardedFetch } from './outbound-guard.ts';
import { externalHeaders } from './remote-tools.ts';
import type { SecretResolver } from './secret-resolver.ts';

/** External MCP servers are reached through the outbound guard like every other upstream. */
const guardedFetch = createGuardedFetch();

/** Renews a lock only while this worker holds it. */
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
/** Deletes a lock only while this worker holds it. */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/** One attached server this worker watches: its connection and what it listens to. */
interface Watch {
  client: Client;
  uris: Set<string>;
  /** 2026-07-28 servers: the open `subscriptions/listen` stream (2025-era ones take `resources/subscribe`). */
  listening?: McpSubscription | undefined;
}

export interface ResourceWatcherDeps {
  redis: RedisClient;
  prefix: string;
  workerId: string;
  secrets: SecretResolver;
  log: Logger;
  /** How often the wanted watches are read (default 1 s). */
  intervalMs?: number;
}

/**
 * Watches the external servers' resources that callers subscribed to (ADR 0041, "Resource subscriptions"). The edges
 * list what is wanted (`resourceWatches`, renewed while a subscription lives); each attached server with wanted URIs
 * is watched by one worker at a time (a lock in Redis, renewed each tick; another worker takes over when it lapses),
 * over one long-lived connection with the server's shared headers: `subscriptions/listen` on a 2026-07-28 server,
 * `resources/subscribe` on a 2025-era one. Each `notifications/resources/updated` is published on `resourceUpdated`.
 */
export class ResourceWatcher {
  private readonly deps: ResourceWatcherDeps;
  private readonly keys: RedisKeys;
  private readonly watches = new Map<string, Watch>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;

  constructor(deps: ResourceWatcherDeps) {
    this.deps = deps;
    this.keys = redisKeys(deps.prefix);
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.deps.intervalMs ?? 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await Promise.all([...this.watches.keys()].map((id) => this.close(id)));
  }

  /** One pass: drop expired wishes, keep or take the watches wanted, close the rest. */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const wanted = await this.wanted();
      for (const [id, target] of wanted) await this.keep(id, target);
      for (const id of [...this.watches.keys()]) if (!wanted.has(id)) await this.close(id);
    } catch (err) {
      this.deps.log.warn({ err }, 'resource watches not reconciled (Redis unavailable?)');
    } finally {
      this.ticking = false;
    }
  }

  /** What is wanted now, by attached server (`serverId` + server name). */
  private async wanted(): Promise<Map<string, { serverId: string; server: string; uris: Set<string> }>> {
    const { redis } = this.deps;
    const now = Date.now();
    await redis.zremrangebyscore(this.keys.resourceWatches, '-inf', now);
    const members = await redis.zrangebyscore(this.keys.resourceWatches, now, '+inf');
    const out = new Map<string, { serverId: string; server: string; uris: Set<string> }>();
    for (const m of members) {
      const [serverId, server, uri] = JSON.parse(m) as [string, string, string];
      const id = watchId(serverId, server);
      const entry = out.get(id) ?? { serverId, server, uris: new Set<string>() };
      entry.uris.add(uri);
      out.set(id, entry);
    }
    return out;
  }

  private async keep(id: string, target: { serverId: string; server: string; uris: Set<string> }): Promise<void> {
    const { redis, workerId } = this.deps;
    const lock = this.keys.resourceWatchLock(id);
    const lockMs = 10 * (this.deps.intervalMs ?? 1000);
    const held = this.watches.get(id);
    if (held) {
      if (!(await redis.eval(RENEW, 1, lock, workerId, lockMs))) return this.close(id, false); // another worker has it
      return this.follow(held, target.uris);
    }
    if ((await redis.set(lock, workerId, 'PX', lockMs, 'NX')) !== 'OK') return;
    try {
      this.watches.set(id, await this.open(target.serverId, target.server, target.uris));
      this.deps.log.info(
        { serverId: target.serverId, server: target.server },
        'watching resources of an external server',
      );
    } catch (err) {
      await redis.eval(RELEASE, 1, lock, workerId);
      this.deps.log.warn({ err, serverId: target.serverId, server: target.server }, 'resources not watched');
    }
  }

  private async open(serverId: string, server: string, uris: Set<string>): Promise<Watch> {
    const raw = await this.deps.redis.get(this.keys.catalog(serverId));
    const features = raw ? Catalog.parse(JSON.parse(raw)).external?.find((f) => f.server === server) : undefined;
    if (!features?.subscribe) throw new Error(`"${server}" offers no resource subscriptions on server ${serverId}`);
    const headers = await externalHeaders(this.deps.secrets, {}, features);
    const client = new Client({ name: 'toolplane', version: '0.1.0' }, { versionNegotiation: { mode: 'auto' } });
    client.setNotificationHandler('notifications/resources/updated', (n) => {
      void this.deps.redis
        .publish(this.keys.resourceUpdated, JSON.stringify([serverId, n.params.uri]))
        .catch(() => undefined);
    });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(features.url), { requestInit: { headers }, fetch: guardedFetch }),
    );
    const watch: Watch = { client, uris: new Set() };
    await this.follow(watch, uris);
    return watch;
  }

  /** Subscribes to what is newly wanted and lets go of the rest (a 2026-07-28 stream is opened again with the new list). */
  private async follow(watch: Watch, uris: Set<string>): Promise<void> {
    const same = uris.size === watch.uris.size && [...uris].every((u) => watch.uris.has(u));
    if (same) return;
    try {
      await watch.listening?.close();
      watch.listening = await watch.client.listen({ resourceSubscriptions: [...uris] });
    } catch {
      // A 2025-era server: the session's subscriptions, one by one.
      for (const uri of uris) if (!watch.uris.has(uri)) await watch.client.subscribeResource({ uri });
      for (const uri of watch.uris) if (!uris.has(uri)) await watch.client.unsubscribeResource({ uri });
    }
    watch.uris = new Set(uris);
  }

  private async close(id: string, release = true): Promise<void> {
    const watch = this.watches.get(id);
    this.watches.delete(id);
    await watch?.listening?.close().catch(() => undefined);
    await watch?.client.close().catch(() => undefined);
    if (release)
      await this.deps.redis
        .eval(RELEASE, 1, this.keys.resourceWatchLock(id), this.deps.workerId)
        .catch(() => undefined);
  }
}

const watchId = (serverId: string, server: string) =>
  createHash('sha256').update(`${serverId}\n${server}`).digest('base64url');
