import { describe, expect, it } from '@jest/globals';
import { RedisEnv, redisEnvShape } from './env.ts';

function problems(env: Record<string, string>): string[] {
  const r = RedisEnv.safeParse(env);
  return r.success ? [] : r.error.issues.map((i) => i.message);
}

describe('RedisEnv', () => {
  it('reads REDIS_URL as today, credentials from the URL unless REDIS_USERNAME / REDIS_PASSWORD say otherwise', () => {
    expect(RedisEnv.parse({ REDIS_URL: 'redis://127.0.0.1:6379' })).toEqual({
      form: 'single',
      url: 'redis://127.0.0.1:6379',
      auth: {},
      connectTimeoutMs: 10_000,
    });
    const withAuth = RedisEnv.parse({ REDIS_URL: 'rediss://u:p%40ss@cache:6380/2', REDIS_PASSWORD: 'other' });
    expect(withAuth).toMatchObject({ form: 'single', auth: { username: 'u', password: 'other' }, tls: {} });
  });

  it('reads cluster seeds and Sentinel settings', () => {
    expect(
      RedisEnv.parse({ REDIS_CLUSTER_NODES: 'rediss://a:7000, rediss://b:7001', REDIS_TLS_CA_FILE: '/ca.pem' }),
    ).toEqual({
      form: 'cluster',
      nodes: [
        { host: 'a', port: 7000 },
        { host: 'b', port: 7001 },
      ],
      auth: {},
      tls: { caFile: '/ca.pem' },
      connectTimeoutMs: 10_000,
    });
    const sentinel = RedisEnv.parse({
      REDIS_SENTINELS: 's1:26379,[::1]:26380',
      REDIS_SENTINEL_MASTER: 'main',
      REDIS_PASSWORD: 'data',
      REDIS_SENTINEL_PASSWORD: 'watch',
      REDIS_SENTINEL_TLS: 'true',
      REDIS_CONNECT_TIMEOUT_MS: '2000',
    });
    expect(sentinel).toEqual({
      form: 'sentinel',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      masterName: 'main',
      auth: { password: 'data' },
      sentinelAuth: { password: 'watch' },
      sentinelTls: {},
      connectTimeoutMs: 2000,
    });
  });

  it('refuses a missing form, two forms, and malformed values with the variable to fix', () => {
    expect(problems({})).toEqual([expect.stringContaining('set one of REDIS_URL')]);
    expect(problems({ REDIS_URL: 'redis://a:1', REDIS_CLUSTER_NODES: 'redis://b:2' })).toEqual([
      'REDIS_URL and REDIS_CLUSTER_NODES are both set: choose one form of Redis',
    ]);
    expect(problems({ REDIS_URL: 'redis://a:1,redis://b:2' })).toEqual([
      expect.stringContaining('REDIS_CLUSTER_NODES'),
    ]);
    expect(problems({ REDIS_URL: 'http://a:1' })).toEqual([
      'REDIS_URL: http:// is not a Redis URL (redis:// or rediss://)',
    ]);
    expect(problems({ REDIS_CLUSTER_NODES: 'redis://a:1,rediss://b:2' })).toEqual([
      expect.stringContaining('mixes redis://'),
    ]);
    expect(problems({ REDIS_CLUSTER_NODES: 'redis://a:1/3' })).toEqual([expect.stringContaining('database 0 only')]);
    expect(problems({ REDIS_CLUSTER_NODES: 'redis://x:1@a:1,redis://b:2' })).toEqual([
      expect.stringContaining('different credentials'),
    ]);
    expect(problems({ REDIS_SENTINELS: 's1:26379' })).toEqual([expect.stringContaining('needs REDIS_SENTINEL_MASTER')]);
    expect(problems({ REDIS_SENTINELS: 's1', REDIS_SENTINEL_MASTER: 'm' })).toEqual([
      'REDIS_SENTINELS: "s1" is not host:port',
    ]);
    expect(problems({ REDIS_URL: 'redis://a:1', REDIS_SENTINEL_MASTER: 'm' })).toEqual([
      'REDIS_SENTINEL_MASTER is set without REDIS_SENTINELS',
    ]);
  });

  it('describes every variable (docs/configuration.md is generated from the descriptions)', () => {
    for (const [name, field] of Object.entries(redisEnvShape))
      expect([name, field.description]).toEqual([name, expect.any(String)]);
  });
});
