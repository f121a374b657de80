import {
  jobNames,
  queueNames,
  redisKeys,
  ToolInvokeEvent,
  ToolInvokeResult,
  type ToolInvokeJob,
} from '@toolplane/contracts';
import type { Redis } from 'ioredis';
import { RequestReplyClient } from './reply-channel.ts';

export interface InvocationClientOptions {
  redis: Redis;
  prefix: string;
  /** Unique per edge process: results for this edge arrive on its own channel. */
  edgeId: string;
}

/** The edge's side of the queue hop: enqueue a `tool.invoke` job and await its result. */
export class InvocationClient {
  readonly edgeId: string;
  private readonly rpc: RequestReplyClient<ToolInvokeJob, ToolInvokeResult>;
  private readonly redis: Redis;
  private readonly cancelChannel: string;

  constructor(opts: InvocationClientOptions) {
    this.edgeId = opts.edgeId;
    this.redis = opts.redis;
    this.cancelChannel = redisKeys(opts.prefix).cancel;
    this.rpc = new RequestReplyClient({
      redis: opts.redis,
      prefix: opts.prefix,
      clientId: opts.edgeId,
      queueName: queueNames.toolInvocations,
      jobName: jobNames.toolInvoke,
      reply: ToolInvokeResult,
      idOf: (r) => r.invocationId,
      event: { schema: ToolInvokeEvent, idOf: (e) => (e as ToolInvokeEvent).invocationId },
    });
  }

  start(): Promise<void> {
    return this.rpc.start();
  }

  /**
   * Runs a call; if `signal` aborts (the agent went away), workers are told to stop it. `onEnqueued`
   * runs once the job is in the queue (or could not be put there): the end of the enqueue span.
   * `onEvent` receives the job's progress and log events (the worker sends them only when the job asks).
   */
  invoke(
    job: ToolInvokeJob,
    signal?: AbortSignal,
    onEnqueued?: (error?: unknown) => void,
    onEvent?: (event: ToolInvokeEvent['event']) => void,
  ): Promise<ToolInvokeResult> {
    return this.rpc.request(
      job.invocationId,
      job,
      signal,
      () => {
        void this.redis.publish(this.cancelChannel, job.invocationId).catch(() => undefined);
      },
      onEnqueued,
      onEvent ? (e) => onEvent((e as ToolInvokeEvent).event) : undefined,
    );
  }

  get inFlight(): number {
    return this.rpc.inFlight;
  }

  close(): Promise<void> {
    return this.rpc.close();
  }
}
