import { createHash } from 'node:crypto';
import { redisKeys, type ToolInvokeJob } from '@toolplane/contracts';
import { PublishedReplies, type PublishedReply } from '@toolplane/queue';
import type { RedisClient } from '@toolplane/redis';

/**
 * The little 2025-era protocol state a stateless edge still needs, kept in Redis so that any edge
 * serves any request: the `logging/setLevel` of an MCP session, whether its client declared URL-mode or form-mode
 * elicitation, and `notifications/cancelled` and answers to the edge's `elicitation/create` reaching the edge that
 * runs the request. Nothing here is on the path of a plain `tools/call`.
 */

const logLevels = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'] as const;
export type LogLevel = (typeof logLevels)[number];

export function isLogLevel(v: unknown): v is LogLevel {
  return typeof v === 'string' && (logLevels as readonly string[]).includes(v);
}

/** Whether a message at `level` passes the caller's threshold. */
export function logPasses(level: LogLevel, threshold: LogLevel): boolean {
  return logLevels.indexOf(level) >= logLevels.indexOf(threshold);
}

/** One caller's MCP session on one server: credentials + server + the `Mcp-Session-Id` the edge issued. */
export function sessionScope(clientId: string, serverId: string, sessionId: string): string {
  return createHash('sha256').update(`${clientId}\n${serverId}\n${sessionId}`).digest('base64url');
}

/** A value the stateless edge remembers for a session (any edge may serve its next request), expiring after `ttlSeconds`. */
class SessionValue {
  private readonly redis: RedisClient;
  private readonly key: (scope: string) => string;
  private readonly ttlSeconds: number;

  constructor(redis: RedisClient, key: (scope: string) => string, ttlSeconds: number) {
    this.redis = redis;
    this.key = key;
    this.ttlSeconds = ttlSeconds;
  }

  async set(scope: string, value: string): Promise<void> {
    await this.redis.set(this.key(scope), value, 'EX', this.ttlSeconds);
  }

  get(scope: string): Promise<string | null> {
    return this.redis.get(this.key(scope));
  }
}

/** `logging/setLevel` per session (2025 era; 2026-07-28 requests carry their level in `_meta`). */
export class SessionLogLevels {
  private readonly values: SessionValue;

  constructor(redis: RedisClient, prefix: string, ttlSeconds = 24 * 3600) {
    this.values = new SessionValue(redis, redisKeys(prefix).mcpLogLevel, ttlSeconds);
  }

  set(scope: string, level: LogLevel): Promise<void> {
    return this.values.set(scope, level);
  }

  async get(scope: string): Promise<LogLevel | undefined> {
    const v = await this.values.get(scope);
    return isLogLevel(v) ? v : undefined;
  }
}

/** Whether client capabilities (an `initialize`'s, or a 2026-07-28 request's envelope's) declare URL-mode elicitation. */
export function declaresUrlElicitation(capabilities: unknown): boolean {
  const elicitation = (capabilities as { elicitation?: { url?: unknown } } | null | undefined)?.elicitation;
  return typeof elicitation?.url === 'object' && elicitation.url !== null;
}

/**
 * 2025-11-25 URL-mode elicitation per session: whether the session's client declared `capabilities.elicitation.url`
 * in its `initialize` (its later calls may be served by any edge). A key only for sessions that declared it, expiring
 * like a session's log level; read only when a call comes back needing a person to open a connect link.
 */
export class SessionUrlElicitation {
  private readonly values: SessionValue;

  constructor(redis: RedisClient, prefix: string, ttlSeconds = 24 * 3600) {
    this.values = new SessionValue(redis, redisKeys(prefix).mcpUrlElicitation, ttlSeconds);
  }

  declare(scope: string): Promise<void> {
    return this.values.set(scope, '1');
  }

  async declared(scope: string): Promise<boolean> {
    return (await this.values.get(scope)) === '1';
  }
}

/**
 * Whether client capabilities (an `initialize`'s, or a 2026-07-28 request's envelope's) declare form-mode elicitation:
 * `elicitation.form`, or a bare `elicitation: {}` (what clients declared before modes existed).
 */
export function declaresFormElicitation(capabilities: unknown): boolean {
  const elicitation = (capabilities as { elicitation?: unknown } | null | undefined)?.elicitation;
  if (typeof elicitation !== 'object' || elicitation === null) return false;
  const { form, url } = elicitation as { form?: unknown; url?: unknown };
  return (typeof form === 'object' && form !== null) || (form === undefined && url === undefined);
}

/**
 * 2025-11-25 form-mode elicitation per session, as `SessionUrlElicitation` keeps URL mode: read only when a call of a
 * tool marked `confirm` asks a person first.
 */
export class SessionFormElicitation {
  private readonly values: SessionValue;

  constructor(redis: RedisClient, prefix: string, ttlSeconds = 24 * 3600) {
    this.values = new SessionValue(redis, redisKeys(prefix).mcpFormElicitation, ttlSeconds);
  }

  declare(scope: string): Promise<void> {
    return this.values.set(scope, '1');
  }

  async declared(scope: string): Promise<boolean> {
    return (await this.values.get(scope)) === '1';
  }
}

/** What a 2025-era client declared for requests a server sends during a call (the job's `relay`). */
export type RelayCapabilities = NonNullable<ToolInvokeJob['relay']>;

/** The sampling and elicitation capabilities of an `initialize`, if it declares either. */
export function relayCapabilitiesOf(capabilities: unknown): RelayCapabilities | undefined {
  const c = capabilities as { sampling?: unknown; elicitation?: unknown } | null | undefined;
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  const out: RelayCapabilities = {
    ...(isObject(c?.sampling) ? { sampling: c.sampling } : {}),
    ...(isObject(c?.elicitation) ? { elicitation: c.elicitation } : {}),
  };
  return out.sampling || out.elicitation ? out : undefined;
}

/**
 * 2025-11-25 sampling and elicitation per session, for external MCP servers' requests during a call: read with the
 * session's log level, only for calls of proxied tools.
 */
export class SessionRelayCapabilities {
  private readonly values: SessionValue;

  constructor(redis: RedisClient, prefix: string, ttlSeconds = 24 * 3600) {
    this.values = new SessionValue(redis, redisKeys(prefix).mcpRelayCapabilities, ttlSeconds);
  }

  declare(scope: string, capabilities: RelayCapabilities): Promise<void> {
    return this.values.set(scope, JSON.stringify(capabilities));
  }

  async get(scope: string): Promise<RelayCapabilities | undefined> {
    const raw = await this.values.get(scope);
    return raw ? relayCapabilitiesOf(JSON.parse(raw)) : undefined;
  }
}

/**
 * How a caller that declared MCP URL-mode elicitation is asked to open a person's connect link: `error` (2025-11-25:
 * the URL-elicitation-required error, -32042) or `input_required` (2026-07-28: an `input_required` result).
 */
export type UrlElicitationMode = 'error' | 'input_required';

/**
 * A session's declared URL-mode elicitation as a call asks for it (`ToolCall.urlElicitation`): the scope (a hash) and
 * one GET, only when asked (a call that needs a person's connect link), never on the way of an ordinary call.
 */
export function sessionUrlElicitation(
  store: SessionUrlElicitation,
  scope: () => string,
): () => Promise<UrlElicitationMode | undefined> {
  return async () => ((await store.declared(scope())) ? 'error' : undefined);
}

/**
 * `notifications/cancelled` from 2025-era clients. Stateless serving answers the cancellation on a
 * new HTTP request, possibly on another edge: the notification is published to every edge, and the
 * one holding the request aborts it (which tells the worker to stop, like a disconnect does).
 */
export class CancelRegistry {
  private readonly inFlight = new Map<string, AbortController>();
  private readonly redis: RedisClient;
  readonly channel: string;

  constructor(redis: RedisClient, prefix: string) {
    this.redis = redis;
    this.channel = redisKeys(prefix).mcpCancel;
  }

  static key(clientId: string, serverId: string, sessionId: string, requestId: string | number): string {
    return JSON.stringify([clientId, serverId, sessionId, requestId]);
  }

  /** Registers a running request; the returned function forgets it. */
  track(key: string, controller: AbortController): () => void {
    this.inFlight.set(key, controller);
    return () => {
      if (this.inFlight.get(key) === controller) this.inFlight.delete(key);
    };
  }

  /** Asks every edge (this one included) to abort the request. */
  async cancel(key: string): Promise<void> {
    await this.redis.publish(this.channel, key);
  }

  /** A message on the cancellation channel: whether it aborted a request running here. */
  onMessage(key: string): boolean {
    const controller = this.inFlight.get(key);
    controller?.abort();
    return controller !== undefined;
  }

  /** The JSON-RPC id a cancellation key names (for logs: the rest identifies the caller). */
  static requestIdOf(key: string): unknown {
    try {
      return (JSON.parse(key) as unknown[])[3];
    } catch {
      return undefined;
    }
  }

  get size(): number {
    return this.inFlight.size;
  }
}

/** A client's answer to an `elicitation/create`: its JSON-RPC `result` (`{ action, content }`), or its `error`. */
export type ElicitationReply = PublishedReply;

/**
 * Answers of 2025-era clients to the `elicitation/create` requests the edge sends on a call's stream. Stateless
 * serving gets each answer on a new HTTP request, possibly on another edge: it is published to every edge, and the
 * one waiting for it resumes. A key names the caller, its server, its session and the request's id (one the edge
 * made), so only the session that was asked can answer.
 */
export class ElicitationReplies extends PublishedReplies {
  constructor(redis: RedisClient, prefix: string) {
    super(redis, redisKeys(prefix).mcpElicitationReply);
  }

  static key(clientId: string, serverId: string, sessionId: string, requestId: string | number): string {
    return JSON.stringify([clientId, serverId, sessionId, requestId]);
  }
}

/** How long a resource is wanted after a subscriber last said so (renewed while its stream is open). */
export const RESOURCE_WISH_MS = 5 * 60_000;

/**
 * Resource subscriptions: what a 2025-era session subscribed to (`resources/subscribe`, kept per session like its log
 * level), and the wishes the workers watch (`resourceWatches`: one member per attached server and URI, its score the
 * time until which someone wants it; edges renew them while the subscriber's stream is open).
 */
export class ResourceSubscriptions {
  private readonly redis: RedisClient;
  private readonly keys: ReturnType<typeof redisKeys>;
  private readonly ttlSeconds: number;

  constructor(redis: RedisClient, prefix: string, ttlSeconds = 24 * 3600) {
    this.redis = redis;
    this.keys = redisKeys(prefix);
    this.ttlSeconds = ttlSeconds;
  }

  async subscribe(scope: string, uri: string): Promise<void> {
    await this.redis
      .multi()
      .sadd(this.keys.mcpSubscriptions(scope), uri)
      .expire(this.keys.mcpSubscriptions(scope), this.ttlSeconds)
      .exec();
  }

  async unsubscribe(scope: string, uri: string): Promise<void> {
    await this.redis.srem(this.keys.mcpSubscriptions(scope), uri);
  }

  subscribed(scope: string): Promise<string[]> {
    return this.redis.smembers(this.keys.mcpSubscriptions(scope));
  }

  async isSubscribed(scope: string, uri: string): Promise<boolean> {
    return (await this.redis.sismember(this.keys.mcpSubscriptions(scope), uri)) === 1;
  }

  /** Tells the workers these resources are wanted for the next `RESOURCE_WISH_MS`. */
  async want(serverId: string, targets: readonly { server: string; uri: string }[]): Promise<void> {
    if (targets.length === 0) return;
    const until = Date.now() + RESOURCE_WISH_MS;
    const args = targets.flatMap((t) => [until, JSON.stringify([serverId, t.server, t.uri])]);
    await this.redis.zadd(this.keys.resourceWatches, ...args);
  }
}
