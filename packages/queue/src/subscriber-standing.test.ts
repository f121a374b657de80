import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { afterAll, describe, expect, it } from '@jest/globals';
import { delegationKeys, redisKeys, type EventSubscription } from '@toolplane/contracts';
import { Redis } from 'ioredis';
import {
  announcedStandings,
  subscriberRefusal,
  SubscriberStandings,
  SubscriberStateUnavailable,
} from './subscriber-standing.ts';

// A subscriber judged from what Redis holds now, on the real Redis of tests/setup/global-setup.js; each
// case under a prefix of its own.
const redisUrl = process.env.TEST_REDIS_URL;
if (!redisUrl) throw new Error('TEST_REDIS_URL is not set: the queue tests need Redis');
const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });

afterAll(() => redis.disconnect());

const NOW = 1_800_000_000_000;

function subscription(over: Partial<EventSubscription> = {}): EventSubscription {
  return {
    v: 1,
    id: 'sub_1',
    workspaceId: 'w1',
    serverId: 's1',
    instanceId: 'i1',
    name: 'github.push',
    arguments: {},
    principal: { keyId: 'k1' },
    delivery: 'webhook',
    createdAt: NOW,
    expiresAt: NOW + 60_000,
    credential: { keyHash: 'h1' },
    ...over,
  };
}

/** A prefix of published state: complete, with key `k1` (hash `h1`) on every server and the person ada. */
async function published(): Promise<string> {
  const prefix = `standing-${randomUUID()}`;
  const keys = redisKeys(prefix);
  await redis.set(keys.runtimeState, '{}');
  await redis.hset(keys.apiKeys, 'h1', JSON.stringify({ keyId: 'k1', workspaceId: 'w1', scopes: ['runtime'] }));
  await redis.hset(keys.users('w1'), 'ada', 'u-ada');
  return prefix;
}

describe('subscriberRefusal', () => {
  it('a standing key, person and token: no refusal; an anonymous caller needs none', async () => {
    const prefix = await published();
    const sub = subscription({
      principal: { keyId: 'k1', username: 'ada', tokenId: 't1' },
      credential: { keyHash: 'h1', userId: 'u-ada', tokenChain: ['t1'], expiresAt: NOW + 1 },
    });
    expect(await subscriberRefusal(redis, prefix, sub, NOW)).toBeUndefined();
    const anonymous = subscription({ principal: { subject: 'anonymous' }, credential: undefined });
    expect(await subscriberRefusal(redis, prefix, anonymous, NOW)).toBeUndefined();
  });

  it('refuses a key deleted, revoked, without runtime, limited to other servers', async () => {
    const prefix = await published();
    const keys = redisKeys(prefix);
    const record = { keyId: 'k1', workspaceId: 'w1', scopes: ['runtime'] };
    const cases: [object | null, RegExp][] = [
      [null, /revoked or deleted/],
      [{ ...record, revoked: true }, /revoked or deleted/],
      [{ ...record, scopes: ['management'] }, /no "runtime" scope/],
      [{ ...record, serverIds: ['s2'] }, /limited to other MCP servers/],
    ];
    for (const [value, reason] of cases) {
      if (value) await redis.hset(keys.apiKeys, 'h1', JSON.stringify(value));
      else await redis.hdel(keys.apiKeys, 'h1');
      expect(await subscriberRefusal(redis, prefix, subscription(), NOW)).toMatch(reason);
    }
  });

  it('refuses a narrowed token revoked (or one of its chain), a token expired, a person gone', async () => {
    const prefix = await published();
    const chained = subscription({ credential: { keyHash: 'h1', tokenChain: ['t0', 't1'] } });
    await redis.set(delegationKeys(prefix).revoked('t0'), '1');
    expect(await subscriberRefusal(redis, prefix, chained, NOW)).toMatch(/narrowed token was revoked/);
    const expired = subscription({ credential: { keyHash: 'h1', expiresAt: NOW } });
    expect(await subscriberRefusal(redis, prefix, expired, NOW)).toMatch(/expired/);
    const acting = subscription({
      principal: { keyId: 'k1', username: 'ada' },
      credential: { keyHash: 'h1', userId: 'u-old' },
    });
    expect(await subscriberRefusal(redis, prefix, acting, NOW)).toMatch(/"ada" it acts for is no longer/);
    const legacy = subscription({ credential: undefined });
    expect(await subscriberRefusal(redis, prefix, legacy, NOW)).toMatch(/before subscriptions kept their credential/);
  });

  it('a miss while the published state is incomplete is no verdict', async () => {
    const prefix = await published();
    await redis.del(redisKeys(prefix).runtimeState, redisKeys(prefix).apiKeys);
    await expect(subscriberRefusal(redis, prefix, subscription(), NOW)).rejects.toBeInstanceOf(
      SubscriberStateUnavailable,
    );
  });
});

describe('SubscriberStandings', () => {
  /** Redis as the judgement sees it, counting the reads it makes. */
  function counted(onRead?: () => void) {
    const reads = { n: 0 };
    const client = new Proxy(redis, {
      get(target, name, receiver) {
        const value = Reflect.get(target, name, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (name === 'hget' || name === 'exists') {
            reads.n++;
            onRead?.();
          }
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    return { client, reads };
  }

  it('a subscriber that stood reads nothing at its next delivery, until a change is announced', async () => {
    const prefix = await published();
    const standings = new SubscriberStandings({ listening: () => true });
    const { client, reads } = counted();
    const sub = subscription();
    expect(await standings.refusal(client, prefix, sub, NOW)).toBeUndefined();
    const first = reads.n;
    expect(first).toBeGreaterThan(0);
    // The key is removed without an announcement: the kept judgement holds, nothing is read.
    await redis.hdel(redisKeys(prefix).apiKeys, 'h1');
    expect(await standings.refusal(client, prefix, sub, NOW)).toBeUndefined();
    expect(reads.n).toBe(first);
    // Announced: judged again from Redis, and refused.
    standings.forget();
    expect(await standings.refusal(client, prefix, sub, NOW)).toMatch(/revoked or deleted/);
    expect(reads.n).toBeGreaterThan(first);
  });

  it('another credential under the same subscription id is judged on its own; a token past its expiry is refused', async () => {
    const prefix = await published();
    const standings = new SubscriberStandings({ listening: () => true });
    const sub = subscription({ credential: { keyHash: 'h1', expiresAt: NOW + 10 } });
    expect(await standings.refusal(redis, prefix, sub, NOW)).toBeUndefined();
    expect(await standings.refusal(redis, prefix, sub, NOW + 10)).toMatch(/expired/);
    const other = subscription({ credential: { keyHash: 'h2' } });
    expect(await standings.refusal(redis, prefix, other, NOW)).toMatch(/revoked or deleted/);
  });

  it('keeps nothing while announcements cannot be heard, nor a judgement made across one', async () => {
    const prefix = await published();
    let listening = false;
    const deaf = new SubscriberStandings({ listening: () => listening });
    const { client, reads } = counted();
    await deaf.refusal(client, prefix, subscription(), NOW);
    await deaf.refusal(client, prefix, subscription(), NOW);
    expect(deaf.size).toBe(0);
    const once = reads.n / 2;
    listening = true;
    await deaf.refusal(client, prefix, subscription(), NOW);
    expect(deaf.size).toBe(1);
    expect(reads.n).toBe(3 * once);

    // A change announced while the judgement reads Redis: what it read may be older than the change.
    const racing = new SubscriberStandings({ listening: () => true });
    const announcedMidway = counted(() => racing.forget());
    expect(await racing.refusal(announcedMidway.client, prefix, subscription(), NOW)).toBeUndefined();
    expect(racing.size).toBe(0);
  });

  it('announcedStandings forgets at an announced change and when its connection drops or is back', async () => {
    const prefix = await published();
    const events = Object.assign(new EventEmitter(), { status: 'ready' });
    const standings = announcedStandings(events, ['key-changed', 'standing-changed']);
    const judged = () => standings.refusal(redis, prefix, subscription(), NOW);
    expect(await judged()).toBeUndefined();
    expect(standings.size).toBe(1);
    events.emit('message', 'catalog-changed', 's1');
    expect(standings.size).toBe(1);
    for (const [event, ...args] of [
      ['message', 'key-changed', 'h1'],
      ['message', 'standing-changed', 'x'],
      ['close'],
      ['ready'],
    ]) {
      events.emit(event!, ...args);
      expect(standings.size).toBe(0);
      await judged();
      expect(standings.size).toBe(1);
    }
    events.status = 'reconnecting';
    standings.forget();
    expect(await judged()).toBeUndefined();
    expect(standings.size).toBe(0);
  });
});
