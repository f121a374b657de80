import {
  jobNames,
  queueNames,
  redisKeys,
  ToolInvokeResult,
  type ToolInvokeJob,
} from '@toolplane/contracts';
import { TransientError } from '@toolplane/errors';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

export interface InvocationClientOptions {
  /** A connection for commands; the client duplicates it for its subscriber. */
  redis: Redis;
  prefix: string;
  /** Unique per edge process: results for this edge arrive on its own channel. */
  edgeId: string;
}

interface Pending {
  resolve: (r: ToolInvokeResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * The edge's side of the queue hop: enqueue a `tool.invoke` job and await its result.
 *
 * Results come back on a pub/sub channel owned by this edge process (`replyTo`), so each edge
 * receives only its own results and the cost per result is one PUBLISH, whatever the number of
 * edges (BullMQ's QueueEvents would fan every completion out to every edge).
 */
export class InvocationClient {
  readonly edgeId: string;
  private readonly queue: Queue;
  private readonly subscriber: Redis;
  private readonly pending = new Map<string, Pending>();
  private readonly channel: string;
  private ready: Promise<void> | undefined;

  constructor(opts: InvocationClientOptions) {
    this.edgeId = opts.edgeId;
    this.queue = new Queue(queueNames.toolInvocations, { connection: opts.redis, prefix: opts.prefix });
    this.subscriber = opts.redis.duplicate();
    this.channel = redisKeys(opts.prefix).results(opts.edgeId);
    this.subscriber.on('message', (_channel: string, message: string) => this.onMessage(message));
  }

  start(): Promise<void> {
    this.ready ??= this.subscriber.subscribe(this.channel).then(() => undefined);
    return this.ready;
  }

  private onMessage(message: string): void {
    let parsed: ToolInvokeResult;
    try {
      parsed = ToolInvokeResult.parse(JSON.parse(message));
    } catch {
      return; // not ours to fail on: a malformed message cannot be matched to a caller
    }
    const p = this.pending.get(parsed.invocationId);
    if (!p) return;
    this.pending.delete(parsed.invocationId);
    clearTimeout(p.timer);
    p.resolve(parsed);
  }

  /** Enqueues the job and resolves with the worker's result, or rejects at `deadlineAt`. */
  async invoke(job: ToolInvokeJob): Promise<ToolInvokeResult> {
    await this.start();
    const timeoutMs = Math.max(1, job.deadlineAt - Date.now());
    const result = new Promise<ToolInvokeResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(job.invocationId);
        reject(new TransientError('tool.timeout', `the tool did not finish within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(job.invocationId, { resolve, reject, timer });
    });
    try {
      await this.queue.add(jobNames.toolInvoke, job, {
        jobId: job.invocationId,
        attempts: 1,
        removeOnComplete: true,
        removeOnFail: true,
      });
    } catch (err) {
      const p = this.pending.get(job.invocationId);
      if (p) {
        clearTimeout(p.timer);
        this.pending.delete(job.invocationId);
      }
      throw new TransientError('queue.unavailable', 'the invocation queue is unavailable', {}, { cause: err });
    }
    return result;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  async close(): Promise<void> {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new TransientError('queue.unavailable', 'the edge is shutting down'));
      this.pending.delete(id);
    }
    await this.queue.close();
    this.subscriber.disconnect();
  }
}
