import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import { redisKeys, type Catalog } from '@toolplane/contracts';
import { Redis } from 'ioredis';
import { PlanCache } from './catalog-cache.ts';

const redisUrl = process.env.TEST_REDIS_URL;
if (!redisUrl) throw new Error('TEST_REDIS_URL is not set: these tests need Redis');
const redis = new Redis(redisUrl);
const prefix = `tpc${randomUUID().slice(0, 8)}`;
afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

function catalog(serverId: string, version: number, url: string): Catalog {
  return {
    v: 1,
    serverId,
    workspaceId: 'w',
    version,
    name: 's',
    isPublic: false,
    mode: 'NORMAL',
    tools: [
      {
        tool: { name: 'get', description: 'd', inputSchema: { type: 'object' } },
        plan: { kind: 'http', method: 'GET', url, params: [], authHeaders: {}, secrets: {} },
      },
    ],
  };
}

describe('PlanCache', () => {
  it('serves each call the plan of the catalog version it was validated against, across an update', async () => {
    const serverId = randomUUID();
    const keys = redisKeys(prefix);
    for (const [v, url] of [
      [1, 'http://old'],
      [2, 'http://new'],
    ] as const) {
      const json = JSON.stringify(catalog(serverId, v, url));
      await redis.set(keys.catalogVersion(serverId, v), json);
      await redis.set(keys.catalog(serverId), json);
    }
    const plans = new PlanCache(redis, prefix);
    expect((await plans.get(serverId, 2, 'get'))?.plan).toMatchObject({ url: 'http://new' });
    expect((await plans.get(serverId, 1, 'get'))?.plan).toMatchObject({ url: 'http://old' });
    expect(await plans.get(serverId, 3, 'get')).toBeUndefined();
    expect(await plans.get(serverId, 2, 'nope')).toBeUndefined();
  });
});
