import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import type { Catalog } from '@toolplane/contracts';
import { Redis } from 'ioredis';
import { RuntimePublisher } from './publisher.ts';

const redisUrl = process.env.TEST_REDIS_URL;
if (!redisUrl) throw new Error('TEST_REDIS_URL must be set (jest globalSetup starts Redis)');
const redis = new Redis(redisUrl);
const prefix = `tpub${randomBytes(3).toString('hex')}`;

afterAll(() => redis.disconnect());

const catalog = (version: number): Catalog => ({
  v: 1,
  serverId: 'server-1',
  workspaceId: 'ws',
  version,
  name: 's',
  isPublic: false,
  mode: 'NORMAL',
  tools: [],
});

describe('RuntimePublisher.publishCatalog', () => {
  it('never replaces a newer live version (publications after commit may arrive out of order), unless forced', async () => {
    const publisher = new RuntimePublisher(redis, prefix);
    await publisher.publishCatalog(catalog(2));
    await publisher.publishCatalog(catalog(1));
    expect(await publisher.publishedCatalogVersion('server-1')).toBe(2);
    await publisher.publishCatalog(catalog(3));
    expect(await publisher.publishedCatalogVersion('server-1')).toBe(3);
    await publisher.publishCatalog(catalog(1), { force: true });
    expect(await publisher.publishedCatalogVersion('server-1')).toBe(1);
    expect(await publisher.publishedCatalogServerIds()).toEqual(['server-1']);
    await publisher.removeCatalog('server-1');
    expect(await publisher.publishedCatalogServerIds()).toEqual([]);
    expect(await publisher.publishedCatalogVersion('server-1')).toBeUndefined();
  });
});
