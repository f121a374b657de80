import { jobNames, queueNames, ToolInvokeResult, type ToolInvokeJob } from '@toolplane/contracts';
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

  constructor(opts: InvocationClientOptions) {
    this.edgeId = opts.edgeId;
    this.rpc = new RequestReplyClient({
      redis: opts.redis,
      prefix: opts.prefix,
      clientId: opts.edgeId,
      queueName: queueNames.toolInvocations,
      jobName: jobNames.toolInvoke,
      reply: ToolInvokeResult,
      idOf: (r) => r.invocationId,
    });
  }

  start(): Promise<void> {
    return this.rpc.start();
  }

  invoke(job: ToolInvokeJob): Promise<ToolInvokeResult> {
    return this.rpc.request(job.invocationId, job);
  }

  get inFlight(): number {
    return this.rpc.inFlight;
  }

  close(): Promise<void> {
    return this.rpc.close();
  }
}
