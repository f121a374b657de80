import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from '@jest/globals';
import { TransientError } from '@toolplane/errors';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { lostJobMessage, RequestReplyClient } from './reply-channel.ts';
import { ReplyingConsumer } from './reply-consumer.ts';

// Real Redis from tests/setup/global-setup.js; each test uses its own prefix and queue.
const redisUrl = process.env.TEST_REDIS_URL;
if (!redisUrl) throw new Error('TEST_REDIS_URL is not set: the queue tests need Redis');

const Job = z.object({ id: z.string(), n: z.number(), replyTo: z.string(), deadlineAt: z.number() });
type Job = z.infer<typeof Job>;
const Reply = z.object({ id: z.string(), doubled: z.number() });
type Reply = z.infer<typeof Reply>;

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function setup(opts: { consumer: boolean; handle?: (j: Job) => Promise<Reply> }) {
  const prefix = `tq${randomUUID().slice(0, 8)}`;
  const redis = new Redis(redisUrl!, { maxRetriesPerRequest: null });
  const queueName = 'q';
  const client = new RequestReplyClient<Job, Reply>({
    redis,
    prefix,
    clientId: `c-${randomUUID()}`,
    queueName,
    jobName: 'double',
    reply: Reply,
    idOf: (r) => r.id,
    // Short, so the checks run during every test here (a job that is running or answered is never failed).
    checkIntervalMs: 100,
  });
  const invalid: unknown[] = [];
  const consumer = opts.consumer
    ? new ReplyingConsumer<Job, Reply>({
        redis,
        prefix,
        queueName,
        concurrency: 4,
        job: Job,
        handle: opts.handle ?? (async (j) => ({ id: j.id, doubled: j.n * 2 })),
        onInvalidJob: (_id, issues) => invalid.push(issues),
      })
    : undefined;
  consumer?.start();
  cleanups.push(async () => {
    await consumer?.close();
    await client.close();
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });
  return { client, consumer, invalid, redis, prefix };
}

describe('request/reply over BullMQ with a per-client reply channel', () => {
  it('matches every reply to its request, concurrently', async () => {
    const { client } = setup({ consumer: true });
    const replies = await Promise.all(
      Array.from({ length: 50 }, (_, n) => {
        const id = randomUUID();
        return client.request(id, { id, n, replyTo: client.clientId, deadlineAt: Date.now() + 10_000 });
      }),
    );
    expect(replies.map((r) => r.doubled)).toEqual(Array.from({ length: 50 }, (_, n) => n * 2));
    expect(client.inFlight).toBe(0);
  });

  it('leaves no job data behind in Redis once answered', async () => {
    const { client, redis, prefix } = setup({ consumer: true });
    const id = randomUUID();
    await client.request(id, { id, n: 1, replyTo: client.clientId, deadlineAt: Date.now() + 10_000 });
    // The worker removes the job just after publishing the reply: wait for it (not for a fixed time).
    const deadline = Date.now() + 10_000;
    while ((await redis.exists(`${prefix}:q:${id}`)) !== 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(await redis.exists(`${prefix}:q:${id}`)).toBe(0);
  });

  it('rejects with a transient error at the deadline when nobody answers', async () => {
    const { client } = setup({ consumer: false });
    const id = randomUUID();
    await expect(
      client.request(id, { id, n: 1, replyTo: client.clientId, deadlineAt: Date.now() + 200 }),
    ).rejects.toBeInstanceOf(TransientError);
    expect(client.inFlight).toBe(0);
  });

  it('fails requests in flight at their own deadlines, earliest first, with one timer for all of them', async () => {
    const { client } = setup({ consumer: false });
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const failed: string[] = [];
    const call = (name: string, ms: number) => {
      const id = randomUUID();
      return client
        .request(id, { id, n: 1, replyTo: client.clientId, deadlineAt: Date.now() + ms })
        .catch((e: unknown) => void failed.push(`${name} ${(e as TransientError).code}`));
    };
    // The later deadline first: the earlier one, added after it, still fails first.
    const calls = [
      call('late', 1500),
      ...Array.from({ length: 20 }, (_, i) => call(`many-${i}`, 600)),
      call('early', 200),
    ];
    while (client.inFlight < calls.length) await new Promise((r) => setImmediate(r));
    // No timer per request keeps the process up (a request's Redis connections do).
    expect(timers() - before).toBeLessThanOrEqual(1);
    await calls.at(-1);
    expect(failed).toEqual(['early tool.timeout']);
    expect(client.inFlight).toBe(21);
    await Promise.all(calls);
    expect(failed.at(-1)).toBe('late tool.timeout');
    expect(new Set(failed.slice(1, -1))).toEqual(
      new Set(Array.from({ length: 20 }, (_, i) => `many-${i} tool.timeout`)),
    );
    expect(client.inFlight).toBe(0);
  });

  it('fails a request within seconds when its job vanished from Redis (restarted without its data)', async () => {
    const { client, redis, prefix } = setup({ consumer: false });
    const id = randomUUID();
    const started = Date.now();
    const call = client.request(id, { id, n: 1, replyTo: client.clientId, deadlineAt: Date.now() + 60_000 });
    call.catch(() => undefined);
    const deadline = Date.now() + 10_000;
    while ((await redis.exists(`${prefix}:q:${id}`)) === 0) {
      if (Date.now() > deadline) throw new Error('the job was never added');
      await new Promise((r) => setTimeout(r, 10));
    }
    await redis.del(`${prefix}:q:${id}`);
    const err = await call.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TransientError);
    expect((err as TransientError).code).toBe('queue.unavailable');
    expect((err as TransientError).message).toBe(lostJobMessage);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(client.inFlight).toBe(0);
  });

  it('delivers events a running job publishes to its caller, before the reply, and not to other requests', async () => {
    const prefix = `tq${randomUUID().slice(0, 8)}`;
    const redis = new Redis(redisUrl!, { maxRetriesPerRequest: null });
    const Event = z.object({ id: z.string(), event: z.object({ step: z.number() }) });
    const client = new RequestReplyClient<Job, Reply>({
      redis,
      prefix,
      clientId: `c-${randomUUID()}`,
      queueName: 'q',
      jobName: 'double',
      reply: Reply,
      idOf: (r) => r.id,
      event: { schema: Event, idOf: (e) => (e as z.infer<typeof Event>).id },
    });
    const consumer = new ReplyingConsumer<Job, Reply>({
      redis,
      prefix,
      queueName: 'q',
      concurrency: 2,
      job: Job,
      handle: async (j, _received, notify) => {
        for (let step = 1; step <= 3; step++) notify({ id: j.id, event: { step } });
        await new Promise((r) => setTimeout(r, 50));
        return { id: j.id, doubled: j.n * 2 };
      },
    });
    consumer.start();
    cleanups.push(async () => {
      await consumer.close();
      await client.close();
      redis.disconnect();
    });
    const seen: Record<string, number[]> = { a: [], b: [] };
    const [a, b] = [randomUUID(), randomUUID()];
    const replies = await Promise.all([
      client.request(
        a,
        { id: a, n: 1, replyTo: client.clientId, deadlineAt: Date.now() + 10_000 },
        undefined,
        undefined,
        undefined,
        (e) => seen.a!.push((e as z.infer<typeof Event>).event.step),
      ),
      client.request(b, { id: b, n: 2, replyTo: client.clientId, deadlineAt: Date.now() + 10_000 }),
    ]);
    expect(replies.map((r) => r.doubled)).toEqual([2, 4]);
    expect(seen.a).toEqual([1, 2, 3]);
    expect(seen.b).toEqual([]);
  });

  it('fails an invalid job without running the handler, and reports its issues', async () => {
    let ran = 0;
    const { client, invalid } = setup({ consumer: true, handle: async (j) => (ran++, { id: j.id, doubled: 0 }) });
    const id = randomUUID();
    const bad = { id, n: 'not a number', replyTo: client.clientId, deadlineAt: Date.now() + 500 } as unknown as Job;
    await expect(client.request(id, bad)).rejects.toBeInstanceOf(TransientError);
    expect(ran).toBe(0);
    expect(invalid).toHaveLength(1);
  });
});
