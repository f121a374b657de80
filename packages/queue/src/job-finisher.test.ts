import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { requestJobOptions } from './job-adder.ts';
import { JobFinisher } from './job-finisher.ts';
import { JobTaker } from './job-taker.ts';
import { queueStreams, RequestReplyClient } from './reply-channel.ts';
import { ReplyingConsumer } from './reply-consumer.ts';

// The finish of a turn's completed jobs in one script (cost cut 3) against BullMQ's own `moveToFinished`, on the
// real Redis of tests/setup/global-setup.js; each test uses its own prefix.
const redisUrl = process.env.TEST_REDIS_URL;
if (!redisUrl) throw new Error('TEST_REDIS_URL is not set: the queue tests need Redis');

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function queueOf(streams?: typeof queueStreams) {
  const prefix = `jf${randomUUID().slice(0, 8)}`;
  const redis = new Redis(redisUrl!, { maxRetriesPerRequest: null });
  const queue = new Queue('q', { connection: redis, prefix, ...(streams ? { streams } : {}) });
  const worker = new Worker('q', null, { connection: redis, prefix, autorun: false });
  cleanups.push(async () => {
    await worker.close();
    await queue.close();
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });
  return { prefix, redis, queue, worker };
}

/** A requester of queue `q` whose replies are `{ id }`. */
function replyClient(redis: Redis, prefix: string) {
  return new RequestReplyClient<{ id: string; replyTo: string; deadlineAt: number }, { id: string }>({
    redis,
    prefix,
    clientId: `c-${randomUUID()}`,
    queueName: 'q',
    jobName: 'job',
    reply: z.object({ id: z.string() }),
    idOf: (r) => r.id,
  });
}

/** Every key of the queue with its type and content; the jobs' times and the events' ids left out. */
async function snapshot(redis: Redis, prefix: string) {
  const keys = (await redis.keys(`${prefix}:*`)).sort();
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const name = key.slice(prefix.length);
    const type = await redis.type(key);
    if (type === 'hash') {
      const { timestamp, processedOn, ...rest } = await redis.hgetall(key);
      out[name] = { ...rest, timestamp: typeof timestamp, processedOn: typeof processedOn };
    } else if (type === 'list') out[name] = await redis.lrange(key, 0, -1);
    else if (type === 'zset') out[name] = await redis.zrange(key, '0', '-1');
    else if (type === 'set') out[name] = (await redis.smembers(key)).sort();
    else if (type === 'stream') out[name] = (await redis.xrange(key, '-', '+')).map(([, fields]) => fields);
    else out[name] = await redis.get(key);
  }
  return out;
}

/** EVALSHA / EVAL calls the connection sends, by their number of keys (BullMQ's moveToFinished has 14). */
function countScripts(redis: Redis) {
  const byKeys = new Map<number, number[]>();
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = ((command: { name: string; args: unknown[] }) => {
    if (command.name === 'evalsha' || command.name === 'eval') {
      const keys = Number(command.args[1]);
      byKeys.set(keys, [...(byKeys.get(keys) ?? []), command.args.length - 2 - keys]);
    }
    return send(command as Parameters<typeof send>[0]);
  }) as typeof redis.sendCommand;
  return byKeys;
}

/** Three jobs added and taken (active, locked) as a worker takes them. */
async function threeActive({ queue, worker }: ReturnType<typeof queueOf>) {
  await queue.getVersion(); // the queue's meta written: both queues start alike
  const ids = ['a1', 'b2', 'c3'];
  for (const id of ids) await queue.add('job', { id }, { jobId: id, ...requestJobOptions });
  const jobs = [];
  for (const id of ids) jobs.push((await worker.getNextJob(`tok-${id}`, { block: false }))!);
  expect(jobs.map((j) => j.id)).toEqual(ids);
  return jobs;
}

describe('JobFinisher', () => {
  it.each([
    ['with the event stream', undefined],
    ['without events', queueStreams],
  ])("leaves what BullMQ's moveToFinished leaves (%s), three jobs in one script call", async (_, streams) => {
    const bull = queueOf(streams);
    const lean = queueOf(streams);
    const jobs = await threeActive(bull);
    await threeActive(lean);
    for (const job of jobs) await job.moveToCompleted(undefined, `tok-${job.id}`, false);
    const ids = jobs.map((j) => j.id!);
    const scripts = countScripts(lean.redis);
    const finisher = new JobFinisher(lean.redis, lean.queue.keys);
    const outcomes = await Promise.all(ids.map((id) => finisher.finish(id, `tok-${id}`)));
    expect(outcomes.map((o) => [o.code, o.more, o.nextDelayed])).toEqual(ids.map(() => [0, false, 0]));
    expect(scripts.get(7)).toEqual([2 + 2 * ids.length]); // one call: prefix, time, then an id and a token per job
    expect(await snapshot(lean.redis, lean.prefix)).toEqual(await snapshot(bull.redis, bull.prefix));
  });

  it("answers BullMQ's codes for a lock that is lost or not its own, and finishes nothing then", async () => {
    const q = queueOf(queueStreams);
    await threeActive(q);
    await q.redis.del(`${q.prefix}:q:a1:lock`); // expired: the stalled-job check may hand it to another worker
    const finisher = new JobFinisher(q.redis, q.queue.keys);
    const [lost, other, gone] = await Promise.all([
      finisher.finish('a1', 'tok-a1'),
      finisher.finish('b2', 'tok-someone-else'),
      finisher.finish('zz', 'tok-zz'),
    ]);
    expect([lost.code, other.code, gone.code]).toEqual([-2, -6, -1]);
    expect((await q.redis.lrange(`${q.prefix}:q:active`, 0, -1)).sort()).toEqual(['a1', 'b2', 'c3']);
    expect(await q.redis.get(`${q.prefix}:q:b2:lock`)).toBe('tok-b2');
  });

  it("leaves a job with a deduplication id or a parent to BullMQ's script, untouched", async () => {
    const q = queueOf(queueStreams);
    await threeActive(q);
    await q.redis.hset(`${q.prefix}:q:a1`, 'deid', 'd');
    await q.redis.hset(`${q.prefix}:q:b2`, 'parentKey', `${q.prefix}:q:p`);
    const finisher = new JobFinisher(q.redis, q.queue.keys);
    const outcomes = await Promise.all(['a1', 'b2', 'c3'].map((id) => finisher.finish(id, `tok-${id}`)));
    expect(outcomes.map((o) => o.code)).toEqual([1, 1, 0]);
    expect((await q.redis.lrange(`${q.prefix}:q:active`, 0, -1)).sort()).toEqual(['a1', 'b2']);
    expect(await q.redis.get(`${q.prefix}:q:a1:lock`)).toBe('tok-a1');
  });

  it('says a job waits, and when the next delayed job is due', async () => {
    const q = queueOf(queueStreams);
    await threeActive(q);
    const finisher = new JobFinisher(q.redis, q.queue.keys);
    await q.queue.add('later', {}, { jobId: 'later', delay: 60_000, ...requestJobOptions });
    const quiet = await finisher.finish('a1', 'tok-a1');
    expect(quiet.more).toBe(false);
    expect(Math.abs(quiet.nextDelayed - (Date.now() + 60_000))).toBeLessThan(30_000);
    await q.queue.add('now', {}, { jobId: 'now', ...requestJobOptions });
    expect((await finisher.finish('b2', 'tok-b2')).more).toBe(true);
  });
});

describe('ReplyingConsumer, finishing', () => {
  const Job = z.object({ id: z.string(), replyTo: z.string(), deadlineAt: z.number() });
  type Job = z.infer<typeof Job>;

  it("finishes the jobs a turn completed in one script call, none through BullMQ's moveToFinished", async () => {
    const { redis, prefix } = queueOf(queueStreams);
    const scripts = countScripts(redis);
    const client = replyClient(redis, prefix);
    let started = 0;
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const eight = 8;
    const consumer = new ReplyingConsumer<Job, { id: string }>({
      redis,
      prefix,
      queueName: 'q',
      concurrency: eight,
      job: Job,
      handle: async (job) => {
        if (++started === eight) open();
        await gate; // all eight end in the same turn
        return { id: job.id };
      },
    });
    consumer.start();
    cleanups.push(async () => {
      await consumer.close();
      await client.close();
    });
    const ids = Array.from({ length: eight }, () => randomUUID());
    const replies = await Promise.all(
      ids.map((id) => client.request(id, { id, replyTo: client.clientId, deadlineAt: Date.now() + 60_000 })),
    );
    expect(replies.map((r) => r.id)).toEqual(ids);
    // Finished, not left active: every job's keys are gone.
    for (;;) {
      if ((await redis.llen(`${prefix}:q:active`)) === 0) break;
      await new Promise((r) => setImmediate(r));
    }
    expect(await redis.exists(...ids.map((id) => `${prefix}:q:${id}`))).toBe(0);
    expect(scripts.get(14)).toBeUndefined(); // moveToFinished
    expect(scripts.get(7)).toEqual([2 + 2 * eight]);
  });
});

describe('JobTaker and the consumer, taking', () => {
  const Job = z.object({ id: z.string(), replyTo: z.string(), deadlineAt: z.number() });
  type Job = z.infer<typeof Job>;

  it('takes the waiting jobs in one script call, and runs each once', async () => {
    const { redis, prefix } = queueOf(queueStreams);
    const client = replyClient(redis, prefix);
    const ids = Array.from({ length: 6 }, () => randomUUID());
    const replies = Promise.all(
      ids.map((id) => client.request(id, { id, replyTo: client.clientId, deadlineAt: Date.now() + 60_000 })),
    );
    while ((await redis.llen(`${prefix}:q:wait`)) < ids.length) await new Promise((r) => setImmediate(r));
    const scripts = countScripts(redis);
    const runs: string[] = [];
    const consumer = new ReplyingConsumer<Job, { id: string }>({
      redis,
      prefix,
      queueName: 'q',
      concurrency: 8,
      job: Job,
      handle: async (job) => (runs.push(job.id), { id: job.id }),
    });
    consumer.start();
    cleanups.push(async () => {
      await consumer.close();
      await client.close();
    });
    expect((await replies).map((r) => r.id)).toEqual(ids);
    expect(runs.sort()).toEqual([...ids].sort());
    expect(scripts.get(11)).toEqual([3 + 8]); // one fetch (prefix, time, lock duration, a token per free slot)
    expect(await redis.zcard(`${prefix}:q:marker`)).toBe(0); // nothing waits: no fetcher woken for nothing
  });

  it("runs jobs taken in one call by a worker that died before starting them once, through BullMQ's stalled-job check", async () => {
    const { redis, prefix, queue, worker } = queueOf(queueStreams);
    await worker.waitUntilReady(); // BullMQ's scripts defined on the connection
    const ids = ['a1', 'b2', 'c3'];
    for (const id of ids) await queue.add('job', { id }, { jobId: id, ...requestJobOptions });
    const taker = JobTaker.on(redis, queue.keys)!;
    const taken = await taker.take(['t0', 't1', 't2', 't3'], 1000);
    expect(taken.map((t) => t[1])).toEqual(ids); // all three active and locked, none started: the worker is gone
    const runs: string[] = [];
    const other = new Worker('q', async (job) => void runs.push(job.id!), {
      connection: redis,
      prefix,
      lockDuration: 1000,
      stalledInterval: 500,
    });
    cleanups.push(() => other.close());
    await new Promise<void>((resolve) => other.on('completed', () => runs.length === ids.length && resolve()));
    expect(runs.sort()).toEqual(ids);
    expect(await redis.exists(...ids.map((id) => `${prefix}:q:${id}`))).toBe(0); // finished: never to run again
  });

  it('gives jobs taken and not started back to the head of the queue (a worker closing)', async () => {
    const { redis, prefix, queue, worker } = queueOf(queueStreams);
    await worker.waitUntilReady();
    for (const id of ['a1', 'b2', 'c3']) await queue.add('job', { id }, { jobId: id, ...requestJobOptions });
    const taker = JobTaker.on(redis, queue.keys)!;
    await taker.take(['t0', 't1', 't2'], 30_000);
    await taker.giveBack([
      { id: 'b2', token: 't1' },
      { id: 'c3', token: 't2' },
    ]);
    expect(await redis.lrange(`${prefix}:q:active`, 0, -1)).toEqual(['a1']);
    expect(await redis.lrange(`${prefix}:q:wait`, 0, -1)).toEqual(['c3', 'b2']); // b2 is taken first again
    expect(await redis.exists(`${prefix}:q:b2:lock`, `${prefix}:q:c3:lock`)).toBe(0);
    expect(await redis.hget(`${prefix}:q:b2`, 'ats')).toBe('0');
    expect(await redis.zcard(`${prefix}:q:marker`)).toBe(1);
    expect((await worker.getNextJob('again', { block: false }))?.id).toBe('b2');
  });
});

describe('ReplyingConsumer, watching its fetchers', () => {
  const Job = z.object({ id: z.string(), replyTo: z.string(), deadlineAt: z.number() });
  type Job = z.infer<typeof Job>;

  it('replaces a fetcher whose wait for jobs never ends while Redis answers, and its shard is served again', async () => {
    const { redis, prefix } = queueOf(queueStreams);
    const client = replyClient(redis, prefix);
    const told: string[] = [];
    const consumer = new ReplyingConsumer<Job, { id: string }>({
      redis,
      prefix,
      queueName: 'q',
      concurrency: 1,
      job: Job,
      handle: (job) => Promise.resolve({ id: job.id }),
      onError: (err) => told.push(String(err)),
      fetcherStuckAfterMs: 300,
    });
    // The one fetcher's wait on the queue's marker never returns, as after a failover whose reconnect never ends.
    const [stuck] = (consumer as unknown as { workers: { backend: { waitForJob: () => Promise<never> } }[] }).workers;
    stuck!.backend.waitForJob = () => new Promise<never>(() => undefined);
    consumer.start();
    cleanups.push(async () => {
      await client.close();
      await consumer.close().catch(() => undefined);
    });
    const id = randomUUID();
    const reply = await client.request(id, { id, replyTo: client.clientId, deadlineAt: Date.now() + 60_000 });
    expect(reply.id).toBe(id);
    expect(told.filter((t) => /waited \d+ ms; replaced/.test(t)).length).toBeGreaterThanOrEqual(1);
    const [now] = (consumer as unknown as { workers: unknown[] }).workers;
    expect(now).not.toBe(stuck);
  });
});
