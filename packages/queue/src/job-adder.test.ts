import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Queue, Worker, type Job } from 'bullmq';
import { Command, Redis } from 'ioredis';
import { evalshaCommand, evalshaHead, JobAdder, requestJobOptions } from './job-adder.ts';
import { queueStreams } from './reply-channel.ts';

// The direct add (cost cut 2) against BullMQ's own `Queue.add`, on the real Redis of tests/setup/global-setup.js.
const redisUrl = process.env.TEST_REDIS_URL;
if (!redisUrl) throw new Error('TEST_REDIS_URL is not set: the queue tests need Redis');

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function queueOf(streams?: typeof queueStreams) {
  const prefix = `ja${randomUUID().slice(0, 8)}`;
  const redis = new Redis(redisUrl!, { maxRetriesPerRequest: null });
  const queue = new Queue('q', { connection: redis, prefix, ...(streams ? { streams } : {}) });
  cleanups.push(async () => {
    await queue.close();
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });
  return { prefix, redis, queue, adder: new JobAdder(queue, redis, 'job') };
}

/** Every key of the queue with its type and content, the job's timestamp and the events' ids left out. */
async function snapshot(redis: Redis, prefix: string) {
  const keys = (await redis.keys(`${prefix}:*`)).sort();
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const name = key.slice(prefix.length);
    const type = await redis.type(key);
    if (type === 'hash') {
      const { timestamp, ...rest } = await redis.hgetall(key);
      out[name] = { ...rest, timestamp: typeof timestamp };
    } else if (type === 'list') out[name] = await redis.lrange(key, 0, -1);
    else if (type === 'zset') out[name] = await redis.zrange(key, '0', '-1');
    else if (type === 'stream') out[name] = (await redis.xrange(key, '-', '+')).map(([, fields]) => fields);
    else out[name] = await redis.get(key);
  }
  return out;
}

describe('JobAdder', () => {
  it.each([
    ['with the event stream', undefined],
    ['without events', queueStreams],
  ])("writes what BullMQ's Queue.add writes (%s), and a BullMQ worker takes the job", async (_, streams) => {
    const bull = queueOf(streams);
    const direct = queueOf(streams);
    const ids = [randomUUID(), `é-${'x'.repeat(40)}`, 'y'.repeat(300)];
    const data = { a: 1, text: 'ünï', nested: [1, { b: null }] };
    await bull.queue.getVersion(); // the queue's meta written (its event stream's length): both start alike
    for (const id of ids) await bull.queue.add('job', data, { jobId: id, ...requestJobOptions });
    for (const id of ids) await direct.adder.add(data, id);
    expect(direct.adder.direct).toBe(true);
    expect(await snapshot(direct.redis, direct.prefix)).toEqual(await snapshot(bull.redis, bull.prefix));
    const timestamp = Number(await direct.redis.hget(`${direct.prefix}:q:${ids[0]}`, 'timestamp'));
    expect(Math.abs(timestamp - Date.now())).toBeLessThan(60_000);

    const seen: Job[] = [];
    const worker = new Worker('q', async (job) => void seen.push(job), {
      connection: direct.redis,
      prefix: direct.prefix,
    });
    cleanups.push(() => worker.close());
    await new Promise<void>((resolve) => worker.on('completed', () => seen.length === ids.length && resolve()));
    expect(seen.map((j) => [j.id, j.name, j.data, j.opts])).toEqual(
      ids.map((id) => [id, 'job', data, { attempts: 1, jobId: id, removeOnComplete: true, removeOnFail: true }]),
    );
  });

  it('leaves a job whose id is already there as it is, as BullMQ does', async () => {
    const { redis, prefix, adder } = queueOf();
    const id = randomUUID();
    await adder.add({ first: true }, id);
    await adder.add({ first: false }, id);
    expect(await redis.lrange(`${prefix}:q:wait`, 0, -1)).toEqual([id]);
    expect(await redis.hget(`${prefix}:q:${id}`, 'data')).toBe('{"first":true}');
  });

  it("adds after Redis lost its scripts (a restart): EVAL after EVALSHA's NOSCRIPT", async () => {
    const { redis, prefix, adder } = queueOf();
    await adder.add({}, 'before');
    await redis.script('FLUSH');
    const other = new Redis(redisUrl!); // a fresh connection: EVALSHA first, NOSCRIPT, then EVAL
    const otherQueue = new Queue('q', { connection: other, prefix });
    cleanups.push(async () => {
      await otherQueue.close();
      other.disconnect();
    });
    await new JobAdder(otherQueue, other, 'job').add({}, 'after');
    await adder.add({}, 'again');
    expect(await redis.lrange(`${prefix}:q:wait`, 0, -1)).toEqual(['again', 'after', 'before']);
  });

  it("writes each add as one buffer, byte for byte what ioredis's EVALSHA writes for the same arguments", async () => {
    const { redis, prefix, adder } = queueOf();
    await adder.add({}, 'first');
    const sha = 'ab'.repeat(20);
    const keys = ['p:q:wait', 'p:q:ü', 'p:q:'.repeat(40)];
    const args = [Buffer.of(0x9a, 0xc0, 0xff, 0x0d, 0x0a), `{"x":"ünï ${'y'.repeat(300)}"}`, Buffer.alloc(0)] as const;
    const ours = evalshaCommand(evalshaHead(sha, keys), ...args);
    const theirs = new Command('evalsha', [sha, keys.length, ...keys, ...args]).toWritable(redis.stream);
    expect(ours.equals(Buffer.from(theirs))).toBe(true);
    // The adder's writes are such buffers (one socket write per add, whole), and Redis added the jobs.
    const written: unknown[] = [];
    const write = redis.stream.write.bind(redis.stream) as (...a: unknown[]) => boolean;
    redis.stream.write = ((chunk: unknown, ...rest: unknown[]) => (
      written.push(chunk),
      write(chunk, ...rest)
    )) as never;
    await adder.add({ n: 1 }, 'second');
    redis.stream.write = write as never;
    expect(written).toHaveLength(1);
    expect(Buffer.isBuffer(written[0]) && written[0].subarray(0, 21).toString('latin1')).toBe(
      '*15\r\n$7\r\nevalsha\r\n$40',
    );
    expect(await redis.lrange(`${prefix}:q:wait`, 0, -1)).toEqual(['second', 'first']);
  });

  it("refuses a job id BullMQ refuses, through BullMQ's own checks", async () => {
    const { adder } = queueOf();
    await expect(adder.add({}, '42')).rejects.toThrow('Custom Id cannot be integers');
    await expect(adder.add({}, 'a:b')).rejects.toThrow('Custom Id cannot contain :');
  });
});
