import { createHash } from 'node:crypto';
import { INBOUND_QUEUE, InboundDelivery } from '@toolplane/contracts';
import { Queue, Worker, type Job } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import { bullPrefix } from './redis-forms.ts';
import { queueStreams } from './reply-channel.ts';

/** How often a delivery whose handling failed (Redis, the secrets store) is tried again, with exponential backoff. */
const ATTEMPTS = 8;

/**
 * The inbound deliveries' queue (MCP Events, edge → worker; `INBOUND_QUEUE`): at least once. A delivery the provider
 * names (`deliveryId`: GitHub's `x-github-delivery`, Standard Webhooks' `webhook-id`) gets a job id derived from it, so
 * the provider's own retry while the first is queued or kept (a day) adds nothing.
 */
export class InboundQueue {
  private readonly queue: Queue;

  constructor(redis: Redis | Cluster, prefix: string) {
    this.queue = new Queue(INBOUND_QUEUE, {
      connection: redis,
      prefix: bullPrefix(redis, prefix),
      streams: queueStreams,
    });
    this.queue.on('error', () => undefined);
  }

  async add(delivery: InboundDelivery, deliveryId: string | undefined): Promise<void> {
    const jobId = deliveryId
      ? createHash('sha256').update(`${delivery.instanceId}\n${deliveryId}`).digest('hex')
      : undefined;
    await this.queue.add('inbound', delivery, {
      ...(jobId ? { jobId } : {}),
      attempts: ATTEMPTS,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: { age: 24 * 3600, count: 10_000 },
      removeOnFail: { count: 1000 },
    });
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}

export interface InboundConsumerOptions {
  redis: Redis | Cluster;
  prefix: string;
  concurrency: number;
  /** One delivery; a throw is retried (backoff), a return is done. `attempt` counts from 1. */
  handle: (delivery: InboundDelivery, attempt: number) => Promise<void>;
  onInvalid: (jobId: string | undefined) => void;
  onError: (err: unknown) => void;
}

/** The worker's side of `INBOUND_QUEUE`. */
export class InboundConsumer {
  private readonly worker: Worker;

  constructor(opts: InboundConsumerOptions) {
    const run = async (job: Job): Promise<void> => {
      const parsed = InboundDelivery.safeParse(job.data);
      if (!parsed.success) return opts.onInvalid(job.id);
      await opts.handle(parsed.data, job.attemptsMade + 1);
    };
    this.worker = new Worker(INBOUND_QUEUE, run, {
      connection: opts.redis,
      prefix: bullPrefix(opts.redis, opts.prefix),
      concurrency: opts.concurrency,
      autorun: false,
      runRetryDelay: 1000,
    });
    this.worker.on('error', (err) => opts.onError(err));
  }

  start(): void {
    void this.worker.run();
  }

  waitUntilReady(): Promise<unknown> {
    return this.worker.waitUntilReady();
  }

  close(): Promise<void> {
    return this.worker.close();
  }
}
