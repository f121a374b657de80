import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import { approvalKey, approvalPendingKey } from '@toolplane/contracts';
import { Redis } from 'ioredis';
import { decideApproval, parkApproval, requestApproval, restoreApproval, startApprovedJob } from './approvals.ts';

// The approval scripts on the real Redis from tests/setup/global-setup.js; this file uses its own prefix.
const redisUrl = process.env.TEST_REDIS_URL;
if (!redisUrl) throw new Error('TEST_REDIS_URL is not set: the queue tests need Redis');

const prefix = `ap${randomUUID().slice(0, 8)}`;
const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });

afterAll(async () => {
  const left = await redis.keys(`${prefix}:*`);
  if (left.length) await redis.del(...left);
  redis.disconnect();
});

const newKey = () => approvalKey(prefix, 'ws-1', randomUUID());
const T0 = 1_800_000_000_000;
const ask = (key: string, now = T0, newId: string = randomUUID()) =>
  requestApproval(redis, key, { newId, now, expiresInSeconds: 60 });
const decided = (key: string, id: string, decision: 'granted' | 'denied' | 'expired', now = T0 + 1000) =>
  decideApproval(redis, key, { id, decision, expiresAt: T0 + 60_000, expiresInSeconds: 60, now, comment: 'why' });
const decide = async (key: string, id: string, decision: 'granted' | 'denied' | 'expired', now = T0 + 1000) =>
  (await decided(key, id, decision, now)).outcome;
/** A task's call asking: the request holds it (`parkTask`, its job's id). */
const askAsTask = (key: string, task: string, now = T0, newId: string = randomUUID()) =>
  requestApproval(redis, key, { newId, now, expiresInSeconds: 60, parkTask: task });
const start = (key: string, id: string, invocationId: string, now = T0 + 2000) =>
  startApprovedJob(redis, key, { id, invocationId, now });

describe('approval requests in Redis', () => {
  it('a first ask creates a request; asking again says it is pending, with no second request', async () => {
    const key = newKey();
    const first = await ask(key, T0, 'a1');
    expect(first).toEqual({ kind: 'created', id: 'a1' });
    expect(await ask(key, T0 + 10, 'a2')).toEqual({ kind: 'pending', id: 'a1' });
    expect(await redis.hget(key, 'state')).toBe('pending');
    expect(await redis.pttl(key)).toBeGreaterThan(60_000);
  });

  it('a granted request is spent by exactly one ask; the next ask makes a new request', async () => {
    const key = newKey();
    await ask(key, T0, 'g1');
    expect(await decide(key, 'g1', 'granted')).toBe('ok');
    const asks = await Promise.all([ask(key, T0 + 2000, 'x1'), ask(key, T0 + 2000, 'x2'), ask(key, T0 + 2000, 'x3')]);
    expect(asks.filter((a) => a.kind === 'granted')).toEqual([{ kind: 'granted', id: 'g1' }]);
    expect(asks.filter((a) => a.kind === 'created')).toHaveLength(1);
    expect(asks.filter((a) => a.kind === 'pending')).toHaveLength(1);
  });

  it('a decision is written once: a second decision answers the state the first wrote', async () => {
    const key = newKey();
    await ask(key, T0, 'd1');
    const [a, b] = await Promise.all([decide(key, 'd1', 'granted'), decide(key, 'd1', 'denied')]);
    expect([a, b].filter((o) => o === 'ok')).toHaveLength(1);
    expect([a, b].filter((o) => o !== 'ok')[0]).toBe(a === 'ok' ? 'granted' : 'denied');
    expect(await decide(key, 'other', 'granted')).toBe('superseded');
  });

  it('a denial is told to every retry until the request expires, with its comment; then a new request', async () => {
    const key = newKey();
    await ask(key, T0, 'n1');
    await decide(key, 'n1', 'denied');
    expect(await ask(key, T0 + 5000)).toEqual({ kind: 'denied', id: 'n1', comment: 'why' });
    expect(await ask(key, T0 + 6000)).toEqual({ kind: 'denied', id: 'n1', comment: 'why' });
    expect(await ask(key, T0 + 60_000, 'n2')).toEqual({ kind: 'created', id: 'n2' });
  });

  it('past its expiry a pending or granted request is expired, told once; approving it then is refused', async () => {
    const pending = newKey();
    await ask(pending, T0, 'e1');
    expect(await ask(pending, T0 + 60_000)).toEqual({ kind: 'expired', id: 'e1', found: true });
    expect(await decide(pending, 'e1', 'granted', T0 + 60_001)).toBe('expired');
    expect(await ask(pending, T0 + 60_002, 'e2')).toEqual({ kind: 'created', id: 'e2' });

    const granted = newKey();
    await ask(granted, T0, 'e3');
    await decide(granted, 'e3', 'granted');
    expect(await ask(granted, T0 + 61_000)).toEqual({ kind: 'expired', id: 'e3', found: true });

    const late = newKey();
    await ask(late, T0, 'e4');
    expect(await decide(late, 'e4', 'granted', T0 + 60_000)).toBe('expired');
    expect(await ask(late, T0 + 60_001)).toEqual({ kind: 'expired', id: 'e4', found: false });
  });

  it('a spent approval is given back only to its own request, once', async () => {
    const key = newKey();
    await ask(key, T0, 'r1');
    await decide(key, 'r1', 'granted');
    expect(await ask(key, T0 + 2000)).toEqual({ kind: 'granted', id: 'r1' });
    expect(await restoreApproval(redis, key, 'other')).toBe(false);
    expect(await restoreApproval(redis, key, 'r1')).toBe(true);
    expect(await restoreApproval(redis, key, 'r1')).toBe(false);
    expect(await ask(key, T0 + 3000)).toEqual({ kind: 'granted', id: 'r1' });
  });

  it('a request Redis lost is written again by its decision', async () => {
    const key = newKey();
    expect(await decide(key, 'l1', 'granted')).toBe('ok');
    expect(await redis.hgetall(key)).toEqual({
      id: 'l1',
      state: 'granted',
      expiresAt: String(T0 + 60_000),
      comment: 'why',
    });
    expect(await ask(key, T0 + 2000)).toEqual({ kind: 'granted', id: 'l1' });
  });

  it('a task holds its request: a grant is spent by its job only, once (a re-delivery runs on), never by a retry', async () => {
    const key = newKey();
    expect(await askAsTask(key, 'job-1', T0, 'h1')).toEqual({
      kind: 'created',
      id: 'h1',
      parked: { expiresAt: T0 + 60_000 },
    });
    expect(await askAsTask(key, 'job-2', T0 + 10)).toEqual({ kind: 'pending', id: 'h1', task: 'job-1' });
    expect(await parkApproval(redis, key, { id: 'h1', taskId: 'job-1', queuePrefix: 'bull-0' })).toBe('pending');
    expect(await start(key, 'h1', 'job-1')).toEqual({ kind: 'pending' });
    expect(await decided(key, 'h1', 'granted')).toEqual({
      outcome: 'ok',
      held: { taskId: 'job-1', queuePrefix: 'bull-0' },
    });
    expect(await ask(key, T0 + 2000)).toEqual({ kind: 'held', id: 'h1', task: 'job-1' });
    const [a, b] = await Promise.all([start(key, 'h1', 'job-1'), start(key, 'h1', 'job-other')]);
    expect([a, b]).toEqual([{ kind: 'run' }, { kind: 'spent' }]);
    expect(await start(key, 'h1', 'job-1')).toEqual({ kind: 'run' });
    expect(await ask(key, T0 + 3000, 'next')).toEqual({ kind: 'created', id: 'next' });
  });

  it('a task joins a pending request nobody holds; its job finds a denial or the expiry, and runs nothing', async () => {
    const plain = newKey();
    await ask(plain, T0, 'j1');
    expect(await askAsTask(plain, 'job-j', T0 + 10)).toEqual({
      kind: 'pending',
      id: 'j1',
      parked: { expiresAt: T0 + 60_000 },
    });
    await decide(plain, 'j1', 'denied');
    expect(await start(plain, 'j1', 'job-j')).toEqual({ kind: 'denied', comment: 'why' });
    const late = newKey();
    await askAsTask(late, 'job-l', T0, 'l2');
    expect(await start(late, 'l2', 'job-l', T0 + 60_000)).toEqual({ kind: 'expired', found: true });
    expect(await start(late, 'l2', 'job-l', T0 + 60_001)).toEqual({ kind: 'expired', found: false });
    expect(await start(late, 'other', 'job-l')).toEqual({ kind: 'lost' });
  });

  it('a held request whose job could not be queued lets go of its task: a retry may then spend its grant', async () => {
    const key = newKey();
    await askAsTask(key, 'job-f', T0, 'f1');
    expect(await parkApproval(redis, key, { id: 'f1', taskId: 'someone-else', queuePrefix: '' })).toBe('');
    expect(await parkApproval(redis, key, { id: 'f1', taskId: 'job-f', queuePrefix: '' })).toBe('pending');
    expect(await decided(key, 'f1', 'granted')).toEqual({ outcome: 'ok' });
    expect(await ask(key, T0 + 2000)).toEqual({ kind: 'granted', id: 'f1' });
  });

  it("caps one caller's undecided requests for a tool: a repeat asks about its own; a decision or expiry frees a place", async () => {
    const cap = { key: approvalPendingKey(prefix, 'ws-1', `owner-${randomUUID()}`), max: 2 };
    const capped = (key: string, now = T0, newId: string = randomUUID()) =>
      requestApproval(redis, key, { newId, now, expiresInSeconds: 60, cap });
    const [k1, k2, k3] = [newKey(), newKey(), newKey()];
    expect(await capped(k1, T0, 'c1')).toEqual({ kind: 'created', id: 'c1' });
    expect(await capped(k2, T0, 'c2')).toEqual({ kind: 'created', id: 'c2' });
    expect(await capped(k3, T0, 'c3')).toEqual({ kind: 'capped', pending: 2 });
    expect(await redis.exists(k3)).toBe(0);
    // The same call again is told about its own request, never capped.
    expect(await capped(k1, T0 + 10)).toEqual({ kind: 'pending', id: 'c1' });
    // A decided request no longer counts.
    expect(await decide(k1, 'c1', 'denied')).toBe('ok');
    expect(await capped(k3, T0 + 20, 'c3')).toEqual({ kind: 'created', id: 'c3' });
    expect((await capped(newKey(), T0 + 30)).kind).toBe('capped');
    // Past their expiry, none counts.
    expect((await capped(newKey(), T0 + 61_000)).kind).toBe('created');
    expect(await redis.zcard(cap.key)).toBe(1);
  });
});
