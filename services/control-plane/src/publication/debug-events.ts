import { redisKeys } from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import { duplicateConnection } from '@toolplane/queue';
import type { RedisClient } from '@toolplane/redis';

/** The channel a store of execution records announces on, per server (execution-records/store.ts publishes). */
export const recordsStoredChannel = (prefix: string, serverId: string) => `${prefix}:events:records-stored:${serverId}`;

/** How long a SUBSCRIBE may take before Redis counts as unreachable. */
const SUBSCRIBE_TIMEOUT_MS = 5_000;

interface Listener {
  /** The hash of the API key the stream was opened with (undefined: an access token). */
  keyHash?: string | undefined;
  /** Records of the server were stored (by any replica). */
  records(): void;
  /** A debug session of the server was opened or closed. */
  session(): void;
  /** The stream's API key changed (revoked, restricted to other servers): its access is checked again. */
  keyChanged(): void;
  /** Redis is unreachable: the stream cannot learn about new records (or key changes) any more. */
  failed(err: Error): void;
}

/**
 * One Redis subscriber connection per process for every open debug-event stream: a channel per server
 * with listeners (`records-stored:<serverId>`, published by the replica that stored them), the debug
 * session changes and the API key changes (`apiKeyChanged`: the hash of each key the control plane
 * publishes, created, revoked or restricted). Channels are unsubscribed with their last listener and the
 * connection is closed with the last stream; if the connection fails, every stream hears it (and ends)
 * and the next one reconnects.
 */
export class DebugEventHub {
  private readonly redis: RedisClient;
  private readonly prefix: string;
  readonly log: Logger;
  /** Open streams per API key, at most `maxStreamsPerKey`. */
  readonly maxStreamsPerKey: number;
  private readonly perKey = new Map<string, number>();
  private sub: RedisClient | undefined;
  /** Ends each open stream (at shutdown). */
  private readonly open = new Set<() => void>();
  private readonly listeners = new Map<string, Set<Listener>>();

  constructor(redis: RedisClient, prefix: string, log: Logger, opts: { maxStreamsPerKey?: number } = {}) {
    this.redis = redis;
    this.prefix = prefix;
    this.log = log;
    this.maxStreamsPerKey = opts.maxStreamsPerKey ?? 10;
  }

  /** Open streams of this process. */
  get streams(): number {
    let n = 0;
    for (const v of this.perKey.values()) n += v;
    return n;
  }

  /** Channels subscribed by this process. */
  get subscriptions(): number {
    return this.listeners.size;
  }

  /** Takes a stream slot of a caller (`Caller.principal`; false: none left); `release` gives it back. */
  acquire(principal: string): boolean {
    const n = this.perKey.get(principal) ?? 0;
    if (n >= this.maxStreamsPerKey) return false;
    this.perKey.set(principal, n + 1);
    return true;
  }

  release(principal: string): void {
    const n = (this.perKey.get(principal) ?? 1) - 1;
    if (n <= 0) this.perKey.delete(principal);
    else this.perKey.set(principal, n);
  }

  /** Keeps `end` (which ends a stream) until `untrack`; `close` calls every one kept. */
  track(end: () => void): () => void {
    this.open.add(end);
    return () => this.open.delete(end);
  }

  /**
   * Ends every open stream (shutdown: an HTTP server does not close while a stream is open); clients
   * reconnect, to another replica, with `Last-Event-ID`.
   */
  close(): void {
    for (const end of [...this.open]) end();
  }

  private connection(): RedisClient {
    if (this.sub) return this.sub;
    // Named (CLIENT LIST) after the key prefix: an operator, or a test, can tell it from other connections.
    const sub = duplicateConnection(this.redis, {
      maxRetriesPerRequest: 1,
      connectionName: `${this.prefix}:debug-events`,
    });
    const fail = (err: Error) => {
      if (this.sub !== sub) return;
      this.sub = undefined;
      const all = [...this.listeners.values()].flatMap((set) => [...set]);
      this.listeners.clear();
      sub.disconnect();
      for (const l of new Set(all)) l.failed(err);
    };
    sub.on('error', (err: Error) => fail(err));
    sub.on('close', () => fail(new Error('the Redis connection closed')));
    const keys = redisKeys(this.prefix);
    sub.on('message', (channel: string, message: string) => {
      if (channel === keys.debugSessionChanged) {
        for (const l of this.listeners.get(recordsStoredChannel(this.prefix, message)) ?? []) l.session();
      } else if (channel === keys.apiKeyChanged) {
        for (const set of this.listeners.values()) for (const l of set) if (l.keyHash === message) l.keyChanged();
      } else for (const l of this.listeners.get(channel) ?? []) l.records();
    });
    this.sub = sub;
    return sub;
  }

  /** Listens to a server's stored records and session changes; resolves once subscribed. Returns the unsubscribe. */
  async listen(serverId: string, listener: Listener): Promise<() => void> {
    const channel = recordsStoredChannel(this.prefix, serverId);
    const sub = this.connection();
    let set = this.listeners.get(channel);
    const first = !set;
    if (!set) this.listeners.set(channel, (set = new Set()));
    set.add(listener);
    const unlisten = () => {
      const current = this.listeners.get(channel);
      if (!current?.delete(listener) || current.size > 0) return;
      this.listeners.delete(channel);
      if (this.sub !== sub) return;
      if (this.listeners.size === 0) {
        this.sub = undefined;
        sub.disconnect();
      } else sub.unsubscribe(channel).catch(() => undefined);
    };
    if (first) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          sub.subscribe(channel, redisKeys(this.prefix).debugSessionChanged, redisKeys(this.prefix).apiKeyChanged),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error('Redis did not answer SUBSCRIBE')), SUBSCRIBE_TIMEOUT_MS);
          }),
        ]);
      } catch (err) {
        unlisten();
        throw err;
      } finally {
        clearTimeout(timer);
      }
    }
    return unlisten;
  }
}
