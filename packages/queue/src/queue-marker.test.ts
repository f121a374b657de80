import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { requestJobOptions } from './job-adder.ts';
import { queueStreams, RequestReplyClient } from './reply-channel.ts';
import { ReplyingConsumer } from './reply-consumer.ts';

// BullMQ's scripts and worker as patched by patches/bullmq@6.7.0.patch (ADR 0029), on the real Redis of
// tests/setup/global-setup.js; each test uses its own prefix.
const redisUrl = process.env.TEST_REDIS_URL;
if (!redisUrl) throw new Error('TEST_REDIS_URL is not set: the queue tests need Redis');

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function redisWithPrefix() {
  const prefix = `tm${randomUUID().slice(0, 8)}`;
  const redis = new Redis(redisUrl!, { maxRetriesPerRequest: null });
  cleanups.push(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });
  return { prefix, redis };
}

/**
 * Redis's MONITOR on a socket of its own, calling `onCommand` with each command's arguments. Not ioredis's
 * `monitor()`: it enters monitoring mode only after MONITOR's OK has been handled, so a command line that comes in the
 * same read (the tests' shared Redis is busy with other files) is taken for a reply to nothing and fails the
 * connection ("Command queue state error").
 */
async function monitorCommands(url: string, onCommand: (args: string[], client: string) => void): Promise<() => void> {
  const { hostname, port, username, password } = new URL(url);
  const socket = connect(Number(port || 6379), hostname);
  socket.setEncoding('utf8');
  const resp = (...args: string[]) =>
    `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  const auth = password ? [decodeURIComponent(username || 'default'), decodeURIComponent(password)] : [];
  let oks = auth.length ? 2 : 1;
  let buffered = '';
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      for (let end = buffered.indexOf('\r\n'); end >= 0; end = buffered.indexOf('\r\n')) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        if (line.startsWith('-')) reject(new Error(line.slice(1)));
        else if (oks > 0 && line === '+OK') {
          if (--oks === 0) resolve();
        }
        // `+<time> [<db> <client>] "<arg>" "<arg>" …`, each argument quoted with its quotes and backslashes escaped
        else
          onCommand(
            [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!),
            /^\+\S+ \[\d+ (\S+)\]/.exec(line)?.[1] ?? '',
          );
      }
    });
    socket.write((auth.length ? resp('AUTH', ...auth) : '') + resp('MONITOR'));
  });
  return () => socket.destroy();
}

describe("BullMQ's wake-up marker", () => {
  it('is put back after a fetch only while another job waits', async () => {
    const { prefix, redis } = redisWithPrefix();
    const queue = new Queue('q', { connection: redis, prefix });
    const worker = new Worker('q', null, { connection: redis, prefix, autorun: false });
    cleanups.push(() => Promise.all([worker.close(), queue.close()]));
    const marker = `${prefix}:q:marker`;

    await queue.add('a', {});
    expect(await redis.zcard(marker)).toBe(1); // an add wakes one blocked fetcher
    await redis.del(marker); // which took the marker with its BZPOPMIN
    const a = await worker.getNextJob('token-a', { block: false });
    expect(a?.name).toBe('a');
    // Nothing else waits: no other fetcher is woken to find nothing (unpatched BullMQ put it back).
    expect(await redis.zcard(marker)).toBe(0);

    await queue.add('b', {});
    const c = await queue.add('c', {});
    await queue.add('d', {});
    await redis.del(marker);
    const b = await worker.getNextJob('token-b', { block: false });
    expect(b?.name).toBe('b');
    expect(await redis.zcard(marker)).toBe(1); // c and d wait: another fetcher is woken

    // Finishing a job fetches the next one in the same script: the same rule there.
    await redis.del(marker);
    const next = (await b!.moveToCompleted('done', 'token-b', true)) as unknown[];
    expect(next[1]).toBe(c.id);
    expect(await redis.zcard(marker)).toBe(1); // d still waits
    await redis.del(marker);
    const d = await worker.getNextJob('token-d', { block: false });
    expect(d?.name).toBe('d');
    expect(await redis.zcard(marker)).toBe(0);
  });

  it('wakes a fetcher for every job: trickles and bursts through four fetchers are all answered', async () => {
    const { prefix, redis } = redisWithPrefix();
    const Job = z.object({ n: z.number(), replyTo: z.string(), deadlineAt: z.number() });
    const Reply = z.object({ id: z.string(), n: z.number() });
    const consumer = new ReplyingConsumer<z.infer<typeof Job>, z.infer<typeof Reply>>({
      redis,
      prefix,
      queueName: 'calls',
      concurrency: 8,
      fetchers: 4,
      job: Job,
      handle: async (j, job) => ({ id: job.id!, n: j.n }),
    });
    const clientRedis = redis.duplicate();
    const client = new RequestReplyClient<z.infer<typeof Job>, z.infer<typeof Reply>>({
      redis: clientRedis,
      prefix,
      clientId: `c-${randomUUID()}`,
      queueName: 'calls',
      jobName: 'call',
      reply: Reply,
      idOf: (r) => r.id,
    });
    consumer.start();
    await consumer.waitUntilReady();
    cleanups.push(async () => {
      await client.close();
      await consumer.close();
      clientRedis.disconnect();
    });
    const call = (n: number) =>
      client.request(randomUUID(), { n, replyTo: client.clientId, deadlineAt: Date.now() + 30_000 });
    // Every moveToActive of this queue (11 keys, the wait list first; one call or several, cost cut 3), seen by
    // Redis's MONITOR (an EVAL: a script's first call on this Redis).
    // Which of them a blocking connection sent: the take written behind each wait on the marker (`WakeTake`).
    const fetchers: string[] = [];
    const waiters = new Set<string>();
    const stopMonitor = await monitorCommands(redisUrl!, (args, client) => {
      if (/^bzpopmin$/i.test(args[0] ?? '') && args[1] === `${prefix}:calls:marker`) waiters.add(client);
      if (/^evalsha$|^eval$/i.test(args[0] ?? '') && args[2] === '11' && args[3] === `${prefix}:calls:wait`)
        fetchers.push(client);
    });
    cleanups.push(async () => stopMonitor());

    // One at a time: each job finds every fetcher blocked on the marker, and the fetcher that takes it
    // learns that the queue is empty: it blocks again without another moveToActive that finds nothing
    // (unpatched: two per job). At most one more per fetcher: the fetches that start the consumer. Each job is
    // fetched by the take its wake-up's wait carried, not one round trip after the wake.
    for (let n = 0; n < 40; n++) expect((await call(n)).n).toBe(n);
    expect(fetchers.length).toBeGreaterThanOrEqual(40);
    expect(fetchers.length).toBeLessThanOrEqual(40 + 4);
    expect(fetchers.filter((client) => waiters.has(client)).length).toBeGreaterThanOrEqual(40);
    // Bursts larger than the concurrency, then a trickle again after the queue drained.
    for (let burst = 0; burst < 3; burst++) {
      const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => call(i)));
      expect(replies.map((r) => r.n)).toEqual(Array.from({ length: 100 }, (_, i) => i));
      expect((await call(1000 + burst)).n).toBe(1000 + burst);
    }
  });
});

describe('The take a wait on the marker carries (WakeTake)', () => {
  it('runs when a closing worker ends the wait, and gives back what it took: the job waits, unlocked and unrun', async () => {
    const { prefix, redis } = redisWithPrefix();
    const [wait, active, marker] = ['wait', 'active', 'marker'].map((k) => `${prefix}:calls:${k}`) as [
      string,
      string,
      string,
    ];
    const queue = new Queue('calls', { connection: redis, prefix, streams: queueStreams });
    cleanups.push(() => queue.close());
    await queue.add(
      'call',
      { n: 1, replyTo: 'r', deadlineAt: Date.now() + 60_000 },
      { jobId: 'j1', ...requestJobOptions },
    );
    // Out of the wait list, and no marker: when it is put back below, nothing wakes a fetcher for it.
    await redis.lrem(wait, 0, 'j1');
    await redis.del(marker);
    const seen: { args: string[]; client: string }[] = [];
    let blocked!: () => void;
    const isBlocked = new Promise<void>((resolve) => (blocked = resolve));
    let ended!: () => void;
    const monitorCaughtUp = new Promise<void>((resolve) => (ended = resolve));
    const stopMonitor = await monitorCommands(redisUrl!, (args, client) => {
      if (!args.some((a) => a.startsWith(prefix)) && !/^client$/i.test(args[0] ?? '')) return;
      seen.push({ args, client });
      if (/^bzpopmin$/i.test(args[0] ?? '') && args[1] === marker) blocked();
      if (/^get$/i.test(args[0] ?? '') && args[1] === `${prefix}:end`) ended();
    });
    cleanups.push(async () => stopMonitor());
    const runs: number[] = [];
    const consumer = new ReplyingConsumer({
      redis,
      prefix,
      queueName: 'calls',
      concurrency: 4,
      job: z.object({ n: z.number(), replyTo: z.string(), deadlineAt: z.number() }),
      handle: async (j) => (runs.push(j.n), { n: j.n }),
    });
    consumer.start();
    await isBlocked;
    await redis.rpush(wait, 'j1');
    await consumer.close();
    await redis.get(`${prefix}:end`);
    await monitorCaughtUp; // every command before it seen

    expect(runs).toEqual([]);
    // On the waiting connection, after its wait (MONITOR does not show the CLIENT UNBLOCK that ended it): the take
    // ran, then the give-back (active, wait, marker).
    const waiter = seen.find(({ args }) => /^bzpopmin$/i.test(args[0]!))!.client;
    const onIt = seen.filter(({ client }) => client === waiter).map(({ args }) => args);
    const afterWait = onIt.slice(onIt.findIndex((args) => /^bzpopmin$/i.test(args[0]!)) + 1);
    expect(afterWait.map((args) => [args[2], args[3]])).toEqual([
      ['11', wait],
      ['3', active],
    ]);
    expect(await redis.lrange(wait, 0, -1)).toEqual(['j1']);
    expect(await redis.llen(active)).toBe(0);
    expect(await redis.exists(`${prefix}:calls:j1:lock`)).toBe(0);
    expect(await redis.hget(`${prefix}:calls:j1`, 'ats')).toBe('0');
    expect(await redis.zcard(marker)).toBe(1); // and the next fetcher is woken for it
  });
});

describe("BullMQ's event stream", () => {
  /** Adds a job, runs it to completion, fails another one, and returns what the queue's event stream holds. */
  async function eventsAfterJobs(streams?: { events: { maxLen: number } }) {
    const { prefix, redis } = redisWithPrefix();
    const queue = new Queue('q', { connection: redis, prefix, ...(streams ? { streams } : {}) });
    const worker = new Worker('q', null, { connection: redis, prefix, autorun: false });
    cleanups.push(() => Promise.all([worker.close(), queue.close()]));
    await queue.waitUntilReady(); // the queue's settings (the stream's length among them) are in Redis
    await queue.add('a', {});
    await queue.add('b', {});
    const a = await worker.getNextJob('token-a', { block: false });
    await a!.moveToCompleted('done', 'token-a', false);
    const b = await worker.getNextJob('token-b', { block: false });
    await b!.moveToFailed(new Error('failed on purpose'), 'token-b', false);
    const entries = await redis.xrange(`${prefix}:q:events`, '-', '+');
    return { entries: entries.map(([, fields]) => fields[1]), counts: await queue.getJobCounts() };
  }

  it('is not written when its length is capped at 0, as for the request/reply queues (ADR 0032)', async () => {
    const { entries, counts } = await eventsAfterJobs(queueStreams);
    expect(queueStreams.events.maxLen).toBe(0);
    expect(entries).toEqual([]);
    // The jobs themselves went through every state as usual.
    expect(counts).toMatchObject({ waiting: 0, active: 0, failed: 1 });
  });

  it("is written as BullMQ does for any other queue (the patch changes only a 0 cap's meaning)", async () => {
    const { entries } = await eventsAfterJobs();
    for (const event of ['added', 'waiting', 'active', 'completed', 'failed']) expect(entries).toContain(event);
  });
});
