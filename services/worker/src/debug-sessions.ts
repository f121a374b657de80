import { DebugSessionState, redisKeys, type DebugExchange, type RedisKeys } from '@toolplane/contracts';
import type { RedisClient } from '@toolplane/redis';
import { LRUCache } from 'lru-cache';
import { redactText } from './redact.ts';
import type { UpstreamOutcome, UpstreamRequest } from './http-operation.ts';

/** Header names whose values are never kept, even in a debug session. */
const hiddenHeaders = /^(authorization|proxy-authorization|cookie|set-cookie|x-api-key|api-key|x-auth-token)$/i;

/**
 * Knows whether a server has an open debug session and builds the redacted capture that goes into
 * execution records while it is open. The state is read from Redis once and cached: the control
 * plane announces every open and close on `debugSessionChanged`, and the worker calls `invalidate`
 * then (and for every server after its subscriber connection reconnects, as messages sent meanwhile
 * are lost). Entries also expire after `cacheMs` as a backstop.
 */
export class DebugSessions {
  /** One entry per server called recently, at most `maxEntries` (least recently used evicted). */
  private readonly cache: LRUCache<string, { state: DebugSessionState | null; checkedAt: number }>;
  private readonly redis: RedisClient;
  private readonly keys: RedisKeys;
  private readonly now: () => number;
  private readonly maxBodyBytes: number;
  private readonly cacheMs: number;
  /** Bumped by every invalidation: a lookup that was in flight meanwhile may have read the old state, and is not cached. */
  private generation = 0;

  constructor(
    redis: RedisClient,
    prefix: string,
    opts: { maxBodyBytes: number; now?: () => number; cacheMs?: number; maxEntries?: number },
  ) {
    this.cache = new LRUCache({ max: opts.maxEntries ?? 1000 });
    this.redis = redis;
    this.keys = redisKeys(prefix);
    this.now = opts.now ?? Date.now;
    this.maxBodyBytes = opts.maxBodyBytes;
    this.cacheMs = opts.cacheMs ?? 30_000;
  }

  /** The open session of a server, if any: its end time is checked against the clock on every call. */
  async active(serverId: string): Promise<DebugSessionState | null> {
    const t = this.now();
    let hit = this.cache.get(serverId);
    if (!hit || t - hit.checkedAt > this.cacheMs) {
      const generation = this.generation;
      const raw = await this.redis.get(this.keys.debugSession(serverId));
      const parsed = raw ? DebugSessionState.safeParse(JSON.parse(raw)) : undefined;
      hit = { state: parsed?.success ? parsed.data : null, checkedAt: t };
      if (generation === this.generation) this.cache.set(serverId, hit);
    }
    return hit.state && hit.state.endsAt > t ? hit.state : null;
  }

  /** Forgets the cached state of one server (a `debugSessionChanged` message), or of all (undefined). */
  invalidate(serverId: string | undefined): void {
    this.generation++;
    if (serverId === undefined) this.cache.clear();
    else this.cache.delete(serverId);
  }

  /**
   * One exchange, redacted (hidden headers, secret values anywhere) and size-capped: also for each HTTP
   * attempt of a workflow call. Redacted before it is capped: a cut through a secret would leave its
   * first part, which no longer matches. `scrub`: what else each text goes through before its cap (the call's
   * guardrails, `debugScrubber`: a cut through a value they find would leave a part they no longer find); a text it
   * rewrote is redacted once more (a JSON body it wrote back decoded spells a credential it hid in escapes in clear).
   */
  exchange(
    request: UpstreamRequest,
    outcome: UpstreamOutcome,
    secretValues: (string | undefined)[],
    scrub: (text: string) => string = (text) => text,
  ): DebugExchange {
    // Redacted again after the guardrails' scrub when it rewrote the text (a JSON body written back decoded).
    const redact = (text: string) => {
      const redacted = redactText(text, secretValues);
      const scrubbed = scrub(redacted);
      return scrubbed === redacted ? redacted : redactText(scrubbed, secretValues);
    };
    const cap = (text: string) =>
      Buffer.byteLength(text) > this.maxBodyBytes
        ? { text: Buffer.from(text).subarray(0, this.maxBodyBytes).toString('utf8'), truncated: true }
        : { text, truncated: false };
    const headers = Object.fromEntries(
      Object.entries(request.headers).map(([k, v]) => [redact(k), hiddenHeaders.test(k) ? '[redacted]' : redact(v)]),
    );
    const reqBody = request.body !== undefined ? cap(redact(request.body)) : undefined;
    const response =
      outcome.kind === 'response'
        ? (() => {
            const body = cap(redact(new TextDecoder().decode(outcome.body)));
            return {
              status: outcome.status,
              contentType: redact(outcome.contentType),
              body: body.text,
              ...(body.truncated ? { truncated: true } : {}),
            };
          })()
        : undefined;
    return {
      request: { headers, ...(reqBody ? { body: reqBody.text } : {}) },
      ...(response ? { response } : {}),
    };
  }
}
