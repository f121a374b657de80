import { describe, expect, it } from '@jest/globals';
import { TtlCache } from './ttl-cache.ts';

describe('TtlCache', () => {
  it('shares one load between concurrent misses and serves it until invalidated', async () => {
    const cache = new TtlCache<number>(60_000);
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
    const cache = new TtlCache<number>(0);
    let loads = 0;
    await cache.get('k', async () => ++loads);
    await new Promise((r) => setTimeout(r, 2));
    expect(await cache.get('k', async () => ++loads)).toBe(2);
  });

  it('does not keep a failed load', async () => {
    const cache = new TtlCache<number>(60_000);
    await expect(cache.get('k', async () => Promise.reject(new Error('redis down')))).rejects.toThrow('redis down');
    expect(await cache.get('k', async () => 7)).toBe(7);
  });
});
