import { redisKeys } from '@toolplane/contracts';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { z } from 'zod';

export interface ReplyingConsumerOptions<J extends { replyTo: string }, R> {
  redis: Redis;
  prefix: string;
  queueName: string;
  concurrency: number;
  /** Parses every job on receipt; an invalid job fails without retries. */
  job: z.ZodType<J>;
  /** Runs one job; must not throw for expected failures (return an error reply). */
  handle: (job: J) => Promise<R>;
  onInvalidJob?: (jobId: string | undefined, issues: unknown) => void;
}

/** Runs jobs from a queue and publishes each reply to the requesting process (`replyTo`). */
export class ReplyingConsumer<J extends { replyTo: string }, R> {
  private readonly worker: Worker;
  private readonly connection: Redis;

  constructor(opts: ReplyingConsumerOptions<J, R>) {
    const keys = redisKeys(opts.prefix);
    const publisher = opts.redis;
    // BullMQ leaves a connection it was given open; this one is ours to close.
    this.connection = opts.redis.duplicate();
    this.worker = new Worker(
      opts.queueName,
      async (job: Job) => {
        const parsed = opts.job.safeParse(job.data);
        if (!parsed.success) {
          opts.onInvalidJob?.(job.id, parsed.error.issues);
          throw new UnrecoverableError(`invalid ${opts.queueName} payload`);
        }
        const reply = await opts.handle(parsed.data);
        await publisher.publish(keys.results(parsed.data.replyTo), JSON.stringify(reply));
      },
      {
        connection: this.connection,
        prefix: opts.prefix,
        concurrency: opts.concurrency,
        autorun: false,
        removeOnComplete: { count: 0 },
        removeOnFail: { count: 1000 },
        maxStalledCount: 1,
      },
    );
  }

  start(): void {
    void this.worker.run();
  }

  waitUntilReady(): Promise<unknown> {
    return this.worker.waitUntilReady();
  }

  /** Stops taking jobs and waits for running ones to finish. */
  async close(): Promise<void> {
    await this.worker.close();
    this.connection.disconnect();
  }
}
