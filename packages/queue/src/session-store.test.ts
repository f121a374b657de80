import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import { sessionKey, sessionScopes, type SessionOfJob } from '@toolplane/contracts';
import { Redis } from 'ioredis';
import { addToSession, clearSession, MAX_CALL_FIELDS, readSession } from './session-store.ts';

// Sessions' labels on the real Redis from tests/setup/global-setup.js; this file uses its own prefix.
const redisUrl = process.env.TEST_REDIS_URL;
if (!redisUrl) throw new Error('TEST_REDIS_URL is not set: the queue tests need Redis');

const prefix = `ss${randomUUID().slice(0, 8)}`;
const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });

afterAll(async () => {
  const left = await redis.keys(`${prefix}:*`);
  if (left.length) await redis.del(...left);
  redis.disconnect();
});

const T0 = 1_800_000_000_000;
const where = (session: SessionOfJob) => ({ prefix, workspaceId: 'ws-1', session });
const entry = (tool: string, at: number, labels: { label: 'private' | 'untrusted'; source: 'declared' }[]) => ({
  tool,
  serverId: 'srv',
  invocationId: `inv-${tool}-${at}`,
  at,
  labels,
  countCall: true,
});

describe('session labels in Redis', () => {
  it('a result labels every scope of its session; a read of any scope sees them, with their origin', async () => {
    const scopes = sessionScopes({ keyId: `k-${randomUUID()}`, userId: `u-${randomUUID()}` }, 'srv');
    expect(scopes).toHaveLength(2);
    await addToSession(
      redis,
      where({ scopes, ttlSeconds: 600, via: 'mcp:abc' }),
      entry('get_issue', T0, [{ label: 'untrusted', source: 'declared' }]),
    );
    await addToSession(redis, where({ scopes, ttlSeconds: 600 }), entry('get_issue', T0 + 5, []));
    for (const scope of scopes) {
      const view = await readSession(redis, { prefix, workspaceId: 'ws-1', scopes: [scope] });
      expect(view.labels.get('untrusted')).toMatchObject({
        tool: 'get_issue',
        invocationId: `inv-get_issue-${T0}`,
        at: T0,
        via: 'mcp:abc',
      });
      expect(view.labels.has('private')).toBe(false);
      expect(view.calls).toEqual([{ serverId: 'srv', tool: 'get_issue', count: 2, firstAt: T0, lastAt: T0 + 5 }]);
    }
    const ttl = await redis.pttl(sessionKey(prefix, 'ws-1', scopes[0]!));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(600_000);
  });

  it('the same key under another x-username still sees the key session; the person keeps theirs under another key', async () => {
    const keyId = `k-${randomUUID()}`;
    const asAlice = sessionScopes({ keyId, userId: 'alice' }, 'srv');
    await addToSession(
      redis,
      where({ scopes: asAlice, ttlSeconds: 600 }),
      entry('read', T0, [{ label: 'private', source: 'declared' }]),
    );
    const asBob = sessionScopes({ keyId, userId: `bob-${randomUUID()}` }, 'srv');
    expect((await readSession(redis, { prefix, workspaceId: 'ws-1', scopes: asBob })).labels.has('private')).toBe(true);
    const aliceOtherKey = sessionScopes({ keyId: `k-${randomUUID()}`, userId: 'alice' }, 'srv');
    expect(
      (await readSession(redis, { prefix, workspaceId: 'ws-1', scopes: aliceOtherKey })).labels.has('private'),
    ).toBe(true);
    const stranger = sessionScopes({ keyId: `k-${randomUUID()}` }, 'srv');
    expect((await readSession(redis, { prefix, workspaceId: 'ws-1', scopes: stranger })).labels.size).toBe(0);
  });

  it('is bounded: labels one field each, calls counted for at most MAX_CALL_FIELDS tools', async () => {
    const scopes = [`k:${randomUUID()}`];
    for (let i = 0; i < MAX_CALL_FIELDS + 20; i++)
      await addToSession(
        redis,
        where({ scopes, ttlSeconds: 600 }),
        entry(`t${i}`, T0 + i, [{ label: 'private', source: 'declared' }]),
      );
    expect(await redis.hlen(sessionKey(prefix, 'ws-1', scopes[0]!))).toBe(MAX_CALL_FIELDS + 1);
    const view = await readSession(redis, { prefix, workspaceId: 'ws-1', scopes });
    expect(view.labels.get('private')?.tool).toBe(`t${MAX_CALL_FIELDS + 19}`);
  });

  it('a forged or damaged field is ignored, never read as a label; an ended session holds nothing', async () => {
    const scopes = [`k:${randomUUID()}`];
    const key = sessionKey(prefix, 'ws-1', scopes[0]!);
    await redis.hset(
      key,
      'l:private',
      '{not json',
      'l:untrusted',
      JSON.stringify({ label: 'other' }),
      'c:x',
      'nonsense',
    );
    expect((await readSession(redis, { prefix, workspaceId: 'ws-1', scopes })).labels.size).toBe(0);
    await addToSession(
      redis,
      where({ scopes, ttlSeconds: 600 }),
      entry('read', T0, [{ label: 'private', source: 'declared' }]),
    );
    expect((await readSession(redis, { prefix, workspaceId: 'ws-1', scopes })).labels.size).toBe(1);
    expect(await clearSession(redis, { prefix, workspaceId: 'ws-1', scopes })).toBe(1);
    expect((await readSession(redis, { prefix, workspaceId: 'ws-1', scopes })).labels.size).toBe(0);
  });

  it('nothing to write (no label, no call counted) sends no command', async () => {
    const scopes = [`k:${randomUUID()}`];
    await addToSession(redis, where({ scopes, ttlSeconds: 600 }), { ...entry('x', T0, []), countCall: false });
    expect(await redis.exists(sessionKey(prefix, 'ws-1', scopes[0]!))).toBe(0);
  });
});
