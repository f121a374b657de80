import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import { redisKeys } from '@toolplane/contracts';
import { Redis } from 'ioredis';
import { DebugSessions } from './debug-sessions.ts';

const redisUrl = process.env.TEST_REDIS_URL;
if (!redisUrl) throw new Error('TEST_REDIS_URL is not set: these tests need Redis');
const redis = new Redis(redisUrl);
const prefix = `tdbg${randomUUID().slice(0, 8)}`;
afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

describe('DebugSessions', () => {
  it('treats a session as open until its end time on the (fake) clock, whatever Redis still holds', async () => {
    let now = 1_000_000;
    const sessions = new DebugSessions(redis, prefix, { maxBodyBytes: 100, now: () => now, cacheMs: 1000 });
    const serverId = randomUUID();
    expect(await sessions.active(serverId)).toBeNull();
    await redis.set(
      redisKeys(prefix).debugSession(serverId),
      JSON.stringify({ sessionId: 's1', endsAt: now + 60_000 }),
    );
    now += 1001; // past the lookup cache (the backstop when no invalidation arrives)
    expect(await sessions.active(serverId)).toEqual({ sessionId: 's1', endsAt: 1_060_000 });
    now += 59_000; // the end time passes; the key is still in Redis
    expect(await sessions.active(serverId)).toBeNull();
  });

  it("keeps the state it read until told that the server's session changed, then reads it again", async () => {
    const now = 1_000_000; // the clock stands still: only invalidations make it read Redis again
    const sessions = new DebugSessions(redis, prefix, { maxBodyBytes: 100, now: () => now });
    const serverId = randomUUID();
    const other = randomUUID();
    const key = redisKeys(prefix).debugSession(serverId);
    expect(await sessions.active(serverId)).toBeNull();
    expect(await sessions.active(other)).toBeNull();
    await redis.set(key, JSON.stringify({ sessionId: 's1', endsAt: now + 60_000 }));
    await redis.set(redisKeys(prefix).debugSession(other), JSON.stringify({ sessionId: 's2', endsAt: now + 60_000 }));
    expect(await sessions.active(serverId)).toBeNull(); // cached
    sessions.invalidate(serverId);
    expect(await sessions.active(serverId)).toEqual({ sessionId: 's1', endsAt: now + 60_000 });
    expect(await sessions.active(other)).toBeNull(); // another server's entry is kept
    await redis.del(key);
    expect(await sessions.active(serverId)).not.toBeNull(); // cached
    sessions.invalidate(undefined); // e.g. after the subscriber connection reconnected: every server
    expect(await sessions.active(serverId)).toBeNull();
    expect(await sessions.active(other)).toEqual({ sessionId: 's2', endsAt: now + 60_000 });
  });

  it('does not cache a lookup that was in flight when an invalidation arrived (it may have read the old state)', async () => {
    const now = 1_000_000;
    const sessions = new DebugSessions(redis, prefix, { maxBodyBytes: 100, now: () => now });
    const serverId = randomUUID();
    const inFlight = sessions.active(serverId); // its GET is sent before the invalidation below
    sessions.invalidate(serverId);
    expect(await inFlight).toBeNull();
    await redis.set(
      redisKeys(prefix).debugSession(serverId),
      JSON.stringify({ sessionId: 's3', endsAt: now + 60_000 }),
    );
    expect(await sessions.active(serverId)).toEqual({ sessionId: 's3', endsAt: now + 60_000 });
  });

  it('captures headers with credentials hidden, bodies capped, and secret values scrubbed', () => {
    const sessions = new DebugSessions(redis, prefix, { maxBodyBytes: 20 });
    const secret = 'sk-live-123456';
    const capture = sessions.exchange(
      {
        method: 'POST',
        url: 'http://x/y',
        headers: { 'x-api-key': secret, authorization: 'Bearer t', 'x-trace': `id ${secret}` },
        body: '{"note":"short"}',
      },
      {
        kind: 'response',
        status: 200,
        contentType: 'application/json',
        body: new TextEncoder().encode(`{"echo":"${secret}","padding":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`),
      },
      [secret],
    );
    expect(capture.request!.headers).toEqual({
      'x-api-key': '[redacted]',
      authorization: '[redacted]',
      'x-trace': 'id [redacted]',
    });
    expect(capture.request!.body).toBe('{"note":"short"}');
    expect(capture.response).toMatchObject({ status: 200, truncated: true });
    expect(capture.response!.body!.length).toBeLessThanOrEqual(20);
    expect(JSON.stringify(capture)).not.toContain(secret);
  });
});
