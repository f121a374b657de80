import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import {
  CancelRegistry,
  declaresFormElicitation,
  declaresUrlElicitation,
  ElicitationReplies,
  SessionFormElicitation,
  logPasses,
  SessionLogLevels,
  sessionScope,
  SessionUrlElicitation,
  sessionUrlElicitation,
} from './protocol-state.ts';

// Real Redis from tests/setup/global-setup.js, own prefix.
const redisUrl = process.env.TEST_REDIS_URL;
if (!redisUrl) throw new Error('TEST_REDIS_URL is not set: the edge protocol-state tests need Redis');
const prefix = `tps${randomUUID().slice(0, 8)}`;
const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });

afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

describe('log levels', () => {
  it('orders levels by severity', () => {
    expect(logPasses('error', 'warning')).toBe(true);
    expect(logPasses('warning', 'warning')).toBe(true);
    expect(logPasses('info', 'warning')).toBe(false);
    expect(logPasses('emergency', 'debug')).toBe(true);
  });

  it("keeps a session's level, expiring, and nothing for other sessions or callers", async () => {
    const levels = new SessionLogLevels(redis, prefix, 60);
    const scope = sessionScope('key-1', 'srv-1', 'sess-1');
    await levels.set(scope, 'notice');
    expect(await levels.get(scope)).toBe('notice');
    expect(await levels.get(sessionScope('key-1', 'srv-1', 'sess-2'))).toBeUndefined();
    expect(await levels.get(sessionScope('key-2', 'srv-1', 'sess-1'))).toBeUndefined();
    const ttl = await redis.ttl(`${prefix}:mcp-log-level:${scope}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60);
  });
});

describe('URL-mode elicitation', () => {
  it('is declared by an `elicitation.url` object only (an empty `elicitation` means form mode)', () => {
    expect(declaresUrlElicitation({ elicitation: { url: {} } })).toBe(true);
    expect(declaresUrlElicitation({ elicitation: { form: {}, url: {} } })).toBe(true);
    expect(declaresUrlElicitation({ elicitation: {} })).toBe(false);
    expect(declaresUrlElicitation({ elicitation: { url: true } })).toBe(false);
    expect(declaresUrlElicitation({ elicitation: { url: null } })).toBe(false);
    expect(declaresUrlElicitation({})).toBe(false);
    expect(declaresUrlElicitation(undefined)).toBe(false);
    expect(declaresUrlElicitation('elicitation')).toBe(false);
  });

  it('is remembered for a declaring session only, expiring, and nothing for other sessions or callers', async () => {
    const store = new SessionUrlElicitation(redis, prefix, 60);
    const scope = sessionScope('key-1', 'srv-1', 'sess-1');
    await store.declare(scope);
    expect(await sessionUrlElicitation(store, () => scope)()).toBe('error');
    expect(await sessionUrlElicitation(store, () => sessionScope('key-1', 'srv-1', 'sess-2'))()).toBeUndefined();
    expect(await store.declared(sessionScope('key-2', 'srv-1', 'sess-1'))).toBe(false);
    const ttl = await redis.ttl(`${prefix}:mcp-url-elicitation:${scope}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60);
  });
});

describe('CancelRegistry', () => {
  it('aborts the tracked request whose key is published, from any registry on the channel', async () => {
    const subscriber = redis.duplicate();
    const here = new CancelRegistry(redis, prefix);
    const elsewhere = new CancelRegistry(redis, prefix);
    subscriber.on('message', (_channel: string, key: string) => here.onMessage(key));
    await subscriber.subscribe(here.channel);
    try {
      const running = new AbortController();
      const other = new AbortController();
      const untrack = here.track(CancelRegistry.key('key-1', 'srv-1', 'sess-1', 7), running);
      here.track(CancelRegistry.key('key-1', 'srv-1', 'sess-1', '7'), other); // a string id is another request
      await elsewhere.cancel(CancelRegistry.key('key-1', 'srv-1', 'sess-1', 7));
      const deadline = Date.now() + 2000;
      while (!running.signal.aborted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(running.signal.aborted).toBe(true);
      expect(other.signal.aborted).toBe(false);
      // Another session's request with the same id is not running here: nothing is aborted.
      expect(here.onMessage(CancelRegistry.key('key-1', 'srv-1', 'sess-2', 7))).toBe(false);
      expect(CancelRegistry.requestIdOf(CancelRegistry.key('key-1', 'srv-1', 'sess-2', 7))).toBe(7);
      expect(here.onMessage(CancelRegistry.key('key-1', 'srv-1', 'sess-1', '7'))).toBe(true);
      untrack();
      expect(here.size).toBe(1);
    } finally {
      subscriber.disconnect();
    }
  });
});

describe('form-mode elicitation (a person confirming a call)', () => {
  it('is declared by an `elicitation.form` object, or a bare `elicitation` (the rule before modes)', () => {
    expect(declaresFormElicitation({ elicitation: {} })).toBe(true);
    expect(declaresFormElicitation({ elicitation: { form: {} } })).toBe(true);
    expect(declaresFormElicitation({ elicitation: { form: {}, url: {} } })).toBe(true);
    expect(declaresFormElicitation({ elicitation: { url: {} } })).toBe(false);
    expect(declaresFormElicitation({ elicitation: { form: true } })).toBe(false);
    expect(declaresFormElicitation({ sampling: {} })).toBe(false);
    expect(declaresFormElicitation(undefined)).toBe(false);
  });

  it('is remembered for a declaring session only, expiring', async () => {
    const store = new SessionFormElicitation(redis, prefix, 60);
    const scope = sessionScope('key-1', 'srv-1', 'sess-1');
    await store.declare(scope);
    expect(await store.declared(scope)).toBe(true);
    expect(await store.declared(sessionScope('key-2', 'srv-1', 'sess-1'))).toBe(false);
    const ttl = await redis.ttl(`${prefix}:mcp-form-elicitation:${scope}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60);
  });
});

describe('ElicitationReplies', () => {
  it('an answer published by any edge reaches the call waiting for it, and that call only', async () => {
    const subscriber = redis.duplicate();
    const here = new ElicitationReplies(redis, prefix);
    const elsewhere = new ElicitationReplies(redis, prefix);
    subscriber.on('message', (_channel: string, message: string) => here.onMessage(message));
    await subscriber.subscribe(here.channel);
    try {
      const key = ElicitationReplies.key('key-1', 'srv-1', 'sess-1', 'tp-confirm-1');
      const other = ElicitationReplies.key('key-2', 'srv-1', 'sess-1', 'tp-confirm-1');
      const waiting = here.wait(key, undefined, 5_000);
      const never = here.wait(other, AbortSignal.timeout(200), 5_000);
      await elsewhere.reply(key, { result: { action: 'accept', content: {} } });
      expect(await waiting).toEqual({ result: { action: 'accept', content: {} } });
      await expect(never).rejects.toThrow('ended before the answer came');
      expect(here.size).toBe(0);
      expect(here.onMessage(JSON.stringify([key, { result: { action: 'decline' } }]))).toBe(false); // taken once
      expect(here.onMessage('not json')).toBe(false);
    } finally {
      subscriber.disconnect();
    }
  });

  it('gives up after its timeout, or at once when the call already ended', async () => {
    const replies = new ElicitationReplies(redis, prefix);
    await expect(replies.wait('k', undefined, 50)).rejects.toThrow('no answer within');
    await expect(replies.wait('k', AbortSignal.abort(), 5_000)).rejects.toThrow('ended before');
    expect(replies.size).toBe(0);
  });
});
