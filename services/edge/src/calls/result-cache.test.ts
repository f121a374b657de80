import { randomUUID } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { createLogger } from '@toolplane/logger';
import { Redis } from 'ioredis';
import { canonicalJson, resultCacheDigest, ResultCache, type CacheKeyFacts, type CacheStore } from './result-cache.ts';

const log = createLogger({ service: 'edge-test', level: 'silent' });

const facts: CacheKeyFacts = {
  principal: { workspaceId: 'ws', keyId: 'k1' },
  serverId: 's1',
  catalogVersion: 3,
  tool: 'get_ticket',
  arguments: { id: 'TCK-1', fields: { b: 1, a: [1, { d: 2, c: 3 }] } },
  scope: 'principal',
};

const digest = (change: Partial<CacheKeyFacts>) => resultCacheDigest({ ...facts, ...change });

describe('the result cache key', () => {
  it('is the same for the same arguments in another key order, and names no argument or identity', () => {
    const reordered = { fields: { a: [1, { c: 3, d: 2 }], b: 1 }, id: 'TCK-1' };
    expect(digest({ arguments: reordered })).toBe(digest({}));
    expect(canonicalJson(reordered)).toBe('{"fields":{"a":[1,{"c":3,"d":2}],"b":1},"id":"TCK-1"}');
    expect(digest({})).toMatch(/^[0-9a-f]{64}$/);
  });

  it('differs by arguments, tool, server, catalog version, workspace, key, subject and person', () => {
    const keys = [
      digest({}),
      digest({ arguments: { id: 'TCK-2' } }),
      digest({ tool: 'other' }),
      digest({ serverId: 's2' }),
      digest({ catalogVersion: 4 }),
      digest({ principal: { workspaceId: 'ws2', keyId: 'k1' } }),
      digest({ principal: { workspaceId: 'ws', keyId: 'k2' } }),
      digest({ principal: { workspaceId: 'ws', subject: 'sub-1' } }),
      digest({ principal: { workspaceId: 'ws', keyId: 'k1', userId: 'alice' } }),
      digest({ principal: { workspaceId: 'ws', keyId: 'k1', userId: 'bob' } }),
    ];
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('with scope server, is shared by every principal (not by other servers), never by a person acting', () => {
    const shared = (principal: CacheKeyFacts['principal']) => digest({ principal, scope: 'server' });
    expect(shared({ workspaceId: 'ws', keyId: 'k1' })).toBe(shared({ workspaceId: 'ws', keyId: 'k2' }));
    expect(shared({ workspaceId: 'ws', keyId: 'k1' })).toBe(shared({ workspaceId: 'ws', subject: 'sub-1' }));
    expect(shared({ workspaceId: 'ws', keyId: 'k1' })).not.toBe(digest({}));
    // A person's call may run with their own connection: their answers are theirs alone.
    const alice = shared({ workspaceId: 'ws', keyId: 'k1', userId: 'alice' });
    expect(alice).not.toBe(shared({ workspaceId: 'ws', keyId: 'k1' }));
    expect(alice).not.toBe(shared({ workspaceId: 'ws', keyId: 'k1', userId: 'bob' }));
  });
});

/** A store of our own interface: a map, or one that fails. */
const storeOf = (values: Map<string, string>): CacheStore => ({ get: async (k) => values.get(k) ?? null });
const settings = { ttlMs: 60_000, scope: 'principal' as const };

describe('a lookup', () => {
  it('serves an entry made under the current credentials epoch, with its age and remaining TTL; another epoch is a miss', async () => {
    const values = new Map<string, string>();
    const cache = new ResultCache(storeOf(values), 'p', log, () => 1_500);
    const miss = await cache.lookUp(facts, settings);
    expect(miss).toEqual({
      hint: { key: expect.stringMatching(/^p:result-cache:/), ttlMs: 60_000, epoch: '0', scope: 'principal' },
    });
    const key = (miss as { hint: { key: string } }).hint.key;
    values.set(key, JSON.stringify({ e: '0', at: 1_000, r: { content: [{ type: 'text', text: 'ok' }] } }));
    expect(await cache.lookUp(facts, settings)).toEqual({
      hit: {
        content: [{ type: 'text', text: 'ok' }],
        ttlMs: 59_500,
        cacheScope: 'private',
        _meta: { 'toolplane/cache': { hit: true, ageMs: 500, ttlMs: 59_500, cacheScope: 'private' } },
      },
    });
    // Stored for what an external server declared (`t`), its own fields replaced by what remains.
    const declared = { content: [], ttlMs: 2_000, cacheScope: 'public' };
    values.set(key, JSON.stringify({ e: '0', at: 1_000, t: 2_000, r: declared }));
    expect(await cache.lookUp(facts, { ttlMs: 0, scope: 'principal' })).toEqual({
      hit: expect.objectContaining({ ttlMs: 1_500, cacheScope: 'private' }),
    });
    values.set('p:credentials-epoch:ws', '1');
    expect(await cache.lookUp(facts, settings)).toEqual({ hint: expect.objectContaining({ key, epoch: '1' }) });
  });

  it('fails open: Redis failing is a miss without a hint (the call runs, nothing is stored)', async () => {
    const failing: CacheStore = { get: () => Promise.reject(new Error('connection lost')) };
    expect(await new ResultCache(failing, 'p', log).lookUp(facts, settings)).toEqual({});
  });

  it('on a real Redis connection that closed: neither the entry it holds nor a hint, however it fails', async () => {
    const url = process.env.TEST_REDIS_URL;
    if (!url) throw new Error('TEST_REDIS_URL is not set: this case needs Redis');
    // As the services' clients: commands on a connection that is down fail at once instead of waiting for it.
    const redis = new Redis(url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    redis.on('error', () => undefined);
    const reader = new Redis(url, { maxRetriesPerRequest: null });
    try {
      await redis.connect();
      const cache = new ResultCache(redis, `rc-${randomUUID()}`, log);
      const miss = await cache.lookUp(facts, settings);
      const key = (miss as { hint: { key: string } }).hint.key;
      await redis.set(key, JSON.stringify({ e: '0', at: Date.now(), r: { content: [] } }), 'PX', 60_000);
      expect(await cache.lookUp(facts, settings)).toHaveProperty('hit');
      redis.disconnect();
      expect(await cache.lookUp(facts, settings)).toEqual({});
      // The worker's store on such a connection rejects: it is logged and the answer goes uncached.
      await expect(redis.set(key, '{}', 'PX', 1_000)).rejects.toThrow();
      expect(await reader.del(key)).toBe(1);
    } finally {
      redis.disconnect();
      await reader.quit();
    }
  });
});
