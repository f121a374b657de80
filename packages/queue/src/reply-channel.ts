import { redisKeys } from '@toolplane/contracts';
import { TransientError } from '@toolplane/errors';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { z } from 'zod';

export interface RequestReplyOptions<R> {
  /** A connection for commands; the client duplicates it for its subscriber. */
  redis: Redis;
  prefix: string;
  /** Unique per process: replies for this process arrive on its own channel. */
  clientId: string;
  queueName: string;
  jobName: string;
  /** Parses a reply; `idOf` says which request it answers. */
  reply: z.ZodType<R>;
  idOf: (reply: R) => string;
  /** Messages on the channel that are not replies but events of a running request (an `event` member). */
  event?: { schema: z.ZodType<unknown>; idOf: (event: unknown) => string };
}

interface Pending<R> {
  resolve: (r: R) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  onEvent?: ((event: unknown) => void) | undefined;
}

/**
 * Request/reply over BullMQ: enqueue a job, await its reply.
 *
 * Replies come back on a pub/sub channel owned by this process (`replyTo`), so each process
 * receives only its own replies and the cost per reply is one PUBLISH, whatever the number of
 * processes (BullMQ's QueueEvents would fan every completion out to everyone). See ADR 0005.
 */
export class RequestReplyClient<J extends { replyTo: string; deadlineAt: number }, R> {
  readonly clientId: string;
  private readonly queue: Queue;
  private readonly subscriber: Redis;
  private readonly pending = new Map<string, Pending<R>>();
  private readonly channel: string;
  private readonly opts: RequestReplyOptions<R>;
  private ready: Promise<void> | undefined;

  constructor(opts: RequestReplyOptions<R>) {
    this.opts = opts;
    this.clientId = opts.clientId;
    this.queue = new Queue(opts.queueName, { connection: opts.redis, prefix: opts.prefix });
    this.subscriber = opts.redis.duplicate();
    this.channel = redisKeys(opts.prefix).results(opts.clientId);
    this.subscriber.on('message', (_channel: string, message: string) => this.onMessage(message));
  }

  start(): Promise<void> {
    this.ready ??= this.subscriber.subscribe(this.channel).then(() => undefined);
    return this.ready;
  }

  private onMessage(message: string): void {
    let parsed: R;
    try {
      const raw: unknown = JSON.parse(message);
      if (this.opts.event && typeof raw === 'object' && raw !== null && 'event' in raw) return this.onEvent(raw);
      parsed = this.opts.reply.parse(raw);
    } catch {
      return; // a malformed message cannot be matched to a caller
    }
    const id = this.opts.idOf(parsed);
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(parsed);
  }

  private onEvent(raw: unknown): void {
    const event = this.opts.event!.schema.parse(raw);
    const p = this.pending.get(this.opts.event!.idOf(event));
    try {
      p?.onEvent?.(event);
    } catch {
      // a listener's failure must not break the channel
    }
  }

  /**
   * Enqueues the job (job id = `id`) and resolves with its reply, or rejects at `deadlineAt`, or when
   * `signal` aborts (then `onAbort` runs, e.g. to tell workers to stop). `onEnqueued` runs when the
   * job is in the queue, or with the error when it could not be added.
   */
  async request(
    id: string,
    job: J,
    signal?: AbortSignal,
    onAbort?: () => void,
    onEnqueued?: (error?: unknown) => void,
    onEvent?: (event: unknown) => void,
  ): Promise<R> {
    await this.start();
    const timeoutMs = Math.max(1, job.deadlineAt - Date.now());
    const reply = new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new TransientError('tool.timeout', `no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer, onEvent });
      signal?.addEventListener(
        'abort',
        () => {
          const p = this.pending.get(id);
          if (!p) return;
          clearTimeout(p.timer);
          this.pending.delete(id);
          onAbort?.();
          reject(new TransientError('tool.timeout', 'the caller cancelled the request'));
        },
        { once: true },
      );
    });
    try {
      await this.queue.add(this.opts.jobName, job, {
        jobId: id,
        attempts: 1,
        removeOnComplete: true,
        removeOnFail: true,
      });
      onEnqueued?.();
    } catch (err) {
      onEnqueued?.(err);
      const p = this.pending.get(id);
      if (p) {
        clearTimeout(p.timer);
        this.pending.delete(id);
      }
      throw new TransientError('queue.unavailable', 'the queue is unavailable', {}, { cause: err });
    }
    return reply;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  async close(): Promise<void> {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new TransientError('queue.unavailable', 'shutting down'));
      this.pending.delete(id);
    }
    await this.queue.close();
    this.subscriber.disconnect();
  }
}
