import { createHash, randomUUID } from 'node:crypto';
import {
  recordCaller,
  redisKeys,
  type CatalogTool,
  type Principal,
  type CallRules,
  type ToolResultPayload,
} from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import type { ExecutionRecordSink } from '@toolplane/queue';
import { currentTraceIds, recordToolCall } from '@toolplane/telemetry';

/**
 * Results of cacheable tools served from Redis (ADR 0067). The edge looks a call up after every check and the quota
 * charge, right before the enqueue: a hit is answered here (its record says `cached`, nothing reaches the upstream);
 * a miss carries a `cache` hint in its job, and the worker stores a clean success under it. The key digests the
 * workspace, server, catalog version (a change of server, connector or instance makes a new version), tool, the
 * arguments as sent (canonical JSON) and the principal (unless the tool's scope is `server` and no person acts); the
 * entry holds the workspace's credentials epoch it was made under, read with it: any secret written since is a miss.
 * Redis failing is a miss (the call runs uncached, nothing is stored, nothing stale is served), never a refusal: the
 * call's own enqueue then fails as any call does while Redis is down.
 */

export type ResultCacheSettings = NonNullable<CatalogTool['cache']>;

/** The two reads a lookup makes (the edge's Redis client; a fake in unit tests). */
export interface CacheStore {
  get(key: string): Promise<string | null>;
}

/** What a stored entry holds: the credentials epoch it was made under, when (epoch ms), its TTL, the result. */
interface Entry {
  e: string;
  at: number;
  /** The TTL it was stored for (the tool's, or what an external server's result declared); absent: the tool's. */
  t?: number;
  r: ToolResultPayload;
}

/** The key `_meta` carries a cached tool's facts under (its TTL and scope; on a hit, its age). */
export const CACHE_META = 'toolplane/cache';

/** JSON with object keys sorted at every level: equal arguments, one text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(',')}]`;
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** What a call's cache key is made of. */
export interface CacheKeyFacts {
  principal: Readonly<Principal>;
  serverId: string;
  catalogVersion: number;
  tool: string;
  arguments: Readonly<Record<string, unknown>>;
  scope: ResultCacheSettings['scope'];
}

/** The digest (SHA-256, hex) naming one call's cached result; no argument or identity is readable from it. */
export function resultCacheDigest(f: CacheKeyFacts): string {
  const p = f.principal;
  // Per principal: the key, the token's subject and the person acting each have their own answers.
  const who = keyScope(f) === 'server' ? null : [p.keyId ?? null, p.subject ?? null, p.userId ?? null];
  const parts = [p.workspaceId, f.serverId, f.catalogVersion, f.tool, canonicalJson(f.arguments), who];
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

/**
 * The scope a call's answer is kept under: the tool's, except that a person's call is never shared (a `server` scope
 * included: it may run with that person's own connection, and a person's answer never serves another person).
 */
function keyScope(f: Pick<CacheKeyFacts, 'principal' | 'scope'>): ResultCacheSettings['scope'] {
  return f.scope === 'server' && f.principal.userId === undefined ? 'server' : 'principal';
}

/** A call's outcome of the lookup: a hit's result, or the hint its job carries (none when Redis failed). */
export type Lookup = { hit: ToolResultPayload } | { hint?: NonNullable<CallRules['cache']> };

export class ResultCache {
  private readonly store: CacheStore;
  private readonly keys: Pick<ReturnType<typeof redisKeys>, 'resultCache' | 'credentialsEpoch'>;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(store: CacheStore, prefix: string, log: Logger, now: () => number = Date.now) {
    this.store = store;
    this.keys = redisKeys(prefix);
    this.log = log;
    this.now = now;
  }

  /** The cached result of this call, else the hint for the worker; Redis failing: neither (the call runs uncached). */
  async lookUp(facts: CacheKeyFacts, settings: ResultCacheSettings): Promise<Lookup> {
    const key = this.keys.resultCache(resultCacheDigest(facts));
    let raw: string | null;
    let epoch: string;
    try {
      // Two reads sent together (no shared slot needed on a cluster).
      const [entry, current] = await Promise.all([
        this.store.get(key),
        this.store.get(this.keys.credentialsEpoch(facts.principal.workspaceId)),
      ]);
      raw = entry;
      epoch = current ?? '0';
    } catch (err) {
      this.log.warn({ tool: facts.tool, err: String(err) }, 'result cache unreadable: the call runs uncached');
      return {};
    }
    const scope = keyScope(facts);
    const hint = { key, ttlMs: settings.ttlMs, epoch, scope };
    if (raw === null) return { hint };
    let entry: Entry;
    try {
      entry = JSON.parse(raw) as Entry;
    } catch {
      return { hint };
    }
    // Made under other credentials (a secret of the workspace written since): not served, replaced.
    if (entry.e !== epoch) return { hint };
    const ageMs = Math.max(0, this.now() - entry.at);
    // What a client may still reuse it for: the TTL it was stored for, less its age (Redis expires it then).
    const remainingMs = Math.max(0, (entry.t ?? settings.ttlMs) - ageMs);
    return { hit: cachedResult(entry.r, scope, { ageMs, remainingMs }) };
  }
}

/**
 * A cached answer as the caller receives it: the SEP-2549 fields `ttlMs` (what remains of its TTL) and `cacheScope`
 * on the result itself (the 2026-07-28 shape of cacheable results; an external server's own values replaced), and
 * `_meta["toolplane/cache"]` with `hit` and its age.
 */
function cachedResult(
  r: ToolResultPayload,
  scope: ResultCacheSettings['scope'],
  age: { ageMs: number; remainingMs: number },
): ToolResultPayload {
  const cacheScope = scope === 'server' ? 'public' : 'private';
  const meta = { hit: true, ageMs: age.ageMs, ttlMs: age.remainingMs, cacheScope };
  return { ...r, ttlMs: age.remainingMs, cacheScope, _meta: { ...r._meta, [CACHE_META]: meta } };
}

/** The execution record of a call answered from the cache: a success, `cached`, no step, charged its cost. */
export function recordCachedCall(
  records: Pick<ExecutionRecordSink, 'add'>,
  call: {
    principal: Readonly<Principal>;
    serverId: string;
    catalogVersion: number;
    tool: string;
    cost?: number;
    parentInvocationId?: string | undefined;
  },
  invocationId: string | undefined,
  durationMs: number,
): void {
  recordToolCall(call.serverId, call.tool, 'success', durationMs);
  records.add({
    v: 1,
    invocationId: invocationId ?? randomUUID(),
    ...(call.parentInvocationId ? { parentInvocationId: call.parentInvocationId } : {}),
    workspaceId: call.principal.workspaceId,
    serverId: call.serverId,
    catalogVersion: call.catalogVersion,
    tool: call.tool,
    caller: recordCaller(call.principal),
    startedAt: new Date(Date.now() - durationMs).toISOString(),
    durationMs,
    outcome: 'success',
    cached: true,
    costUnits: call.cost ?? 1,
    steps: [],
    ...currentTraceIds(),
  });
}

/** An external MCP tool's cache when its server's config names none: what each of its results declares. */
const AS_DECLARED: ResultCacheSettings = { ttlMs: 0, scope: 'principal' };

/**
 * The `cache` rule's fact of a tool (`pipeline/tool-facts.ts`): its TTL and scope, as published on it; an external MCP
 * tool nobody configured is cached per principal only as each result declares (`ttlMs` 0). Nothing to compile per
 * catalog version.
 */
export const cacheFacts = () => (entry: CatalogTool) =>
  entry.cache ?? (entry.plan.kind === 'mcp' ? AS_DECLARED : undefined);
