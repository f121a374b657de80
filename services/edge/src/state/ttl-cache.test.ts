import { describe, expect, it } from '@jest/globals';
import { TtlCache } from './ttl-cache.ts';

describe('TtlCache', () => {
  it('shares one load between concurrent misses and serves it until invalidated', async () => {
    const cache = new TtlCache<number>({ ttlMs: 60_000, max: 10 });
    let loads = 0;
    const load = async () => ++loads;
    expect(await Promise.all([cache.get('k', load), cache.get('k', load)])).toEqual([1, 1]);
    expect(await cache.get('k', load)).toBe(1);
    cache.invalidate('k');
    expect(await cache.get('k', load)).toBe(2);
    cache.invalidate(undefined);
    expect(await cache.get('k', load)).toBe(3);
    expect(loads).toBe(3);
  });

  it('loads again once the entry is older than the TTL', async () => {
    const cache = new TtlCache<number>({ ttlMs: 1, max: 10 });
    let loads = 0;
    await cache.get('k', async () => ++loads);
    await new Promise((r) => setTimeout(r, 5));
    expect(await cache.get('k', async () => ++loads)).toBe(2);
  });

  it('caches nothing with a TTL of 0', async () => {
    const cache = new TtlCache<number>({ ttlMs: 0, max: 10 });
    let loads = 0;
    await cache.get('k', async () => ++loads);
    expect(await cache.get('k', async () => ++loads)).toBe(2);
    expect(cache.size).toBe(0);
  });

  it('does not keep a failed load', async () => {
    const cache = new TtlCache<number>({ ttlMs: 60_000, max: 10 });
    await expect(cache.get('k', async () => Promise.reject(new Error('redis down')))).rejects.toThrow('redis down');
    expect(await cache.get('k', async () => 7)).toBe(7);
  });

  it('keeps at most `max` entries, evicting the least recently used', async () => {
    const cache = new TtlCache<number>({ max: 100 });
    for (let i = 0; i < 10_000; i++) await cache.get(`k${i}`, async () => i);
    expect(cache.size).toBe(100);
    expect(await cache.get('k9999', async () => -1)).toBe(9999);
    expect(await cache.get('k0', async () => -1)).toBe(-1);
  });

  it('expires negative entries after their shorter TTL while positive ones stay', async () => {
    const cache = new TtlCache<number | null>({ max: 10, negative: { is: (v) => v === null, ttlMs: 1 } });
    await cache.get('missing', async () => null);
    await cache.get('present', async () => 1);
    await new Promise((r) => setTimeout(r, 5));
    expect(await cache.get('missing', async () => 2)).toBe(2);
    expect(await cache.get('present', async () => 3)).toBe(1);
  });
});
