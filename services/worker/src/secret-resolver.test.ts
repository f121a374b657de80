import { describe, expect, it } from '@jest/globals';
import type { SecretsReader } from '@toolplane/secrets';
import { SecretResolver } from './secret-resolver.ts';

/**
 * The worker's secret cache: values are kept at most SECRETS_CACHE_TTL_MS, so a rotation
 * the worker was not told about takes effect within the TTL; an invalidation message takes effect at
 * once. Fake reader and fake clock.
 */

function store(initial: Record<string, string>) {
  const values = new Map(Object.entries(initial));
  const reads: string[] = [];
  const reader: SecretsReader = {
    get: async (name) => {
      reads.push(name);
      return values.get(name);
    },
  };
  return { reader, reads, values };
}

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

describe('SecretResolver', () => {
  it('keeps at most `max` names, evicting the least recently used', async () => {
    const s = store({ a: '1', b: '2', c: '3' });
    const c = clock();
    const resolver = new SecretResolver(s.reader, 60_000, c.now, 2);
    for (const name of ['a', 'b', 'c', 'c', 'b']) await resolver.resolve(name);
    expect(s.reads).toEqual(['a', 'b', 'c']);
    await resolver.resolve('a');
    expect(s.reads).toEqual(['a', 'b', 'c', 'a']);
  });

  it('serves a value from memory within the TTL and reads the rotated one once the TTL has passed', async () => {
    const s = store({ 'ws/1/API_KEY': 'old-value' });
    const c = clock();
    const resolver = new SecretResolver(s.reader, 30_000, c.now);
    expect(await resolver.resolve('ws/1/API_KEY')).toBe('old-value');
    s.values.set('ws/1/API_KEY', 'new-value'); // rotated behind the worker's back (no invalidation message)
    c.advance(29_999);
    expect(await resolver.resolve('ws/1/API_KEY')).toBe('old-value');
    expect(s.reads).toEqual(['ws/1/API_KEY']);
    c.advance(1);
    expect(await resolver.resolve('ws/1/API_KEY')).toBe('new-value');
    expect(s.reads).toEqual(['ws/1/API_KEY', 'ws/1/API_KEY']);
  });

  it('drops cached values under an invalidated prefix at once, and only those', async () => {
    const s = store({ 'ws/1/servers/a/secrets/K': 'a1', 'ws/1/servers/b/secrets/K': 'b1' });
    const resolver = new SecretResolver(s.reader, 600_000, clock().now);
    await resolver.resolve('ws/1/servers/a/secrets/K');
    await resolver.resolve('ws/1/servers/b/secrets/K');
    s.values.set('ws/1/servers/a/secrets/K', 'a2');
    s.values.set('ws/1/servers/b/secrets/K', 'b2');
    resolver.invalidate('ws/1/servers/a/');
    expect(await resolver.resolve('ws/1/servers/a/secrets/K')).toBe('a2');
    expect(await resolver.resolve('ws/1/servers/b/secrets/K')).toBe('b1');
    resolver.invalidate(undefined); // everything
    expect(await resolver.resolve('ws/1/servers/b/secrets/K')).toBe('b2');
  });

  it('caches a missing secret for the TTL too (a deletion is seen through invalidation or expiry)', async () => {
    const s = store({});
    const c = clock();
    const resolver = new SecretResolver(s.reader, 1_000, c.now);
    expect(await resolver.resolve('ws/1/NEW')).toBeUndefined();
    s.values.set('ws/1/NEW', 'created');
    expect(await resolver.resolve('ws/1/NEW')).toBeUndefined();
    c.advance(1_000);
    expect(await resolver.resolve('ws/1/NEW')).toBe('created');
  });

  it('reads through on every call with a TTL of 0', async () => {
    const s = store({ K: 'v1' });
    const resolver = new SecretResolver(s.reader, 0, clock().now);
    expect(await resolver.resolve('K')).toBe('v1');
    s.values.set('K', 'v2');
    expect(await resolver.resolve('K')).toBe('v2');
    expect(s.reads).toHaveLength(2);
  });

  it('reads the store on every call asked to be fresh (a user-specific credential), whatever the cache holds', async () => {
    const s = store({ 'ws/1/users/u1/token': 'v1' });
    const c = clock();
    const r = new SecretResolver(s.reader, 60_000, c.now);
    expect(await r.resolve('ws/1/users/u1/token')).toBe('v1');
    s.values.set('ws/1/users/u1/token', 'v2');
    expect(await r.resolve('ws/1/users/u1/token')).toBe('v1'); // cached
    expect(await r.resolve('ws/1/users/u1/token', { fresh: true })).toBe('v2');
    expect(s.reads).toEqual(['ws/1/users/u1/token', 'ws/1/users/u1/token']);
  });
});
