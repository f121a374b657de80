import {
  queueNames,
  redisKeys,
  ToolInvokeJob,
  type ToolInvokeResult,
} from '@toolplane/contracts';
import { Worker, UnrecoverableError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';

export interface InvocationConsumerOptions {
  redis: Redis;
  prefix: string;
  concurrency: number;
  /** Executes one invocation; must not throw for tool-level failures (return an error result). */
  handle: (job: ToolInvokeJob) => Promise<ToolInvokeResult>;
  onInvalidJob?: (jobId: string | undefined, issues: unknown) => void;
}

/** The worker's side of the queue hop: runs `tool.invoke` jobs and publishes each result to its edge. */
export class InvocationConsumer {
  private readonly worker: Worker;
  private readonly publisher: Redis;

  constructor(opts: InvocationConsumerOptions) {
    const keys = redisKeys(opts.prefix);
    this.publisher = opts.redis;
    this.worker = new Worker(
      queueNames.toolInvocations,
      async (job: Job) => {
        const parsed = ToolInvokeJob.safeParse(job.data);
        if (!parsed.success) {
          opts.onInvalidJob?.(job.id, parsed.error.issues);
          throw new UnrecoverableError('invalid tool.invoke payload');
        }
        const result = await opts.handle(parsed.data);
        await this.publisher.publish(keys.results(parsed.data.replyTo), JSON.stringify(result));
      },
      {
        connection: opts.redis.duplicate(),
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
  }
}
