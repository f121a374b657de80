import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import { redisKeys } from '@toolplane/contracts';
import { TransientError } from '@toolplane/errors';
import { Redis } from 'ioredis';
import { AccessPolicyCache } from '../governance/access.ts';
import { ApiKeyCache, hashApiKey } from '../identity/api-keys.ts';
import { CatalogCache } from './catalogs.ts';
import { RuntimeStateProbe, stateMessages } from './runtime-state.ts';

// Real Redis (tests/setup/global-setup.js), one prefix per test: the edge's caches fail closed while
// the control plane's marker says the state is incomplete, and cache nothing meanwhile.
const redisUrl = process.env.TEST_REDIS_URL;
if (!redisUrl) throw new Error('TEST_REDIS_URL is not set');
const redis = new Redis(redisUrl);
afterAll(() => redis.disconnect());

function setup() {
  const prefix = `tes${randomUUID().slice(0, 8)}`;
  const state = new RuntimeStateProbe(redis, prefix);
  const keys = redisKeys(prefix);
  return { prefix, keys, state, markComplete: () => redis.set(keys.runtimeState, '{"epoch":"e","runId":"r"}') };
}

async function rejection(p: Promise<unknown>): Promise<TransientError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof TransientError) return err;
    throw err;
  }
  throw new Error('resolved');
}

describe('edge caches while the runtime state is missing', () => {
  it('denies on a missing access-policy document (never "no policies"), whatever the marker says', async () => {
    const { prefix, keys, markComplete } = setup();
    const cache = new AccessPolicyCache(redis, prefix, { ttlMs: 60_000, max: 100 });
    const err = await rejection(cache.get('ws-1'));
    expect(err.code).toBe('state.unavailable');
    expect(err.message).toBe(stateMessages.access);
    await markComplete();
    expect((await rejection(cache.get('ws-1'))).code).toBe('state.unavailable');
    // Not cached: the document is used as soon as it is published.
    await redis.set(keys.access('ws-1'), JSON.stringify({ v: 1, workspaceId: 'ws-1', policies: [] }));
    expect(await cache.get('ws-1')).toEqual({ v: 1, workspaceId: 'ws-1', policies: [] });
  });

  it('an unknown API key is "being restored" (not cached) without the marker, invalid (cached) with it', async () => {
    const { prefix, keys, state, markComplete } = setup();
    const cache = new ApiKeyCache(redis, prefix, { ttlMs: 60_000, max: 100, negativeTtlMs: 10_000 }, state);
    expect((await rejection(cache.authenticate('tp_unknown'))).message).toBe(stateMessages.restoring);
    const record = { keyId: 'k1', workspaceId: 'ws-1', scopes: ['runtime'] };
    await redis.hset(keys.apiKeys, hashApiKey('tp_known'), JSON.stringify(record));
    expect(await cache.authenticate('tp_known')).toMatchObject({ keyId: 'k1' });
    // The key republished after the failure is accepted at once.
    await redis.hset(keys.apiKeys, hashApiKey('tp_unknown'), JSON.stringify({ ...record, keyId: 'k2' }));
    expect(await cache.authenticate('tp_unknown')).toMatchObject({ keyId: 'k2' });
    await markComplete();
    expect(await cache.authenticate('tp_other')).toBeNull();
  });

  it('a missing catalog is "being restored" without the marker, and a plain miss (404) with it', async () => {
    const { prefix, state, markComplete } = setup();
    const cache = new CatalogCache(redis, prefix, { max: 100, negativeTtlMs: 10_000 }, state);
    expect((await rejection(cache.get('srv-1'))).code).toBe('state.unavailable');
    await markComplete();
    expect(await cache.get('srv-1')).toBeNull();
  });

  it('turns an unreachable Redis into a retryable error', async () => {
    // Never connected, no offline queue: every command fails at once, as during an outage.
    const down = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false });
    try {
      const cache = new AccessPolicyCache(down, 'x', { ttlMs: 60_000, max: 100 });
      expect((await rejection(cache.get('ws-1'))).message).toBe(stateMessages.unreachable);
    } finally {
      down.disconnect();
    }
  });
});
