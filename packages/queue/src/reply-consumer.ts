import { redisKeys } from '@toolplane/contracts';
import { Queue, UnrecoverableError, type Job } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import type { z } from 'zod';
import { coalesceWrites } from './coalesce-writes.ts';
import { FinishingWorker } from './job-finisher.ts';
import { bullPrefix, replyChannel } from './redis-forms.ts';
import { queueStreams } from './reply-channel.ts';

export interface ReplyingConsumerOptions<J extends { replyTo: string }, R> {
  redis: Redis | Cluster;
  prefix: string;
  queueName: string;
  /** Jobs run at once by this process, shared among its fetchers. */
  concurrency: number;
  /**
   * BullMQ workers in this process (default 1), each taking `concurrency / fetchers` jobs. A BullMQ worker
   * fetches the jobs of a burst one Redis round trip after the other and starts none of them before its run
   * of fetches ends; several fetch the burst in parallel, so calls that arrive together wait less (docs/benchmarks.md).
   */
  fetchers?: number;
  /** Parses every job on receipt; an invalid job fails without retries. */
  job: z.ZodType<J>;
  /**
   * A compiled check run before `job` (`exactCheck` of the job's current version, cost cut 5): a job it accepts is one
   * `job` would parse to an equal value, taken as it is; any other is parsed by `job`, which refuses it or not.
   */
  exact?: ((data: unknown) => boolean) | undefined;
  /**
   * Runs one job; must not throw for expected failures (return an error reply). `notify` publishes an
   * interim message (an event of the running job, not its reply) to the requesting process.
   */
  handle: (job: J, received: ReceivedJob, notify: (message: unknown) => void) => Promise<R>;
  /** How a reply is published (default its JSON); a two-part reply is `<envelope JSON>\n<part>` (`withPart` of the client). */
  message?: (job: J, reply: R) => string;
  onInvalidJob?: (jobId: string | undefined, issues: unknown) => void;
  /**
   * A job the queue fails without running it, because its workers stopped more than `maxStalledCount`
   * times: its reply (published like any other, so the requester does not wait for its deadline).
   */
  onAbandoned?: (job: J, received: ReceivedJob) => Promise<R>;
  /** Stalled-job detection (docs/operations.md, "Worker crashes"); BullMQ's defaults when absent. */
  stalled?: StalledJobSettings;
  /** Queue errors (Redis unreachable, a job lost with Redis's data); the consumer keeps running. */
  onError?: (err: unknown) => void;
  /**
   * BullMQ prefixes of the queue shards this process consumes (`queueShardPrefixes`, all or a subset), each with
   * `fetchers / shards` fetchers (at least one). Default: one queue, `bullPrefix`.
   */
  shards?: string[];
  /**
   * A fetcher whose wait for jobs lasts longer than this while Redis answers is replaced by a new one (default 20 s;
   * a wait ends within BullMQ's block timeout, 10 s at most, plus its 1 s watchdog). After a failover a blocking
   * connection can stay parked while its reconnect never completes, and the fetcher's shard would wait forever.
   */
  fetcherStuckAfterMs?: number;
}

/**
 * How fast jobs of a dead worker are re-delivered. A job's lock lasts `lockDurationMs` and is renewed
 * every half of it; every `stalledIntervalMs` each worker moves jobs whose lock expired back to the
 * queue (in two passes), so a crashed worker's jobs run again after about lockDuration + 1-2 ×
 * stalledInterval. A job that stalls more than `maxStalledCount` times fails.
 */
interface StalledJobSettings {
  lockDurationMs: number;
  stalledIntervalMs: number;
  maxStalledCount: number;
}

/** What the queue knows about a job besides its payload (for queue-wait metrics). */
export interface ReceivedJob {
  readonly id?: string | undefined;
  /** Epoch ms when the job was added. */
  readonly timestamp: number;
  readonly attemptsMade: number;
  /** Times a worker took the job (2 and more: re-delivered after its worker stopped or lost the lock). */
  readonly attemptsStarted?: number;
}

/** Runs jobs from a queue and publishes each reply to the requesting process (`replyTo`). */
export class ReplyingConsumer<J extends { replyTo: string }, R> {
  private readonly workers: FinishingWorker[];
  /** How each fetcher was made (its shard and concurrency), to make it again (`watch`). */
  private readonly makers: (() => FinishingWorker)[];
  private watcher: NodeJS.Timeout | undefined;
  private closing = false;
  private readonly opts: ReplyingConsumerOptions<J, R>;
  private readonly message: (job: J, reply: R) => string;
  private readonly shards: string[];
  private queues: Queue[] | undefined;

  constructor(opts: ReplyingConsumerOptions<J, R>) {
    const keys = redisKeys(opts.prefix);
    this.opts = opts;
    this.message = opts.message ?? ((_job, reply) => JSON.stringify(reply));
    const publisher = opts.redis;
    // BullMQ's commands share the replies' connection (BullMQ leaves it open; its blocking reads get a
    // duplicate of their own): a reply and the job's completion then leave in one socket write, and Redis
    // runs the PUBLISH before the job is removed (one connection, in order). In a cluster the two go to different
    // nodes: the requester declares a job lost only a whole check interval after it vanished, far above the bus's delay.
    const connection = coalesceWrites(opts.redis);
    this.shards = opts.shards ?? [bullPrefix(opts.redis, opts.prefix)];
    const perShard = Math.max(1, Math.round((opts.fetchers ?? 1) / this.shards.length));
    // Every shard gets a fetcher, even when that takes the concurrency above `concurrency` (one job per shard).
    const fetchers = Math.max(this.shards.length, Math.min(perShard * this.shards.length, opts.concurrency));
    const run = async (job: Job) => {
      const parsed = this.parse(job.data);
      if (!parsed.success) {
        opts.onInvalidJob?.(job.id, parsed.error.issues);
        throw new UnrecoverableError(`invalid ${opts.queueName} payload`);
      }
      const channel = keys.results(parsed.data.replyTo);
      const notify = (message: unknown) =>
        void replyChannel.publish(publisher, channel, JSON.stringify(message)).catch(() => undefined);
      const reply = await opts.handle(parsed.data, job, notify);
      // Not awaited, so BullMQ's completion joins it in the same write. A reply Redis could not take is
      // a lost job for the requester (its job is gone without an answer: it fails within seconds).
      void replyChannel
        .publish(publisher, channel, this.message(parsed.data, reply))
        .catch((err: unknown) => opts.onError?.(err));
    };
    // Fetcher i reads shard i mod shards; the concurrency is split evenly over all fetchers.
    this.makers = Array.from({ length: fetchers }, (_, i) => () => {
      const prefix = this.shards[i % this.shards.length]!;
      const worker = this.newWorker(run, connection, prefix, Math.max(1, Math.ceil((opts.concurrency - i) / fetchers)));
      worker.on('failed', (job) => this.onFailed(job, publisher, keys));
      // BullMQ reconnects by itself; an 'error' event without a listener would throw and end the process.
      worker.on('error', (err) => opts.onError?.(err));
      return worker;
    });
    this.workers = this.makers.map((make) => make());
  }

  /**
   * Keeps every fetcher fetching: one whose loop ended is run again, one stuck in its wait for jobs while Redis answers
   * (`fetcherStuckAfterMs`) is closed and replaced.
   */
  private watch(now = Date.now()): void {
    if (this.closing || !live(this.opts.redis)) return;
    const stuckAfter = this.opts.fetcherStuckAfterMs ?? 20_000;
    this.workers.forEach((worker, i) => {
      if (!worker.isRunning()) {
        this.opts.onError?.(new Error(`a fetcher of ${this.opts.queueName} stopped; it runs again`));
        void worker.run().catch((err: unknown) => this.opts.onError?.(err));
      } else if (worker.waitingSince !== undefined && now - worker.waitingSince > stuckAfter) {
        this.opts.onError?.(
          new Error(`a fetcher of ${this.opts.queueName} waited ${now - worker.waitingSince} ms; replaced`),
        );
        const fresh = this.makers[i]!();
        this.workers[i] = fresh;
        void fresh.run().catch((err: unknown) => this.opts.onError?.(err));
        // Forced: its loop never ends. A job it still runs finishes; losing its lock, it is re-delivered, not re-sent.
        void worker.close(true).catch(() => undefined);
      }
    });
  }

  private newWorker(
    run: (job: Job) => Promise<void>,
    connection: Redis | Cluster,
    prefix: string,
    concurrency: number,
  ) {
    const opts = this.opts;
    // A completed job is finished with the turn's others in one script call (`FinishingWorker`, cost cut 3).
    return new FinishingWorker(opts.queueName, run, {
      connection,
      prefix,
      concurrency,
      autorun: false,
      removeOnComplete: { count: 0 },
      removeOnFail: { count: 1000 },
      maxStalledCount: opts.stalled?.maxStalledCount ?? 1,
      ...(opts.stalled
        ? { lockDuration: opts.stalled.lockDurationMs, stalledInterval: opts.stalled.stalledIntervalMs }
        : {}),
      // After a lost connection BullMQ waits this long before fetching jobs again (default 15 s): calls
      // must work again within seconds of Redis coming back.
      runRetryDelay: 1000,
    });
  }

  /** The job's payload: as it is when the compiled check takes it, else as `job` parses it (or its issues). */
  private parse(data: unknown): { success: true; data: J } | { success: false; error: z.ZodError } {
    if (this.opts.exact?.(data)) return { success: true, data: data as J };
    return this.opts.job.safeParse(data);
  }

  /** BullMQ fails a job that stalled too often (`deferredFailure`) when a worker takes it, without running it. */
  private onFailed(job: Job | undefined, publisher: Redis | Cluster, keys: ReturnType<typeof redisKeys>): void {
    const onAbandoned = this.opts.onAbandoned;
    if (!job || !onAbandoned || !job.deferredFailure) return;
    const parsed = this.parse(job.data);
    if (!parsed.success) return;
    const channel = keys.results(parsed.data.replyTo);
    void onAbandoned(parsed.data, job)
      .then((reply) => replyChannel.publish(publisher, channel, this.message(parsed.data, reply)))
      .catch(() => undefined);
  }

  start(): void {
    for (const worker of this.workers) void worker.run().catch((err: unknown) => this.opts.onError?.(err));
    const every = Math.max(50, Math.min(5_000, (this.opts.fetcherStuckAfterMs ?? 20_000) / 4));
    this.watcher ??= setInterval(() => this.watch(), every).unref();
  }

  waitUntilReady(): Promise<unknown> {
    return Promise.all(this.workers.map((w) => w.waitUntilReady()));
  }

  /** Jobs in the consumed shards by state, summed (the queue-depth metric; the `Queue`s are opened on first use). */
  async jobCounts(): Promise<Record<string, number>> {
    this.queues ??= this.shards.map((prefix) => {
      const queue = new Queue(this.opts.queueName, { connection: this.opts.redis, prefix, streams: queueStreams });
      queue.on('error', (err) => this.opts.onError?.(err));
      return queue;
    });
    const counts = await Promise.all(
      this.queues.map((q) => q.getJobCounts('waiting', 'prioritized', 'active', 'delayed')),
    );
    const sum = (f: (c: Record<string, number>) => number | undefined) => counts.reduce((n, c) => n + (f(c) ?? 0), 0);
    return {
      waiting: sum((c) => c.waiting) + sum((c) => c.prioritized),
      active: sum((c) => c.active),
      delayed: sum((c) => c.delayed),
    };
  }

  /** Stops taking jobs and waits for running ones to finish. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.watcher);
    await Promise.all((this.queues ?? []).map((q) => q.close()));
    await Promise.all(this.workers.map((w) => w.close()));
  }
}

/** Whether Redis answers on the connection (a cluster reports `connect` once usable, as BullMQ reads it). */
function live(redis: Redis | Cluster): boolean {
  return redis.status === 'ready' || (redis.isCluster && redis.status === 'connect');
}
