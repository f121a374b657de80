import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import { subscriptionsKey, subscriptionStreamKey, type EventSubscription } from '@toolplane/contracts';
import { Redis } from 'ioredis';
import {
  canonicalJson,
  OCCURRENCE_FIELD,
  readStream,
  readSubscription,
  refreshSubscription,
  registerSubscription,
  removeSubscription,
  streamTail,
  subscriptionIdOf,
  SubscriptionLimitError,
  waitForEntries,
} from './event-store.ts';

// MCP Events subscriptions on the real Redis from tests/setup/global-setup.js; each case its own instance id.
const redisUrl = process.env.TEST_REDIS_URL;
if (!redisUrl) throw new Error('TEST_REDIS_URL is not set: the queue tests need Redis');

const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
const instances: string[] = [];

afterAll(async () => {
  for (const instanceId of instances) {
    const left = await redis.keys(`{ev:${instanceId}}:*`);
    if (left.length) await redis.del(...left);
  }
  redis.disconnect();
});

const NOW = 1_800_000_000_000;

function subscription(over: Partial<EventSubscription> = {}): EventSubscription {
  const instanceId = over.instanceId ?? `inst-${randomUUID()}`;
  instances.push(instanceId);
  const args = over.arguments ?? { repository: 'acme/app' };
  const parts = {
    workspaceId: 'ws-1',
    serverId: 'srv-1',
    principal: { keyId: 'key-1' },
    name: 'github.push',
    arguments: args,
    delivery: 'poll' as const,
  };
  return {
    v: 1,
    id: subscriptionIdOf(parts),
    ...parts,
    instanceId,
    createdAt: NOW,
    expiresAt: NOW + 60_000,
    ...over,
  };
}

const occurrence = (eventId: string) => JSON.stringify({ eventId, name: 'github.push', timestamp: 'T', data: {} });

describe('subscription ids', () => {
  it('are the same for the same parts whatever the order of argument keys, and differ by principal or callback', () => {
    const base = {
      workspaceId: 'ws',
      serverId: 'srv',
      principal: { keyId: 'k' },
      name: 'n',
      arguments: { a: 1, b: { y: 2, x: 1 } },
      delivery: 'webhook' as const,
      callbackUrl: 'https://a.example/h',
    };
    const same = subscriptionIdOf({ ...base, arguments: { b: { x: 1, y: 2 }, a: 1 } });
    expect(same).toBe(subscriptionIdOf(base));
    expect(same).toMatch(/^sub_[0-9a-f]{32}$/);
    expect(subscriptionIdOf({ ...base, principal: { keyId: 'other' } })).not.toBe(same);
    expect(subscriptionIdOf({ ...base, callbackUrl: 'https://b.example/h' })).not.toBe(same);
    expect(canonicalJson({ b: [1, { d: 1, c: 2 }], a: null })).toBe('{"a":null,"b":[1,{"c":2,"d":1}]}');
  });
});

describe('subscriptions in Redis', () => {
  it('registers once, refreshes in place (createdAt kept), and removes the subscription with its stream', async () => {
    const sub = subscription();
    expect(await registerSubscription(redis, sub, { max: 10, now: NOW })).toEqual({ created: true });
    const again = await registerSubscription(
      redis,
      { ...sub, createdAt: NOW + 5, expiresAt: NOW + 90_000 },
      {
        max: 10,
        now: NOW + 5,
      },
    );
    expect(again.created).toBe(false);
    expect(await readSubscription(redis, sub.instanceId, sub.id)).toMatchObject({
      createdAt: NOW,
      expiresAt: NOW + 90_000,
    });
    expect(await refreshSubscription(redis, sub.instanceId, sub.id, { expiresAt: NOW + 120_000, now: NOW + 10 })).toBe(
      true,
    );
    expect((await readSubscription(redis, sub.instanceId, sub.id))?.expiresAt).toBe(NOW + 120_000);
    await redis.xadd(subscriptionStreamKey(sub.instanceId, sub.id), '*', OCCURRENCE_FIELD, occurrence('e1'));
    expect(await removeSubscription(redis, sub.instanceId, sub.id)).toBe(true);
    expect(await redis.exists(subscriptionStreamKey(sub.instanceId, sub.id))).toBe(0);
    expect(await readSubscription(redis, sub.instanceId, sub.id)).toBeUndefined();
    expect(await removeSubscription(redis, sub.instanceId, sub.id)).toBe(false);
  });

  it('a lapsed subscription is not refreshed; a new one sweeps the expired ones and is refused past the cap', async () => {
    const first = subscription({ expiresAt: NOW + 1000 });
    await registerSubscription(redis, first, { max: 2, now: NOW });
    await redis.xadd(subscriptionStreamKey(first.instanceId, first.id), '*', OCCURRENCE_FIELD, occurrence('old'));
    expect(
      await refreshSubscription(redis, first.instanceId, first.id, { expiresAt: NOW + 9000, now: NOW + 2000 }),
    ).toBe(false);
    const second = subscription({ instanceId: first.instanceId, arguments: { repository: 'acme/two' } });
    second.id = `${second.id}-2`;
    const third = { ...second, id: `${second.id}-3` };
    // At NOW + 2000 the first has lapsed: registering the second sweeps it (and its stream) away.
    expect((await registerSubscription(redis, second, { max: 2, now: NOW + 2000 })).created).toBe(true);
    expect(await redis.hexists(subscriptionsKey(first.instanceId), first.id)).toBe(0);
    expect(await redis.exists(subscriptionStreamKey(first.instanceId, first.id))).toBe(0);
    await registerSubscription(redis, third, { max: 2, now: NOW + 2000 });
    const fourth = { ...second, id: `${second.id}-4` };
    await expect(registerSubscription(redis, fourth, { max: 2, now: NOW + 2000 })).rejects.toBeInstanceOf(
      SubscriptionLimitError,
    );
  });
});

describe('subscriptions per caller', () => {
  it("refuses a caller's new subscription past its own bound; others, and a refresh of its own, still pass", async () => {
    const first = subscription({ owner: 'caller-a' });
    const of = (owner: string, n: number) => ({
      ...first,
      id: `${first.id}-${owner}-${n}`,
      arguments: { repository: `acme/${n}` },
      owner,
    });
    const opts = { max: 10, perOwner: 2, now: NOW };
    await registerSubscription(redis, first, opts);
    await registerSubscription(redis, of('caller-a', 2), opts);
    const refused = registerSubscription(redis, of('caller-a', 3), opts);
    await expect(refused).rejects.toMatchObject({ scope: 'caller', max: 2 });
    await expect(refused).rejects.toThrow('You already have your most subscriptions');
    expect((await registerSubscription(redis, of('caller-b', 1), opts)).created).toBe(true);
    expect((await registerSubscription(redis, { ...first, expiresAt: NOW + 90_000 }, opts)).created).toBe(false);
    // Once one of its own lapses, the caller may subscribe again.
    await registerSubscription(redis, { ...first, expiresAt: NOW + 1 }, opts);
    expect((await registerSubscription(redis, of('caller-a', 3), { ...opts, now: NOW + 2 })).created).toBe(true);
  });
});

describe('subscription streams', () => {
  it('reads from a cursor in order, in pages (hasMore), skipping entries that are not occurrences', async () => {
    const sub = subscription();
    const key = subscriptionStreamKey(sub.instanceId, sub.id);
    expect(await streamTail(redis, sub.instanceId, sub.id)).toBe('0-0');
    const ids: string[] = [];
    for (const e of ['e1', 'e2', 'e3']) ids.push((await redis.xadd(key, '*', OCCURRENCE_FIELD, occurrence(e)))!);
    await redis.xadd(key, '*', 'other', 'x');
    expect(await streamTail(redis, sub.instanceId, sub.id)).not.toBe(ids[2]);
    const first = await readStream(redis, sub, { cursor: '0-0', count: 2 });
    expect(first.entries.map((e) => e.occurrence.eventId)).toEqual(['e1', 'e2']);
    expect(first).toMatchObject({ cursor: ids[1], hasMore: true, truncated: false });
    const rest = await readStream(redis, sub, { cursor: first.cursor, count: 2 });
    expect(rest.entries.map((e) => e.occurrence.eventId)).toEqual(['e3']);
    expect(rest.hasMore).toBe(false);
    const none = await readStream(redis, sub, { cursor: ids[2]!, count: 5 });
    expect(none.entries).toEqual([]);
  });

  it('says truncated when entries after the cursor were trimmed, or skipped by a maxAge floor', async () => {
    const sub = subscription();
    const key = subscriptionStreamKey(sub.instanceId, sub.id);
    const ids: string[] = [];
    for (const e of ['a', 'b', 'c', 'd']) ids.push((await redis.xadd(key, '*', OCCURRENCE_FIELD, occurrence(e)))!);
    await redis.xtrim(key, 'MAXLEN', 2); // a and b dropped
    const behind = await readStream(redis, sub, { cursor: ids[0]!, count: 10 });
    expect(behind.truncated).toBe(true);
    expect(behind.entries.map((e) => e.occurrence.eventId)).toEqual(['c', 'd']);
    const atHead = await readStream(redis, sub, { cursor: ids[2]!, count: 10 });
    expect(atHead.truncated).toBe(false);
    expect(atHead.entries.map((e) => e.occurrence.eventId)).toEqual(['d']);
    const floored = await readStream(redis, sub, { cursor: ids[2]!, count: 10, minId: ids[3] });
    expect(floored.truncated).toBe(false); // nothing between the cursor and the floor
    const skipped = await readStream(redis, sub, {
      cursor: ids[2]!,
      count: 10,
      minId: `${BigInt(ids[3]!.split('-')[0]!) + 1n}-0`,
    });
    expect(skipped.truncated).toBe(true); // d is before the floor
    expect(skipped.entries).toEqual([]);
    const emptied = subscription();
    const only = (await redis.xadd(
      subscriptionStreamKey(emptied.instanceId, emptied.id),
      '*',
      OCCURRENCE_FIELD,
      occurrence('x'),
    ))!;
    await redis.xtrim(subscriptionStreamKey(emptied.instanceId, emptied.id), 'MAXLEN', 0);
    expect((await readStream(redis, emptied, { cursor: '0-0', count: 10 })).truncated).toBe(true);
    expect((await readStream(redis, emptied, { cursor: only, count: 10 })).truncated).toBe(false);
    expect(floored.entries.map((e) => e.occurrence.eventId)).toEqual(['d']);
  });

  it('a blocking read wakes when an entry is appended', async () => {
    const sub = subscription();
    const blocking = redis.duplicate();
    try {
      const waiting = waitForEntries(blocking, sub, { cursor: '0-0', blockMs: 60_000, count: 10 });
      await redis.xadd(subscriptionStreamKey(sub.instanceId, sub.id), '*', OCCURRENCE_FIELD, occurrence('w'));
      const { raw } = await waiting;
      expect(raw).toHaveLength(1);
    } finally {
      blocking.disconnect();
    }
  });
});
