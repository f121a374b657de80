import { twinKeys, type ToolResultPayload } from '@toolplane/contracts';
import type { RedisClient } from '@toolplane/redis';

type Json = Record<string, unknown>;

/** Where a twin call is: its workspace, server and tool. */
export interface TwinPlace {
  workspaceId: string;
  serverId: string;
  tool: string;
}

/** The twin's bounds (ADR 0112): objects per workspace and server, recordings per tool, how long either lives. */
export interface TwinBounds {
  maxObjects: number;
  recordingsPerTool: number;
  ttlSeconds: number;
}

const defaultTwinBounds: TwinBounds = { maxObjects: 10_000, recordingsPerTool: 20, ttlSeconds: 7 * 86_400 };

/**
 * KEYS[1]: the state hash. ARGV: field, value, most objects, TTL seconds. A new field past the cap is refused (0);
 * otherwise written (1), the hash's TTL renewed.
 */
const PUT = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
`;

/** A stored object: the object, or `null` once deleted (a tombstone: a later read answers the upstream's 404). */
export type StoredObject = Json | null;

/** A recording: the arguments sent and the result the caller received. */
interface Recording {
  a: Json;
  r: ToolResultPayload;
}

/** The twin's state model and recordings in Redis, under the twin's prefix, bounded by construction. */
export class TwinStore {
  private readonly redis: RedisClient;
  private readonly keys: ReturnType<typeof twinKeys>;
  private readonly bounds: TwinBounds;
  constructor(redis: RedisClient, prefix: string, bounds: TwinBounds = defaultTwinBounds) {
    this.redis = redis;
    this.keys = twinKeys(prefix);
    this.bounds = bounds;
  }

  /** An object of a collection: the object, `null` when the twin deleted it, undefined when it never saw it. */
  async object(at: TwinPlace, collection: string, id: string): Promise<StoredObject | undefined> {
    const raw = await this.redis.hget(this.keys.state(at.workspaceId, at.serverId), field(collection, id));
    return raw === null ? undefined : (JSON.parse(raw) as StoredObject);
  }

  /** Writes an object (or its tombstone); false when the state is full and the object is a new one. */
  async put(at: TwinPlace, collection: string, id: string, value: StoredObject): Promise<boolean> {
    const { maxObjects, ttlSeconds } = this.bounds;
    const key = this.keys.state(at.workspaceId, at.serverId);
    const args = [field(collection, id), JSON.stringify(value), String(maxObjects), String(ttlSeconds)];
    return (await this.redis.eval(PUT, 1, key, ...args)) === 1;
  }

  /** A new identifier in the workspace and server's state: 1, 2, … */
  async nextId(at: TwinPlace): Promise<number> {
    return this.redis.hincrby(this.keys.state(at.workspaceId, at.serverId), '#seq', 1);
  }

  /** Keeps a production result of the tool for the twin: the newest `recordingsPerTool` are kept. */
  async record(at: TwinPlace, args: Json, result: ToolResultPayload): Promise<void> {
    const key = this.keys.recordings(at.workspaceId, at.serverId, at.tool);
    const entry: Recording = { a: args, r: result };
    await this.redis
      .multi()
      .lpush(key, JSON.stringify(entry))
      .ltrim(key, 0, this.bounds.recordingsPerTool - 1)
      .expire(key, this.bounds.ttlSeconds)
      .exec();
  }

  /**
   * The recorded result of the tool for these arguments: the newest with the same arguments, else the one sharing
   * the most argument values (name and JSON value), the newest first among equals. Undefined: none recorded.
   */
  async recorded(at: TwinPlace, args: Json): Promise<{ result: ToolResultPayload; exact: boolean } | undefined> {
    const raw = await this.redis.lrange(this.keys.recordings(at.workspaceId, at.serverId, at.tool), 0, -1);
    const wanted = canonicalEntries(args);
    let best: { recording: Recording; score: number } | undefined;
    for (const text of raw) {
      const recording = JSON.parse(text) as Recording;
      const entries = canonicalEntries(recording.a);
      const shared = entries.filter((e) => wanted.includes(e)).length;
      if (shared === wanted.length && entries.length === wanted.length) return { result: recording.r, exact: true };
      if (!best || shared > best.score) best = { recording, score: shared };
    }
    return best ? { result: best.recording.r, exact: false } : undefined;
  }
}

const field = (collection: string, id: string) => `${collection}\n${id}`;

/** Each argument as `name=value`, the value as JSON with sorted keys. */
function canonicalEntries(args: Json): string[] {
  return Object.entries(args).map(([k, v]) => `${k}=${canonical(v)}`);
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (typeof v === 'object' && v !== null)
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Json)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}
